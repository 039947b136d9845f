package topics

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

func TestRetryUnavailable(t *testing.T) {
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
			h := RetryUnavailable(RetryPolicy{Attempts: tc.attempts, Backoff: time.Millisecond, Max: 4 * time.Millisecond})(
				func(ctx context.Context, m Message) Reply {
					calls++
					if calls <= tc.failures {
						return NewReply(TypeObtener, nil, handlers.Errorf(handlers.CodeUnavailable, "db down"))
					}
					return NewReply(TypeObtener, handlers.Cliente{ID: 1}, nil)
				})
			r := h(context.Background(), Message{})
			if calls != tc.wantCalls || handlers.ErrorCode(r.Err()) != tc.wantCode {
				t.Fatalf("calls %d, code %q; want %d, %q", calls, handlers.ErrorCode(r.Err()), tc.wantCalls, tc.wantCode)
			}
		})
	}
	// Other errors are final at once.
	calls := 0
	RetryUnavailable(RetryPolicy{Attempts: 5, Backoff: time.Millisecond, Max: time.Millisecond})(
		func(context.Context, Message) Reply {
			calls++
			return NewReply(TypeCrear, nil, handlers.Conflict("dni"))
		})(context.Background(), Message{})
	if calls != 1 {
		t.Fatalf("a conflict was retried %d times", calls-1)
	}
}
