package topics

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/backoff"
)

// poisonError marks a failure that no retry can fix: the message can never
// succeed as sent. DeadLetters copies such messages to the dead-letter
// topic; the reply is made from the error inside, as for any error.
type poisonError struct {
	reason string // one of the DeadLetter* reasons
	// outcome, if set, is the metric outcome instead of the error's code.
	outcome string
	err     error
}

func (e *poisonError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *poisonError) Unwrap() error { return e.err }

// deadLetter marks err as poison, for reason.
func deadLetter(reason string, err error) error { return &poisonError{reason: reason, err: err} }

// errAbandoned marks a message that was not handled (shutdown came first):
// it is not committed, so it is delivered again, and not counted.
var errAbandoned = errors.New("not handled before shutdown")

// errExpired marks a request whose requester's deadline passed before it
// ran or before its change was written: it is not applied, gets no reply,
// is committed, and is counted with the outcome "expired".
var errExpired = &handlers.Error{Code: handlers.CodeUnavailable, Message: "the requester's deadline passed", Err: handlers.ErrDeadlinePassed}

// Deadlines drops a request whose deadline (Message.Deadline) has passed
// when it comes to run, and hands the deadline to the use case, which
// checks it again right before its change is written
// (handlers.WithDeadline). A request without one always runs. now is the
// worker's clock.
func Deadlines(now func() time.Time) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (any, error) {
			if m.Deadline.IsZero() {
				return next(ctx, m)
			}
			if !now().Before(m.Deadline) {
				return nil, errExpired
			}
			res, err := next(handlers.WithDeadline(ctx, m.Deadline), m)
			if errors.Is(err, handlers.ErrDeadlinePassed) {
				return nil, fmt.Errorf("%w: %w", errExpired, err)
			}
			return res, err
		}
	}
}

// errShed is the answer to a command refused by Shed: not applied, to be
// sent again (with its Idempotency-Key) shortly.
var errShed = &handlers.Error{Code: handlers.CodeUnavailable, Message: "the service is catching up with earlier changes; retry shortly"}

// Shed refuses every request, before it runs, while behind says the
// service is behind with the work that earlier changes left (for the
// worker, handlers.Relay.Behind). It is for the command topic: a change
// accepted past what the service sustains is answered in time, but leaves
// work that keeps the requests after it slow well after the overload.
// The refusal is an unavailable reply, which the edge answers 503 with
// Retry-After.
func Shed(behind func() bool) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (any, error) {
			if behind() {
				return nil, errShed
			}
			return next(ctx, m)
		}
	}
}

// Recover turns a panic in the handler into an internal error, dead-lettered
// as "panic", so one poisonous message cannot crash the worker.
func Recover(log zerolog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (res any, err error) {
			defer func() {
				if p := recover(); p != nil {
					log.Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).
						Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).
						Msg("handler panicked")
					res, err = nil, deadLetter(DeadLetterPanic, handlers.Errorf(handlers.CodeInternal, "internal error"))
				}
			}()
			return next(ctx, m)
		}
	}
}

// RetryPolicy bounds the retries of transient failures (CodeUnavailable:
// the database is unreachable), with capped exponential backoff.
type RetryPolicy struct {
	// Attempts, including the first, after which the last answer is final
	// (the requester is told, the message committed): for requests, whose
	// caller can send again. 0 means retry for as long as ctx lasts and
	// then leave the message uncommitted: for events, which nobody sends
	// again.
	Attempts int
	Backoff  time.Duration // before the second attempt, doubling after
	Max      time.Duration // cap of one backoff
}

// Retry runs the handler again while it fails with CodeUnavailable, as p
// says. Commands are idempotent (see CommandKey) and sales events are
// keyed by sale, so a retry never applies anything twice.
func Retry(p RetryPolicy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (any, error) {
			wait := backoff.New(p.Backoff, p.Max)
			for attempt := 1; ; attempt++ {
				res, err := next(ctx, m)
				// A request past its deadline stays unavailable: no retry.
				if handlers.ErrorCode(err) != handlers.CodeUnavailable || errors.Is(err, handlers.ErrDeadlinePassed) ||
					(p.Attempts > 0 && attempt >= p.Attempts) {
					return res, err
				}
				// Nobody waits for the answer of a retry past the deadline.
				if !m.Deadline.IsZero() && !time.Now().Before(m.Deadline) {
					return res, err
				}
				if !wait.Wait(ctx) {
					if p.Attempts == 0 {
						return res, fmt.Errorf("%w: %w", errAbandoned, err)
					}
					return res, err
				}
			}
		}
	}
}

