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
				}
			}()
			return next(ctx, m)
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
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	reg.MustRegister(m.handled, m.duration)
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
