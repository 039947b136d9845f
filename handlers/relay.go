package handlers

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jea/cliente/handlers/backoff"
)

// Relay moves events from an outbox to a publisher: woken by every event
// recorded through Outbox(), and at least every Interval for events that
// another process recorded or a failure left behind.
type Relay struct {
	Outbox    Outbox
	Publisher Publisher
	Now       func() time.Time
	// Lease is how long a claimed batch is reserved for this relay; after
	// it, another relay may publish the batch again.
	Lease time.Duration
	// Batch is the most events moved at once.
	Batch int
	// Interval is the longest wait between two rounds.
	Interval time.Duration
	// Observe, if set, is told the outcome of every round (for metrics and
	// logs, which this package does not do).
	Observe func(published int, err error)
	// Registros, if set, is where the relay records what Diferido events
	// left to it, before publishing them (see diferidos.go). A relay
	// without it leaves such events in the outbox, rather than lose their
	// records.
	Registros *Registros
	// BehindAt, if above 0, is how many events one claim holds when the
	// relay is behind (Behind), until a claim holds fewer.
	BehindAt int

	nudge chan struct{}
	// behind is a pointer so that Relay values can be copied (NewRelay).
	behind *atomic.Bool
}

// NewRelay returns r ready to run; every field but Observe is required.
func NewRelay(r Relay) (*Relay, error) {
	if r.Outbox == nil || r.Publisher == nil || r.Now == nil || r.Lease <= 0 || r.Batch <= 0 || r.Interval <= 0 {
		return nil, errors.New("handlers: NewRelay: Outbox, Publisher, Now, Lease, Batch and Interval are required")
	}
	r.nudge = make(chan struct{}, 1)
	r.behind = new(atomic.Bool)
	return &r, nil
}

// Behind says the last claim held at least BehindAt events: changes are
// recorded faster than the relay records and publishes what they leave
// (their audit entries, report notices, idempotency results, events).
// Every change accepted meanwhile adds to that work, which competes with
// the requests answered after it; the worker refuses commands while the
// relay is behind (topics.Shed), so that the system is back to normal
// soon after an overload rather than seconds later.
func (r *Relay) Behind() bool { return r.behind != nil && r.behind.Load() }

// NotifyingOutbox is the relay's outbox that wakes the relay as soon as a
// change records its event, so events go out in milliseconds without
// polling the database often. Give it to the Service.
func (r *Relay) NotifyingOutbox() Outbox { return notifyingOutbox{r.Outbox, r.nudge} }

type notifyingOutbox struct {
	Outbox
	nudge chan struct{}
}

func (o notifyingOutbox) Add(ctx context.Context, e Evento) error {
	err := o.Outbox.Add(ctx, e)
	if err == nil {
		nudge(o.nudge)
	}
	return err
}

// nudge wakes a loop waiting on c, unless a nudge is pending already.
func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run publishes whenever nudged and at least every Interval, backing off
// while rounds fail, until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	runRounds(ctx, r.Interval, 0, r.nudge, func(ctx context.Context) (bool, error) {
		n, err := r.round(ctx)
		// A full batch: more are waiting. Behind: commands are refused
		// until a round shows otherwise, and none will nudge it.
		return n == r.Batch || r.Behind(), err
	})
}

// runRounds runs round whenever nudged (gather later, so that work that
// comes with the nudge's is done in the same round) and at least every
// interval, at once again while it reports more work, backing off while it
// fails, until ctx ends: the loop of the relay and of the report projector.
func runRounds(ctx context.Context, interval, gather time.Duration, nudged <-chan struct{}, round func(context.Context) (more bool, err error)) {
	failing := backoff.New(interval, 30*time.Second)
	for {
		more, err := round(ctx)
		wait := interval
		switch {
		case err != nil && ctx.Err() == nil:
			wait = failing.Next()
		case more:
			wait = 0
			failing.Reset()
		default:
			failing.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-nudged:
			if gather > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(gather):
				}
			}
		case <-time.After(wait):
		}
	}
}

// Flush publishes what is recorded, until the outbox is empty, a round
// fails or ctx ends: at shutdown, so the last changes' events go out now
// rather than at the next start.
func (r *Relay) Flush(ctx context.Context) {
	for ctx.Err() == nil {
		if n, err := r.round(ctx); err != nil || n == 0 {
			return
		}
	}
}

func (r *Relay) round(ctx context.Context) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := r.RunOnce(rctx)
	if r.Observe != nil && (err == nil || ctx.Err() == nil) {
		r.Observe(n, err)
	}
	return n, err
}

// RunOnce publishes one batch and deletes it once published. It returns how
// many events it published. Events of one customer are published in
// version order.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	events, err := r.Outbox.Claim(ctx, r.Now(), r.Lease, r.Batch)
	if err != nil {
		return 0, err
	}
	if r.behind != nil { // nil in a Relay not made by NewRelay
		r.behind.Store(r.BehindAt > 0 && len(events) >= r.BehindAt)
	}
	if len(events) == 0 {
		return 0, nil
	}
	slices.SortStableFunc(events, func(a, b Evento) int {
		return cmp.Or(cmp.Compare(a.Cliente.ID, b.Cliente.ID), cmp.Compare(a.Cliente.Version, b.Cliente.Version))
	})
	if r.Registros != nil {
		if err := r.Registros.registrar(ctx, events, r.Now()); err != nil {
			return 0, err
		}
	} else if slices.ContainsFunc(events, func(e Evento) bool { return e.Diferido }) {
		return 0, errors.New("handlers: the outbox holds events with records to make, and the relay has no Registros")
	}
	if err := r.Publisher.Publish(ctx, publicables(events)); err != nil {
		return 0, err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	// A failed delete only means the batch is published again after its
	// lease: at-least-once, as consumers expect.
	return len(events), r.Outbox.Delete(ctx, ids)
}
