package topics

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
)

// SalesService is what the sales events consumer needs from the use cases;
// *handlers.Service implements it.
type SalesService interface {
	RegistrarVenta(ctx context.Context, d handlers.DatosVenta) (handlers.ResultadoVenta, error)
	AnularVenta(ctx context.Context, d handlers.DatosAnulacion) (handlers.ResultadoVenta, error)
}

var _ SalesService = (*handlers.Service)(nil)

// Outcomes of a sales event, the label values of the sales metrics.
const (
	OutcomeApplied          = "applied"
	OutcomeDuplicate        = "duplicate"
	OutcomeInactiveCustomer = "inactive_customer" // attached, and reported
	OutcomeUnknownCustomer  = "unknown_customer"  // not attached
	OutcomeConflictingSale  = "conflicting_sale"  // not attached
	OutcomeInvalid          = "invalid"
)

// decodeSalesEvent parses a sales event envelope, saying which dead-letter
// reason a failure is; the payload is decoded by its type.
func decodeSalesEvent(body []byte) (Request, string, error) {
	return decodeEnvelope(body, "event", func(t Type) bool { return t == TypeVentaRegistrada || t == TypeVentaAnulada })
}

// SalesEvents applies each sales event to the purchase history. Nothing is
// replied; the returned Reply carries the outcome for metrics and logs, and
// marks events that can never apply (malformed, unknown customer, a sale id
// reused for another sale) for the dead-letter topic, from which they can
// be replayed once fixed.
func SalesEvents(svc SalesService) Handler {
	return func(ctx context.Context, m Message) Reply {
		ev, reason, err := decodeSalesEvent(m.Body)
		if err != nil {
			reply := NewReply(ev.Type, nil, err)
			reply.poison, reply.outcome = reason, OutcomeInvalid
			return reply
		}
		var res handlers.ResultadoVenta
		if ev.Type == TypeVentaRegistrada {
			var d handlers.DatosVenta
			if err = DecodeData(ev, &d); err == nil {
				res, err = svc.RegistrarVenta(ctx, d)
			}
		} else {
			var d handlers.DatosAnulacion
			if err = DecodeData(ev, &d); err == nil {
				res, err = svc.AnularVenta(ctx, d)
			}
		}
		reply := NewReply(ev.Type, res, err)
		switch code := handlers.ErrorCode(err); {
		case code == handlers.CodeInvalid:
			reply.poison, reply.outcome = DeadLetterInvalid, OutcomeInvalid
		case code == handlers.CodeInternal:
			// Not transient, and an event must not be lost: park it.
			reply.poison, reply.outcome = DeadLetterFailed, string(code)
		case err != nil:
			reply.outcome = string(code)
		case res.Resultado == handlers.VentaRechazada && res.Motivo == handlers.MotivoConflicto:
			reply.poison, reply.outcome = DeadLetterConflictingSale, OutcomeConflictingSale
		case res.Resultado == handlers.VentaRechazada:
			reply.poison, reply.outcome = DeadLetterUnknownCustomer, OutcomeUnknownCustomer
		case res.Motivo == handlers.MotivoInactivo:
			reply.outcome = OutcomeInactiveCustomer
		case res.Resultado == handlers.VentaDuplicada:
			reply.outcome = OutcomeDuplicate
		default:
			reply.outcome = OutcomeApplied
		}
		return reply
	}
}

// SalesEventLane orders sales events by the customer they name, whatever
// key the producer gave them, so that one customer's events are applied one
// at a time in this process. Events without a readable customer id fall
// back to the record key.
func SalesEventLane(key, body []byte) []byte {
	var probe struct {
		Data struct {
			ClienteID json.Number `json:"clienteId"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.Data.ClienteID == "" {
		return key
	}
	return []byte(probe.Data.ClienteID.String())
}

// RetryUntilDone runs the handler again while it answers CodeUnavailable,
// with capped exponential backoff, for as long as ctx lasts. It is for
// events: unlike a request, whose caller can resend, an event given up is
// lost. If ctx ends first the message is left uncommitted, to be delivered
// again.
func RetryUntilDone(backoff, maxBackoff time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) Reply {
			wait := backoff
			for {
				reply := next(ctx, m)
				if reply.Error == nil || reply.Error.Code != handlers.CodeUnavailable {
					return reply
				}
				select {
				case <-ctx.Done():
					reply.abandon = true
					return reply
				case <-time.After(wait):
				}
				wait = min(wait*2, maxBackoff)
			}
		}
	}
}

// SalesMetrics count sales events by outcome.
type SalesMetrics struct {
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewSalesMetrics registers the sales event metrics on reg.
func NewSalesMetrics(reg prometheus.Registerer) *SalesMetrics {
	m := &SalesMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cliente_worker_sales_events_total",
			Help: "Sales events handled, by event type and outcome (applied, duplicate, inactive_customer, unknown_customer, conflicting_sale, invalid, unavailable, internal).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cliente_worker_sales_event_duration_seconds",
			Help:    "Time to apply one sales event to the purchase history, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type"}),
	}
	reg.MustRegister(m.events, m.duration)
	return m
}

// ObserveSales logs and counts each sales event. Unknown and inactive
// customers and conflicting sales are logged at warn, with the sale and
// customer ids (business identifiers, not personal data).
func ObserveSales(log zerolog.Logger, metrics *SalesMetrics) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) Reply {
			start := time.Now()
			reply := next(ctx, m)
			elapsed := time.Since(start)
			typ := string(reply.Type)
			if reply.Type != TypeVentaRegistrada && reply.Type != TypeVentaAnulada {
				typ = "unknown"
			}
			if reply.abandon {
				return reply // not handled: it will come again
			}
			metrics.events.WithLabelValues(typ, reply.outcome).Inc()
			metrics.duration.WithLabelValues(typ).Observe(elapsed.Seconds())

			ev := log.Debug()
			switch reply.outcome {
			case OutcomeUnknownCustomer, OutcomeInactiveCustomer, OutcomeConflictingSale, OutcomeInvalid:
				ev = log.Warn()
			case string(handlers.CodeInternal), string(handlers.CodeUnavailable):
				ev = log.Error().Err(reply.cause)
			}
			ev = ev.Str("type", typ).Str("outcome", reply.outcome).Dur("duration", elapsed).
				Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset)
			var res handlers.ResultadoVenta
			// Decoding the ids only for an event that is logged keeps it off
			// the path of every applied sale (logged at debug).
			if ev.Enabled() && reply.Data != nil && json.Unmarshal(reply.Data, &res) == nil && res.ClienteID != 0 {
				ev = ev.Str("venta_id", res.VentaID).Str("cliente_id", strconv.FormatInt(res.ClienteID, 10))
			}
			if reply.Error != nil {
				ev = ev.Str("error", reply.Error.Message)
			}
			ev.Msg("sales event handled")
			return reply
		}
	}
}