// HandlingMetrics count and time the messages of one kind of consumer
// (requests, sales events), by message type and outcome.
type HandlingMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// known says which types become label values: a client cannot blow up
	// the metrics' cardinality with made-up types.
	known func(Type) bool
	// routine is the log level of an expected outcome; warn lists the
	// outcomes logged at warn besides unavailable.
	routine zerolog.Level
	warn    map[string]bool
}

// NewWorkerMetrics registers the metrics of request handling on reg.
func NewWorkerMetrics(reg prometheus.Registerer) *HandlingMetrics {
	m := &HandlingMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cliente_worker_messages_handled_total",
			Help: "Request messages handled, by message type and outcome (ok or an error code).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cliente_worker_message_handling_duration_seconds",
			Help:    "Time to handle one request message, from decode to reply built, by message type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"type"}),
		known:   known,
		routine: zerolog.InfoLevel,
	}
	reg.MustRegister(m.handled, m.duration)
	return m
}

// Observe logs one event per handled message and records its metrics. It
// logs the correlation id, type, outcome and duration, never the payload:
// no DNI or email reaches the logs. Abandoned messages are not counted:
// they come again.
func Observe(log zerolog.Logger, metrics *HandlingMetrics) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (any, error) {
			start := time.Now()
			res, err := next(ctx, m)
			elapsed := time.Since(start)
			if errors.Is(err, errAbandoned) {
				return res, err
			}
			typ := string(m.Type)
			if !metrics.known(m.Type) {
				typ = "unknown"
			}
			outcome := outcomeOf(res, err)
			metrics.handled.WithLabelValues(typ, outcome).Inc()
			metrics.duration.WithLabelValues(typ).Observe(elapsed.Seconds())

			ev := log.WithLevel(metrics.routine)
			switch code := handlers.ErrorCode(err); {
			case errors.Is(err, errExpired):
				// Expected under overload, and many: not a warning each.
			case code == handlers.CodeInternal:
				ev = log.Error().Err(err)
			case code == handlers.CodeUnavailable:
				ev = log.Warn().Err(err)
			case metrics.warn[outcome]:
				ev = log.Warn()
			}
			if !ev.Enabled() {
				return res, err
			}
			if id := m.Routing.CorrelationID; len(id) > 0 {
				ev = ev.Str("correlation_id", FormatCorrelationID(id))
			}
			if f, ok := res.(logFielder); ok {
				ev = f.logFields(ev)
			}
			if err != nil {
				ev = ev.Str("error", handlers.AsError(err).Message)
			}
			ev.Str("type", typ).Str("outcome", outcome).Dur("duration", elapsed).
				Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).
				Msg("message handled")
			return res, err
		}
	}
}

// outcomeExpired counts the requests dropped by Deadlines.
const outcomeExpired = "expired"

// outcomeOf is the metric outcome of a handled message: the poison error's
// own outcome, else the error's code, else the result's outcome, else ok.
func outcomeOf(res any, err error) string {
	var p *poisonError
	switch {
	case errors.As(err, &p) && p.outcome != "":
		return p.outcome
	case errors.Is(err, errExpired):
		return outcomeExpired
	case err != nil:
		return string(handlers.ErrorCode(err))
	}
	if o, ok := res.(interface{ outcome() string }); ok {
		return o.outcome()
	}
	return StatusOK
}

// logFielder is a result that adds identifiers (never personal data) to
// the log event of its message.
type logFielder interface {
	logFields(*zerolog.Event) *zerolog.Event
}

// peekType reads the type of a request body as sent, or "" if it has none.
func peekType(body []byte) Type {
	if len(body) > MaxMessageBytes {
		return ""
	}
	var probe struct {
		Type Type `json:"type"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return ""
	}
	return probe.Type
}

// FormatCorrelationID renders correlation bytes for logs: text ids as they
// are, binary ones (Spring's default 16 bytes) in hex.
func FormatCorrelationID(id []byte) string {
	if len(id) == 0 {
		return ""
	}
	for _, b := range id {
		if b < 0x20 || b >= 0x7f {
			return hex.EncodeToString(id)
		}
	}
	if utf8.Valid(id) {
		return string(id)
	}
	return hex.EncodeToString(id)
}
