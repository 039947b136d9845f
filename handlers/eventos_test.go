package handlers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

type eventsFixture struct {
	svc    *handlers.Service
	store  *memstore.Store
	outbox *memstore.Outbox
}

func newEvents(outbox func(*memstore.Outbox) handlers.Outbox) *eventsFixture {
	f := &eventsFixture{store: memstore.New(), outbox: memstore.NewOutbox()}
	var o handlers.Outbox = f.outbox
	if outbox != nil {
		o = outbox(f.outbox)
	}
	f.svc = memstore.Service(handlers.Deps{Store: f.store, Now: func() time.Time { return clock }, Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour, Outbox: o})
	return f
}

// pending lists the recorded events as "type id" strings.
func (f *eventsFixture) pending() string {
	var out []string
	for _, e := range f.outbox.Pending() {
		out = append(out, e.Tipo+" "+e.ID)
	}
	return strings.Join(out, ",")
}

func TestEveryChangeRecordsItsEvent(t *testing.T) {
	ctx := context.Background()
	f := newEvents(nil)
	c, err := f.svc.Crear(ctx, valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	id := c.ID
	on, off := ptr(true), ptr(false)
	withActivo := func(b *bool) handlers.Datos { d := valid(); d.Activo = b; return d }
	steps := []func() error{
		func() error { _, err := f.svc.Actualizar(ctx, id, valid(), key("u1")); return err },
		func() error { _, err := f.svc.Eliminar(ctx, id, key("d1")); return err },
		func() error { _, err := f.svc.Eliminar(ctx, id, key("d2")); return err }, // no change, no event
		func() error { _, err := f.svc.Actualizar(ctx, id, withActivo(on), key("u2")); return err },
		func() error { _, err := f.svc.Actualizar(ctx, id, withActivo(off), key("u3")); return err },
		func() error { _, err := f.svc.Actualizar(ctx, id, withActivo(off), key("u4")); return err }, // data rewritten while inactive
		func() error { _, err := f.svc.Actualizar(ctx, id, valid(), key("u1")); return err },         // replayed: nothing new
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// Failed commands change nothing and record nothing.
	if _, err := f.svc.Crear(ctx, valid(), key("c2")); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := f.svc.Actualizar(ctx, id, valid(), handlers.Cambio{IdempotencyKey: "u5", Version: ptr(int64(1))}); handlers.ErrorCode(err) != handlers.CodePrecondition {
		t.Fatalf("stale update: %v", err)
	}
	want := fmt.Sprintf("registrado %[1]d-1,actualizado %[1]d-2,desactivado %[1]d-3,reactivado %[1]d-4,desactivado %[1]d-5,actualizado %[1]d-6", id)
	if got := f.pending(); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	last := f.outbox.Pending()[5]
	if last.Cliente.Version != 6 || last.Cliente.Activo || last.Cliente.Email != "ana@example.pe" || !last.Registrado.Equal(clock.Truncate(time.Millisecond)) {
		t.Fatalf("last event %+v", last)
	}
}

// failAddOnce loses the first event, as a crash right after the change
// would.
type failAddOnce struct {
	handlers.Outbox
	failed bool
}

func (f *failAddOnce) Add(ctx context.Context, e handlers.Evento) error {
	if !f.failed {
		f.failed = true
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return f.Outbox.Add(ctx, e)
}

func TestCrashBetweenChangeAndEventLosesNoEvent(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(f *eventsFixture, id int64) (handlers.Cliente, error)
		want string
	}{
		{"crear", nil, "registrado %d-1"},
		{"actualizar", func(f *eventsFixture, id int64) (handlers.Cliente, error) {
			d := valid()
			d.Nombre = ptr("Ana María")
			return f.svc.Actualizar(ctx, id, d, key("k"))
		}, "actualizado %d-2"},
		{"eliminar", func(f *eventsFixture, id int64) (handlers.Cliente, error) { return f.svc.Eliminar(ctx, id, key("k")) }, "desactivado %d-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail := &failAddOnce{}
			f := newEvents(func(o *memstore.Outbox) handlers.Outbox { fail.Outbox = o; return fail })
			run := tc.run
			if run == nil {
				run = func(f *eventsFixture, _ int64) (handlers.Cliente, error) { return f.svc.Crear(ctx, valid(), key("k")) }
			} else {
				fail.failed = true // the create goes through
				c, err := f.svc.Crear(ctx, valid(), key("c"))
				if err != nil {
					t.Fatal(err)
				}
				fail.failed = false
				f.outbox.Delete(ctx, []string{fmt.Sprintf("%d-1", c.ID)})
			}
			if _, err := run(f, 1); handlers.ErrorCode(err) != handlers.CodeUnavailable {
				t.Fatalf("first try: %v, want the crash", err)
			}
			if f.pending() != "" {
				t.Fatalf("events after the crash: %s", f.pending())
			}
			// The redelivered command finds its change applied and records
			// the event it missed, once; a third delivery adds nothing.
			first, err := run(f, 1)
			if err != nil {
				t.Fatal(err)
			}
			again, err := run(f, 1)
			if err != nil || again != first {
				t.Fatalf("third delivery: %+v, %v; want %+v", again, err, first)
			}
			if got, want := f.pending(), fmt.Sprintf(tc.want, first.ID); got != want {
				t.Fatalf("events %q, want %q", got, want)
			}
			if cur, _ := f.store.Get(ctx, first.ID); cur.Version != first.Version {
				t.Fatalf("the change was applied twice: %+v", cur)
			}
		})
	}
}

type recordingPublisher struct {
	fail      bool
	published []string
}

func (p *recordingPublisher) Publish(ctx context.Context, events []handlers.Evento) error {
	if p.fail {
		return handlers.Errorf(handlers.CodeUnavailable, "broker down")
	}
	for _, e := range events {
		p.published = append(p.published, e.ID)
	}
	return nil
}

func TestRelay(t *testing.T) {
	ctx := context.Background()
	o := memstore.NewOutbox()
	now := clock
	// Recorded out of version order for customer 7 (two relays' work
	// interleaved); published in version order per customer.
	for _, e := range []struct {
		id, version int64
	}{{7, 2}, {8, 1}, {7, 1}, {7, 3}} {
		c := handlers.Cliente{ID: e.id, Version: e.version, Cambio: handlers.CambioActualizado}
		if err := o.Add(ctx, handlers.EventoDe(c, now)); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recordingPublisher{fail: true}
	r := handlers.Relay{Outbox: o, Publisher: pub, Now: func() time.Time { return now }, Lease: time.Minute, Batch: 3}
	if n, err := r.RunOnce(ctx); err == nil || n != 0 || len(o.Pending()) != 4 {
		t.Fatalf("broker down: %d, %v, %d left; want an error and every event kept", n, err, len(o.Pending()))
	}
	// The failed batch (customer 7's three) is leased: the next round takes
	// the other customer's event only, and the batch comes back, in
	// version order, when its lease ends.
	pub.fail = false
	if n, err := r.RunOnce(ctx); err != nil || n != 1 || !slices.Equal(pub.published, []string{"8-1"}) {
		t.Fatalf("within the lease: %d, %v, %v", n, err, pub.published)
	}
	now = now.Add(2 * time.Minute)
	if n, err := r.RunOnce(ctx); err != nil || n != 3 {
		t.Fatalf("after the lease: %d, %v", n, err)
	}
	if want := []string{"8-1", "7-1", "7-2", "7-3"}; !slices.Equal(pub.published, want) || len(o.Pending()) != 0 {
		t.Fatalf("published %v, want %v; %d left", pub.published, want, len(o.Pending()))
	}
	if n, err := r.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("empty outbox: %d, %v", n, err)
	}
}

// The relay is behind while a claim holds BehindAt events or more, and
// catches up with the first claim that holds fewer.
func TestRelayBehind(t *testing.T) {
	ctx := context.Background()
	o := memstore.NewOutbox()
	next := int64(0)
	add := func(n int) {
		for range n {
			next++
			if err := o.Add(ctx, handlers.EventoDe(handlers.Cliente{ID: next, Version: 1, Cambio: handlers.CambioRegistrado}, clock)); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := handlers.NewRelay(handlers.Relay{Outbox: o, Publisher: &recordingPublisher{}, Now: func() time.Time { return clock },
		Lease: time.Minute, Batch: 10, BehindAt: 4, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		recorded   int
		wantBehind bool
	}{
		{3, false},
		{4, true},
		{12, true}, // a claim of 10 (Batch), 2 left
		{0, false}, // those 2
		{5, true},
		{0, false}, // nothing left
	} {
		add(tc.recorded)
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if r.Behind() != tc.wantBehind {
			t.Fatalf("after %d events recorded: behind %v, want %v", tc.recorded, r.Behind(), tc.wantBehind)
		}
	}
	// A relay without BehindAt is never behind.
	add(20)
	r2, _ := handlers.NewRelay(handlers.Relay{Outbox: o, Publisher: &recordingPublisher{}, Now: func() time.Time { return clock },
		Lease: time.Minute, Batch: 10, Interval: time.Second})
	if _, err := r2.RunOnce(ctx); err != nil || r2.Behind() {
		t.Fatalf("without BehindAt: %v, behind %v", err, r2.Behind())
	}
}

// A relay that fell behind checks again at once, not at its next
// Interval: no change will nudge it while commands are refused.
func TestRelayBehindRunsAgainAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := memstore.NewOutbox()
	for i := range int64(5) {
		if err := o.Add(ctx, handlers.EventoDe(handlers.Cliente{ID: i + 1, Version: 1, Cambio: handlers.CambioRegistrado}, clock)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := handlers.NewRelay(handlers.Relay{Outbox: o, Publisher: &recordingPublisher{}, Now: func() time.Time { return clock },
		Lease: time.Minute, Batch: 10, BehindAt: 4, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Its first round claims all 5 (behind); the next finds none.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for r.Behind() || len(o.Pending()) > 0 {
		select {
		case <-ctx.Done():
			t.Fatal("still behind after 10 s with an empty outbox: the relay waited for its Interval")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCambioDeEstado(t *testing.T) {
	for _, tc := range []struct {
		antes, despues bool
		want           string
	}{
		{true, false, handlers.CambioDesactivado}, {false, true, handlers.CambioReactivado},
		{true, true, handlers.CambioActualizado}, {false, false, handlers.CambioActualizado},
	} {
		if got := handlers.CambioDeEstado(tc.antes, tc.despues); got != tc.want {
			t.Errorf("CambioDeEstado(%v, %v) = %q, want %q", tc.antes, tc.despues, got, tc.want)
		}
	}
}
