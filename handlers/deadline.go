package handlers

import (
	"context"
	"errors"
	"time"
)

// ErrDeadlinePassed is the cause of the error a command returns when its
// caller's deadline passed before its change was written: nothing was
// applied, and its caller has stopped waiting. Match it with errors.Is.
var ErrDeadlinePassed = errors.New("the caller's deadline passed")

type deadlineKey struct{}

// WithDeadline returns ctx carrying the time by which the caller stops
// waiting for the answer. It is not a context deadline on purpose: a
// command checks it before its first write and then runs to completion,
// because cutting the writes that follow (the audit entry, the event, the
// idempotency record) short would leave a change without them.
func WithDeadline(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, deadlineKey{}, t)
}

// DeadlineOf is the deadline WithDeadline put on ctx, if any.
func DeadlineOf(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(deadlineKey{}).(time.Time)
	return t, ok
}

// checkDeadline fails once the caller's deadline has passed, by the
// service's clock. It is unavailable rather than final: a retry with a
// new deadline may still apply the change.
func (s *Service) checkDeadline(ctx context.Context) error {
	if t, ok := DeadlineOf(ctx); ok && !s.now().Before(t) {
		return Wrap(CodeUnavailable, ErrDeadlinePassed, "the caller's deadline passed before the change was applied")
	}
	return nil
}
