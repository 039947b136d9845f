package main

// End-to-end tests of purchase history and customer events: sales events
// go to the broker as the sales service would send them, the worker
// applies them to MongoDB, and the history and totals come back through
// the HTTP edge; customer changes made over HTTP come out on the customer
// events topic.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

func salesWriter(t *testing.T) *topics.SalesEventWriter {
	w := topics.NewSalesEventWriter(cluster, stackValue(t, "TOPIC_SALES_EVENTS"))
	t.Cleanup(func() { w.Close() })
	return w
}

func sale(ventaID string, clienteID int64, fecha time.Time, total, moneda string, items int) topics.SalesEvent {
	f := fecha.UTC().Format(time.RFC3339Nano)
	n := json.Number(total)
	return topics.VentaRegistrada(handlers.DatosVenta{VentaID: &ventaID, ClienteID: &clienteID, Fecha: &f, Total: &n, Moneda: &moneda, Items: &items})
}

func cancellation(ventaID string, clienteID int64, fecha time.Time) topics.SalesEvent {
	f := fecha.UTC().Format(time.RFC3339Nano)
	return topics.VentaAnulada(handlers.DatosAnulacion{VentaID: &ventaID, ClienteID: &clienteID, Fecha: &f})
}

// eventually retries check every 100 ms until it returns nil or the bound
// passes, then fails with its last error.
func eventually(t *testing.T, bound time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", bound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func resumen(t *testing.T, id int64) handlers.Resumen {
	t.Helper()
	r := do(t, "GET", fmt.Sprintf("/cliente/%d/resumen", id), nil)
	if r.status != http.StatusOK {
		t.Fatalf("resumen: status %d: %s", r.status, r.body)
	}
	var out handlers.Resumen
	r.json(t, &out)
	return out
}

type compraBody struct {
	VentaID, Fecha, Total, Moneda, FechaAnulacion string
	Items                                         int
	Anulada, ClienteInactivo                      bool
	ClienteID                                     int64
}

type paginaBody struct {
	ClienteID int64        `json:"clienteId"`
	Compras   []compraBody `json:"compras"`
	Siguiente string       `json:"siguiente"`
}

