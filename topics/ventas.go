package topics

import (
	"context"
	"encoding/json"
	"strconv"

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
// replied. Events that can never apply (malformed, unknown customer, a sale
// id reused for another sale, an internal failure) are marked for the
// dead-letter topic, from which they can be replayed once fixed.
func SalesEvents(svc SalesService) Handler {
	return func(ctx context.Context, m Message) (any, error) {
		ev, reason, err := decodeSalesEvent(m.Body)
		if err != nil {
			return nil, &poisonError{reason: reason, outcome: OutcomeInvalid, err: err}
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
		out := salesResult{res}
		switch code := handlers.ErrorCode(err); {
		case code == handlers.CodeInvalid:
			return out, &poisonError{reason: DeadLetterInvalid, outcome: OutcomeInvalid, err: err}
		case code == handlers.CodeInternal:
			// Not transient, and an event must not be lost: park it.
			return out, deadLetter(DeadLetterFailed, err)
		case err != nil:
			return out, err
		case res.Resultado == handlers.VentaRechazada && res.Motivo == handlers.MotivoConflicto:
			return out, &poisonError{reason: DeadLetterConflictingSale, outcome: OutcomeConflictingSale,
				err: handlers.Errorf(handlers.CodeConflict, "sale %s is already registered as a different sale", res.VentaID)}
		case res.Resultado == handlers.VentaRechazada:
			return out, &poisonError{reason: DeadLetterUnknownCustomer, outcome: OutcomeUnknownCustomer,
				err: handlers.Errorf(handlers.CodeNotFound, "customer %d does not exist", res.ClienteID)}
		}
		return out, nil
	}
}

// salesResult is a sales event's result as the middlewares see it.
type salesResult struct{ handlers.ResultadoVenta }

func (r salesResult) outcome() string {
	switch {
	case r.Motivo == handlers.MotivoInactivo:
		return OutcomeInactiveCustomer
	case r.Resultado == handlers.VentaDuplicada:
		return OutcomeDuplicate
	}
	return OutcomeApplied
}

// logFields names the sale and customer (business identifiers, not
// personal data).
func (r salesResult) logFields(ev *zerolog.Event) *zerolog.Event {
	if r.ClienteID == 0 {
		return ev
	}
	return ev.Str("venta_id", r.VentaID).Str("cliente_id", strconv.FormatInt(r.ClienteID, 10))
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

// NewSalesMetrics registers the metrics of sales event handling on reg.
// Expected outcomes are logged at debug; unknown and inactive customers,
// conflicting sales and invalid events at warn.
func NewSalesMetrics(reg prometheus.Registerer) *HandlingMetrics {
	m := &HandlingMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cliente_worker_sales_events_total",
			Help: "Sales events handled, by event type and outcome (applied, duplicate, inactive_customer, unknown_customer, conflicting_sale, invalid, unavailable, internal).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cliente_worker_sales_event_duration_seconds",
			Help:    "Time to apply one sales event to the purchase history, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type"}),
		known:   func(t Type) bool { return t == TypeVentaRegistrada || t == TypeVentaAnulada },
		routine: zerolog.DebugLevel,
		warn: map[string]bool{OutcomeUnknownCustomer: true, OutcomeInactiveCustomer: true,
			OutcomeConflictingSale: true, OutcomeInvalid: true},
	}
	reg.MustRegister(m.handled, m.duration)
	return m
}
