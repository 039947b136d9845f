package httpapi

import (
	"net/http"

	"github.com/jea/cliente/handlers"
)

// retryAfterSeconds is what a request refused for overload is told to
// wait: long enough for a burst to pass, short against REQUEST_TIMEOUT.
const retryAfterSeconds = "1"

// inFlight bounds how many requests the edge serves at once. Beyond the
// bound a request is answered 503 at once, with Retry-After, instead of
// queueing behind the others into a 504 whose effect would be unknown.
type inFlight chan struct{}

func newInFlight(n int) inFlight {
	if n <= 0 {
		return nil // unbounded
	}
	return make(inFlight, n)
}

func (l inFlight) wrap(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case l <- struct{}{}:
			defer func() { <-l }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeProblem(w, newProblem(r, string(handlers.CodeUnavailable),
				"the edge is serving as many requests as it may; retry after a second", nil))
		}
	})
}