func TestPurchaseHistory(t *testing.T) {
	ana := create(t, newCliente(t))
	luis := create(t, newCliente(t))
	if r := do(t, "DELETE", fmt.Sprintf("/cliente/%d", luis.ID), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	unknown := ana.ID + 1_000_000
	id := func(s string) string { return fmt.Sprintf("e2e-%d-%d-%s", runID, ana.ID, s) }
	day := time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := salesWriter(t)
	// Out of order and repeated, as a real stream can be: v3 is cancelled
	// before it is registered, v2 arrives twice.
	err := w.Write(ctx,
		sale(id("v1"), ana.ID, day, "100", "PEN", 2),
		sale(id("v2"), ana.ID, day.Add(48*time.Hour), "50.50", "pen", 1),
		cancellation(id("v3"), ana.ID, day.Add(100*time.Hour)),
		sale(id("v2"), ana.ID, day.Add(48*time.Hour), "50.50", "PEN", 1),
		sale(id("v3"), ana.ID, day.Add(96*time.Hour), "999.99", "PEN", 9),
		sale(id("v4"), ana.ID, day.Add(120*time.Hour), "20", "USD", 3),
		sale(id("l1"), luis.ID, day, "10.00", "PEN", 1),
		sale(id("x1"), unknown, day, "10.00", "PEN", 1),
		sale(id("v2"), ana.ID, day, "1.00", "PEN", 1), // the id of another sale
	)
	if err != nil {
		t.Fatal(err)
	}

	var got handlers.Resumen
	eventually(t, 30*time.Second, func() error {
		got = resumen(t, ana.ID)
		if got.Compras != 3 || got.Anuladas != 1 {
			return fmt.Errorf("resumen %+v, want 3 purchases and 1 cancelled", got)
		}
		return nil
	})
	if got.ClienteID != ana.ID || got.Items != 6 || *got.PrimeraCompra != "2026-03-01T15:00:00.000Z" ||
		*got.UltimaCompra != "2026-03-06T15:00:00.000Z" || *got.DiasEntreCompras != 2.5 || len(got.PorMoneda) != 2 {
		t.Fatalf("resumen %+v", got)
	}
	pen, usd := got.PorMoneda[0], got.PorMoneda[1]
	if pen.Moneda != "PEN" || pen.Compras != 2 || pen.TotalGastado != "150.50" || pen.TicketPromedio != "75.25" ||
		usd.Moneda != "USD" || usd.Compras != 1 || usd.TotalGastado != "20.00" {
		t.Fatalf("por moneda %+v", got.PorMoneda)
	}
	if v, _ := strconv.ParseFloat(pen.ValorVida, 64); pen.GastoMensual == "" || v <= 150.50 {
		t.Fatalf("an active customer's lifetime value %q should exceed what it spent (%q)", pen.ValorVida, pen.TotalGastado)
	}

	// The history, newest first, two per page, linked.
	var all []compraBody
	path := fmt.Sprintf("/cliente/%d/compras?limite=2", ana.ID)
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		r := do(t, "GET", path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var p paginaBody
		r.json(t, &p)
		all = append(all, p.Compras...)
		path = ""
		if p.Siguiente != "" {
			link := r.header.Get("Link")
			start, end := strings.Index(link, "<"), strings.Index(link, ">")
			if start < 0 || end < start || !strings.HasSuffix(link, `rel="next"`) {
				t.Fatalf("Link %q for next page %q", link, p.Siguiente)
			}
			path = link[start+1 : end]
		}
	}
	var order []string
	for _, c := range all {
		order = append(order, strings.TrimPrefix(c.VentaID, id("")))
	}
	if strings.Join(order, ",") != "v4,v3,v2,v1" {
		t.Fatalf("history order %v, want v4,v3,v2,v1", order)
	}
	if v3 := all[1]; !v3.Anulada || v3.FechaAnulacion != "2026-03-05T19:00:00.000Z" || v3.Total != "999.99" {
		t.Fatalf("cancelled sale %+v", v3)
	}
	if v2 := all[2]; v2.Total != "50.50" || v2.Moneda != "PEN" || v2.Anulada || v2.Fecha != "2026-03-03T15:00:00.000Z" {
		t.Fatalf("sale v2 %+v: the first registration must stand", v2)
	}

	// The inactive customer's sale is attached and flagged; it is expected
	// to spend nothing more.
	eventually(t, 30*time.Second, func() error {
		if r := resumen(t, luis.ID); r.Compras != 1 {
			return fmt.Errorf("luis: %+v", r)
		}
		return nil
	})
	if r := resumen(t, luis.ID); r.PorMoneda[0].ValorVida != "10.00" {
		t.Fatalf("inactive customer's lifetime value %+v, want what it spent", r.PorMoneda)
	}
	r := do(t, "GET", fmt.Sprintf("/cliente/%d/compras", luis.ID), nil)
	var lp paginaBody
	r.json(t, &lp)
	if len(lp.Compras) != 1 || !lp.Compras[0].ClienteInactivo {
		t.Fatalf("inactive customer's history %s", r.body)
	}

	// Unknown customers and reused sale ids are reported, never attached.
	eventually(t, 30*time.Second, func() error {
		raw := metrics(t)
		for _, want := range []string{
			`cliente_worker_sales_events_total{outcome="unknown_customer",type="venta.registrada"} `,
			`cliente_worker_sales_events_total{outcome="inactive_customer",type="venta.registrada"} `,
			`cliente_worker_sales_events_total{outcome="conflicting_sale",type="venta.registrada"} `,
			`cliente_worker_sales_events_total{outcome="duplicate",type="venta.registrada"} `,
			`cliente_worker_dead_letters_total{reason="unknown_customer"} `,
		} {
			if !bytes.Contains(raw, []byte(want)) {
				return fmt.Errorf("worker metrics lack %s", want)
			}
		}
		return nil
	})
	wantProblem(t, do(t, "GET", fmt.Sprintf("/cliente/%d/compras", unknown), nil), http.StatusNotFound, "not_found")
	wantProblem(t, do(t, "GET", fmt.Sprintf("/cliente/%d/resumen", unknown), nil), http.StatusNotFound, "not_found")
}

func TestPurchaseHistoryErrors(t *testing.T) {
	c := create(t, newCliente(t))
	base := fmt.Sprintf("/cliente/%d", c.ID)
	wantProblem(t, do(t, "GET", base+"/compras?limite=0", nil), http.StatusBadRequest, "invalid", "limite")
	wantProblem(t, do(t, "GET", base+"/compras?limite=101", nil), http.StatusBadRequest, "invalid", "limite")
	wantProblem(t, do(t, "GET", base+"/compras?cursor=bm9wZQ", nil), http.StatusBadRequest, "invalid", "cursor")
	wantProblem(t, do(t, "GET", "/cliente/0/resumen", nil), http.StatusBadRequest, "invalid", "id")
	wantProblem(t, do(t, "GET", base+"/pedidos", nil), http.StatusNotFound, "not_found")

	r := do(t, "GET", base+"/compras", nil)
	var p paginaBody
	r.json(t, &p)
	if r.status != http.StatusOK || p.ClienteID != c.ID || p.Compras == nil || len(p.Compras) != 0 || r.header.Get("Link") != "" {
		t.Fatalf("empty history: %d %s", r.status, r.body)
	}
	empty := resumen(t, c.ID)
	if empty.Compras != 0 || empty.PrimeraCompra != nil || empty.PorMoneda == nil || len(empty.PorMoneda) != 0 {
		t.Fatalf("empty resumen %+v", empty)
	}
}

func metrics(t *testing.T) []byte {
	t.Helper()
	resp, err := client.Get(workerURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

// TestCustomerEvents follows one customer through the four kinds of change
// on the customer events topic, as another service would.
func TestCustomerEvents(t *testing.T) {
	reader := topics.NewCustomerEventReader(cluster, stackValue(t, "TOPIC_CUSTOMER_EVENTS"), fmt.Sprintf("e2e-events-%d", runID))
	t.Cleanup(func() { reader.Close() })

	body := newCliente(t)
	c := create(t, body)
	path := fmt.Sprintf("/cliente/%d", c.ID)
	body["nombre"] = "Ana María"
	if r := do(t, "PUT", path, body); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", path, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", path, nil); r.status != http.StatusNoContent { // no change, no event
		t.Fatalf("DELETE again: %d %s", r.status, r.body)
	}
	body["activo"] = true
	if r := do(t, "PUT", path, body); r.status != http.StatusOK {
		t.Fatalf("PUT activo: %d %s", r.status, r.body)
	}

	want := []string{"cliente.registrado 1", "cliente.actualizado 2", "cliente.desactivado 3", "cliente.reactivado 4"}
	var got []string
	var last topics.CustomerEvent
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < len(want) {
		ev, err := reader.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if ev.ClienteID != c.ID {
			continue // another test's customer
		}
		got = append(got, fmt.Sprintf("%s %d", ev.Type, ev.Version))
		if ev.ID != fmt.Sprintf("%d-%d", c.ID, ev.Version) || ev.Data.ID != c.ID || ev.Data.Version != ev.Version || ev.Fecha == "" {
			t.Fatalf("event %+v", ev)
		}
		last = ev
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
	if !last.Data.Activo || last.Data.Nombre != "Ana María" || last.Data.Email != c.Email {
		t.Fatalf("last event's state %+v", last.Data)
	}
}
