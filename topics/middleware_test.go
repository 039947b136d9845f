package topics

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

func TestRetryBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int // unavailable answers before success
		attempts  int
		wantCalls int
		wantCode  handlers.Code
	}{
		{"recovers", 2, 4, 3, ""},
		{"gives up", 10, 4, 4, handlers.CodeUnavailable},
		{"no retry configured", 1, 1, 1, handlers.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			h := Retry(RetryPolicy{Attempts: tc.attempts, Backoff: time.Millisecond, Max: 4 * time.Millisecond})(
				func(ctx context.Context, m Message) (any, error) {
					calls++
					if calls <= tc.failures {
						return nil, handlers.Errorf(handlers.CodeUnavailable, "db down")
					}
					return handlers.Cliente{ID: 1}, nil
				})
			_, err := h(context.Background(), Message{})
			if calls != tc.wantCalls || handlers.ErrorCode(err) != tc.wantCode {
				t.Fatalf("calls %d, code %q; want %d, %q", calls, handlers.ErrorCode(err), tc.wantCalls, tc.wantCode)
			}
		})
	}
	// Other errors are final at once.
	calls := 0
	Retry(RetryPolicy{Attempts: 5, Backoff: time.Millisecond, Max: time.Millisecond})(
		func(context.Context, Message) (any, error) {
			calls++
			return nil, handlers.Conflict("dni")
		})(context.Background(), Message{})
	if calls != 1 {
		t.Fatalf("a conflict was retried %d times", calls-1)
	}
}

// Retries of an unavailable database stop at the request's deadline:
// nobody waits for the answer after it.
func TestRetryStopsAtTheDeadline(t *testing.T) {
	calls := 0
	h := Retry(RetryPolicy{Attempts: 100, Backoff: 10 * time.Millisecond, Max: 10 * time.Millisecond})(
		func(context.Context, Message) (any, error) {
			calls++
			return nil, handlers.Errorf(handlers.CodeUnavailable, "db down")
		})
	start := time.Now()
	_, err := h(context.Background(), Message{Deadline: start.Add(100 * time.Millisecond)})
	if handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond || calls >= 100 {
		t.Fatalf("%d calls in %v: retried past the deadline", calls, elapsed)
	}
}

// A command refused by Shed does not run and is answered unavailable;
// once the service caught up, commands run again.
func TestShedRefusesWhileBehind(t *testing.T) {
	behind := true
	calls := 0
	h := Shed(func() bool { return behind })(func(context.Context, Message) (any, error) {
		calls++
		return handlers.Cliente{ID: 1}, nil
	})
	if _, err := h(context.Background(), Message{}); handlers.ErrorCode(err) != handlers.CodeUnavailable || calls != 0 {
		t.Fatalf("behind: code %q, %d calls; want unavailable and no call", handlers.ErrorCode(err), calls)
	}
	behind = false
	if _, err := h(context.Background(), Message{}); err != nil || calls != 1 {
		t.Fatalf("caught up: %v, %d calls; want the command run", err, calls)
	}
}
