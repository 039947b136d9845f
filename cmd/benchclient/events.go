package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

// salesLoad is a stream of sales events over the seeded customers and the
// totals it must leave behind.
type salesLoad struct {
	events                         []topics.SalesEvent
	sales, cancellations, repeated int
	want                           map[int64]expected // by customer id
	lastCustomer                   int64
}

type expected struct {
	compras, anuladas int
	minor             int64 // PEN
}

// newSalesLoad makes n events: sales of 1.00 to 500.00 PEN, a cancellation
// of an earlier sale of the same customer every tenth event (some sent
// before their sale, as streams reorder), and every twentieth a sale sent
// again, as a producer retrying would.
func newSalesLoad(customers []handlers.Cliente, runID string, n int, now time.Time) salesLoad {
	l := salesLoad{want: map[int64]expected{}}
	fecha := now.Add(-time.Hour).UTC().Format(time.RFC3339)
	moneda, items := "PEN", 1
	type sale struct {
		id     string
		ev     topics.SalesEvent
		minor  int64
		cancel bool
	}
	var byCustomer = map[int64][]*sale{}
	for i := 0; len(l.events) < n; i++ {
		c := customers[i%len(customers)]
		past := byCustomer[c.ID]
		switch {
		case i%10 == 9 && len(past) > 0 && !past[0].cancel:
			s := past[0]
			s.cancel = true
			l.events = append(l.events, topics.VentaAnulada(handlers.DatosAnulacion{VentaID: &s.id, ClienteID: &c.ID, Fecha: &fecha}))
			l.cancellations++
		case i%20 == 19 && len(past) > 0:
			l.events = append(l.events, past[len(past)-1].ev)
			l.repeated++
		case i%37 == 36: // cancelled before it is sold
			id := fmt.Sprintf("bench-%s-%d", runID, i)
			minor := int64(100 + i%50_000)
			total := json.Number(handlers.FormatMinor(minor, moneda))
			l.events = append(l.events, topics.VentaAnulada(handlers.DatosAnulacion{VentaID: &id, ClienteID: &c.ID, Fecha: &fecha}))
			if len(l.events) < n {
				ev := topics.VentaRegistrada(handlers.DatosVenta{VentaID: &id, ClienteID: &c.ID, Fecha: &fecha, Total: &total, Moneda: &moneda, Items: &items})
				l.events = append(l.events, ev)
				byCustomer[c.ID] = append(past, &sale{id: id, ev: ev, minor: minor, cancel: true})
				l.sales++
			}
			l.cancellations++
		default:
			id := fmt.Sprintf("bench-%s-%d", runID, i)
			minor := int64(100 + i%50_000)
			total := json.Number(handlers.FormatMinor(minor, moneda))
			ev := topics.VentaRegistrada(handlers.DatosVenta{VentaID: &id, ClienteID: &c.ID, Fecha: &fecha, Total: &total, Moneda: &moneda, Items: &items})
			l.events = append(l.events, ev)
			byCustomer[c.ID] = append(past, &sale{id: id, ev: ev, minor: minor})
			l.sales++
		}
		l.lastCustomer = c.ID
	}
	for id, sales := range byCustomer {
		var e expected
		for _, s := range sales {
			if s.cancel {
				e.anuladas++
				continue
			}
			e.compras++
			e.minor += s.minor
		}
		l.want[id] = e
	}
	return l
}

// matches reports whether r holds exactly the totals e expects.
func (e expected) matches(r handlers.Resumen) bool {
	if r.Compras != e.compras || r.Anuladas != e.anuladas {
		return false
	}
	if e.compras == 0 {
		return len(r.PorMoneda) == 0
	}
	return len(r.PorMoneda) == 1 && r.PorMoneda[0].TotalGastado == handlers.FormatMinor(e.minor, "PEN")
}

// eventsResult is what the sales events phase measured.
type eventsResult struct {
	written, applied time.Duration
}

// applySales writes the load to the sales topic and waits until every
// customer's totals are exactly what it expects, polling through the
// client. The time to apply runs from the first write to the moment the
// last customer was seen right, so it is an upper bound, by the length of
// one poll round.
func applySales(ctx context.Context, cl *client.Client, w *topics.SalesEventWriter, l salesLoad, bound time.Duration) (eventsResult, error) {
	var res eventsResult
	start := time.Now()
	const chunk = 500
	for i := 0; i < len(l.events); i += chunk {
		if err := w.Write(ctx, l.events[i:min(i+chunk, len(l.events))]...); err != nil {
			return res, fmt.Errorf("writing sales events: %w", err)
		}
	}
	res.written = time.Since(start)

	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	pending := map[int64]expected{}
	for id, e := range l.want {
		pending[id] = e
	}
	var lastSeen handlers.Resumen
	// The customer of the last event is checked alone until it is right:
	// sweeping every customer from the start would load the worker with
	// queries while it applies the events being timed.
	for first := true; len(pending) > 0; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return res, fmt.Errorf("%d customers' totals still wrong after %v, e.g. %+v", len(pending), bound, lastSeen)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if e, ok := pending[l.lastCustomer]; ok {
			r, err := cl.Resumen(ctx, l.lastCustomer)
			if err != nil {
				return res, err
			}
			if lastSeen = r; !e.matches(r) {
				continue
			}
		}
		for id, e := range pending {
			r, err := cl.Resumen(ctx, id)
			if err != nil {
				return res, err
			}
			if lastSeen = r; e.matches(r) {
				delete(pending, id)
			}
		}
	}
	res.applied = time.Since(start)
	return res, nil
}

func printEvents(w io.Writer, l salesLoad, r eventsResult) {
	perSecond := float64(len(l.events)) / r.applied.Seconds()
	fmt.Fprintf(w, "\nsales events  %d events (%d sales, %d cancellations, %d repeated) over %d customers\n",
		len(l.events), l.sales, l.cancellations, l.repeated, len(l.want))
	fmt.Fprintf(w, "  written in %v; applied, with every customer's totals verified, in %v: %s events/s\n",
		r.written.Round(time.Millisecond), r.applied.Round(time.Millisecond), strconv.FormatFloat(perSecond, 'f', 0, 64))
}
