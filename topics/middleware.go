package topics

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
)

// Recover turns a panic in the handler into an internal-error reply, so one
// poisonous message cannot crash the worker.
func Recover(log zerolog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (reply Reply) {
			defer func() {
				if p := recover(); p != nil {
					log.Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).
						Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).
						Msg("handler panicked")
					reply = NewReply(peekType(m.Body), nil, handlers.Errorf(handlers.CodeInternal, "internal error"))
					reply.poison = DeadLetterPanic
				}
			}()
			return next(ctx, m)
		}
	}
}

// RetryPolicy bounds the retries of transient failures.
type RetryPolicy struct {
	Attempts int           // including the first; below 2 means no retry
	Backoff  time.Duration // before the second attempt, doubling after
	Max      time.Duration // cap of one backoff
}

// RetryUnavailable runs the handler again, with capped exponential backoff,
// while it answers CodeUnavailable (the database is unreachable), up to the
// policy's attempts. Commands are idempotent (see CommandKey), so a retry
// never applies one twice. The last answer, "unavailable" included, is
// final: the requester is told, and the message is committed.
func RetryUnavailable(p RetryPolicy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) Reply {
			backoff := p.Backoff
			for attempt := 1; ; attempt++ {
				reply := next(ctx, m)
				if reply.Error == nil || reply.Error.Code != handlers.CodeUnavailable || attempt >= p.Attempts {
					return reply
				}
				select {
				case <-ctx.Done():
					return reply
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, p.Max)
			}
		}
	}
}

// peekType reads the type of a request body, or "" if it has none known.
func peekType(body []byte) Type {
	var probe struct {
		Type Type `json:"type"`
	}
	if json.Unmarshal(body, &probe) != nil || !probe.Type.Known() {
		return ""
	}
	return probe.Type
}

// WorkerMetrics are the worker's message-handling metrics.
type WorkerMetrics struct {
	handled     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
}

// NewWorkerMetrics registers the worker metrics on reg.
func NewWorkerMetrics(reg prometheus.Registerer) *WorkerMetrics {
	m := &WorkerMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cliente_worker_messages_handled_total",
			Help: "Request messages handled, by message type and outcome (ok or an error code).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cliente_worker_message_handling_duration_seconds",
			Help:    "Time to handle one request message, from decode to reply built, by message type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"type"}),
	}
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cliente_worker_dead_letters_total",
		Help: "Poison messages copied to the dead-letter topic, by reason.",
	}, []string{"reason"})
	reg.MustRegister(m.handled, m.duration, m.deadLetters)
	return m
}

// Observe logs one event per handled message and records its metrics. It
// logs the correlation id, type, outcome and duration, never the payload:
// no DNI or email reaches the logs.
func Observe(log zerolog.Logger, metrics *WorkerMetrics) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) Reply {
			start := time.Now()
			reply := next(ctx, m)
			elapsed := time.Since(start)

			// Only known types become label values: a client cannot blow up
			// the metric's cardinality with made-up types.
			typ := string(reply.Type)
			if !reply.Type.Known() {
				typ = "unknown"
			}
			outcome := StatusOK
			if reply.Error != nil {
				outcome = string(reply.Error.Code)
			}
			metrics.handled.WithLabelValues(typ, outcome).Inc()
			metrics.duration.WithLabelValues(typ).Observe(elapsed.Seconds())

			ev := log.Info()
			switch handlers.Code(outcome) {
			case handlers.CodeInternal:
				ev = log.Error().Err(reply.cause)
			case handlers.CodeUnavailable:
				ev = log.Warn().Err(reply.cause)
			}
			ev.Str("correlation_id", FormatCorrelationID(m.Routing.CorrelationID)).
				Str("type", typ).Str("outcome", outcome).
				Dur("duration", elapsed).
				Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).
				Msg("message handled")
			return reply
		}
	}
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
