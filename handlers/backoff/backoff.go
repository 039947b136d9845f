// Package backoff is the one retry pacing of the service: capped
// exponential backoff over github.com/cenkalti/backoff, with a wait that
// ends with its context. Every retry loop (consumers, the requester, the
// outbox relay, connecting to the database) uses it.
package backoff

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff paces the attempts of one retry loop. Not safe for concurrent
// use: each loop has its own.
type Backoff struct {
	b backoff.ExponentialBackOff
}

// New returns a Backoff whose first wait is initial, doubling up to max.
// There is no jitter: every loop that uses it retries one resource of its
// own, so there is no herd to spread.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{b: backoff.ExponentialBackOff{InitialInterval: initial, MaxInterval: max, Multiplier: 2}}
}

// Next returns the next wait and doubles the one after it.
func (b *Backoff) Next() time.Duration { return b.b.NextBackOff() }

// Wait sleeps for the next wait. It returns false, early, if ctx ends.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reset starts over from the initial wait, after a success.
func (b *Backoff) Reset() { b.b.Reset() }
