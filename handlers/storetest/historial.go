package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// RunHistorial runs the purchase history contract against stores made by
// newStore, which must return an empty store each time it is called.
func RunHistorial(t *testing.T, newStore func(t *testing.T) handlers.Historial) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h handlers.Historial)
	}{
		{"RegisterAndList", testRegisterAndList},
		{"Duplicates", testDuplicateSales},
		{"CancelAfterAndBefore", testCancel},
		{"Paging", testPaging},
		{"AgregadosRevisions", testAgregadosRevisions},
		{"ConcurrentRegistrations", testConcurrentRegistrations},
		{"OperatorLookingSaleIDs", testOperatorLookingSaleIDs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// Compra returns a valid purchase n of customer clienteID, a day apart.
func Compra(n int, clienteID int64) handlers.Compra {
	return handlers.Compra{
		VentaID:    fmt.Sprintf("V-%d-%04d", clienteID, n),
		ClienteID:  clienteID,
		Fecha:      fecha.Add(time.Duration(n) * 24 * time.Hour),
		Total:      handlers.Importe{Minor: int64(1000 * n), Moneda: "PEN"},
		Items:      n,
		Registrada: true,
	}
}

func mustRegister(t *testing.T, h handlers.Historial, c handlers.Compra, want handlers.EstadoCompra) {
	t.Helper()
	got, stored, err := h.RegistrarCompra(ctx(t), c)
	if err != nil || got != want {
		t.Fatalf("RegistrarCompra(%s) = %q, %v; want %q", c.VentaID, got, err, want)
	}
	if got == handlers.EstadoNueva && (!stored.MismaVenta(c) || !stored.Registrada) {
		t.Fatalf("RegistrarCompra(%s) returned %+v, want the sale as given", c.VentaID, stored)
	}
}

func wantCompras(t *testing.T, got, want []handlers.Compra) {
	t.Helper()
	ids := func(cs []handlers.Compra) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.VentaID)
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("purchases %v, want %v", ids(got), ids(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.MismaVenta(w) || g.Registrada != w.Registrada || g.Anulada != w.Anulada ||
			!g.FechaAnulacion.Equal(w.FechaAnulacion) || g.ClienteInactivo != w.ClienteInactivo {
			t.Fatalf("purchase %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

func sortByID(cs []handlers.Compra) []handlers.Compra {
	slices.SortFunc(cs, func(a, b handlers.Compra) int {
		switch {
		case a.VentaID < b.VentaID:
			return -1
		case a.VentaID > b.VentaID:
			return 1
		}
		return 0
	})
	return cs
}

func testRegisterAndList(t *testing.T, h handlers.Historial) {
	a1, a2, b1 := Compra(1, 7), Compra(2, 7), Compra(1, 8)
	a2.ClienteInactivo = true
	a2.Total = handlers.Importe{Minor: 123_456, Moneda: "USD"}
	for _, c := range []handlers.Compra{a1, a2, b1} {
		mustRegister(t, h, c, handlers.EstadoNueva)
	}
	got, err := h.ComprasDe(ctx(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	wantCompras(t, sortByID(got), []handlers.Compra{a1, a2})
	none, err := h.ComprasDe(ctx(t), 9)
	if err != nil || len(none) != 0 {
		t.Fatalf("ComprasDe(unknown) = %v, %v; want none", none, err)
	}
}

func testDuplicateSales(t *testing.T, h handlers.Historial) {
	c := Compra(1, 7)
	mustRegister(t, h, c, handlers.EstadoNueva)
	mustRegister(t, h, c, handlers.EstadoDuplicada)
	other := c
	other.Total.Minor++
	mustRegister(t, h, other, handlers.EstadoConflicto)
	moved := c
	moved.ClienteID = 8
	mustRegister(t, h, moved, handlers.EstadoConflicto)
	got, _ := h.ComprasDe(ctx(t), 7)
	wantCompras(t, got, []handlers.Compra{c}) // the first one stands
	if got, _ := h.ComprasDe(ctx(t), 8); len(got) != 0 {
		t.Fatalf("conflicting sale attached to customer 8: %+v", got)
	}
}

func testCancel(t *testing.T, h handlers.Historial) {
	anul := fecha.Add(90 * 24 * time.Hour)
	later := anul.Add(time.Hour)

	// Cancellation after the sale; a second one changes nothing.
	a := Compra(1, 7)
	mustRegister(t, h, a, handlers.EstadoNueva)
	got, err := h.AnularCompra(ctx(t), a.VentaID, 7, anul)
	if err != nil || !got.Anulada || !got.Registrada || !got.FechaAnulacion.Equal(anul) || !got.MismaVenta(a) {
		t.Fatalf("AnularCompra = %+v, %v", got, err)
	}
	if got, err := h.AnularCompra(ctx(t), a.VentaID, 7, later); err != nil || !got.FechaAnulacion.Equal(anul) {
		t.Fatalf("second AnularCompra = %+v, %v; want the first date kept", got, err)
	}

	// Cancellation before the sale: stored, not registered, and the sale
	// is born cancelled, even if the cancellation named another customer.
	b := Compra(2, 7)
	got, err = h.AnularCompra(ctx(t), b.VentaID, 99, anul)
	if err != nil || got.Registrada || !got.Anulada || got.ClienteID != 99 {
		t.Fatalf("AnularCompra before the sale = %+v, %v", got, err)
	}
	if page, _ := h.PaginaCompras(ctx(t), 99, handlers.PaginaCompras{Limite: 10}); len(page) != 0 {
		t.Fatalf("a lone cancellation is listed: %+v", page)
	}
	if st, stored, err := h.RegistrarCompra(ctx(t), b); err != nil || st != handlers.EstadoNueva || !stored.Anulada || !stored.FechaAnulacion.Equal(anul) {
		t.Fatalf("RegistrarCompra after its cancellation = %q, %+v, %v; want new and cancelled", st, stored, err)
	}
	mustRegister(t, h, b, handlers.EstadoDuplicada)

	wantA, wantB := a, b
	wantA.Anulada, wantA.FechaAnulacion = true, anul
	wantB.Anulada, wantB.FechaAnulacion = true, anul
	all, err := h.ComprasDe(ctx(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	wantCompras(t, sortByID(all), []handlers.Compra{wantA, wantB})
	if got, _ := h.ComprasDe(ctx(t), 99); len(got) != 0 {
		t.Fatalf("customer 99 still holds %+v", got)
	}
	if agg := handlers.Agregar(7, all); agg.Compras != 0 || agg.Anuladas != 2 {
		t.Fatalf("Agregar = %+v; want 0 purchases, 2 cancelled", agg)
	}
}

func testPaging(t *testing.T, h handlers.Historial) {
	var want []handlers.Compra
	for n := 1; n <= 7; n++ {
		c := Compra(n, 7)
		mustRegister(t, h, c, handlers.EstadoNueva)
		want = append(want, c)
	}
	// Two sales at the same instant are ordered by sale id, descending.
	twin := Compra(7, 7)
	twin.VentaID += "b"
	mustRegister(t, h, twin, handlers.EstadoNueva)
	mustRegister(t, h, Compra(1, 8), handlers.EstadoNueva)
	want = append(want, twin)
	slices.Reverse(want) // newest first; the twin ("…0007b") before "…0007"

	var got []handlers.Compra
	p := handlers.PaginaCompras{Limite: 3}
	for range 10 {
		page, err := h.PaginaCompras(ctx(t), 7, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < p.Limite {
			break
		}
		last := page[len(page)-1]
		p.Despues = &handlers.CursorCompras{Fecha: last.Fecha, VentaID: last.VentaID}
	}
	wantCompras(t, got, want)
}

func testAgregadosRevisions(t *testing.T, h handlers.Historial) {
	a, rev, err := h.Agregados(ctx(t), 7)
	if err != nil || rev != 0 || a.Compras != 0 || len(a.PorMoneda) != 0 {
		t.Fatalf("Agregados(none) = %+v, %d, %v; want zero at revision 0", a, rev, err)
	}
	first := handlers.Agregar(7, []handlers.Compra{Compra(1, 7), Compra(2, 7)})
	if err := h.GuardarAgregados(ctx(t), first, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.GuardarAgregados(ctx(t), first, 0); !errors.Is(err, handlers.ErrRevision) {
		t.Fatalf("second save at revision 0 = %v, want ErrRevision", err)
	}
	got, rev, err := h.Agregados(ctx(t), 7)
	if err != nil || rev != 1 || !got.Equal(first) {
		t.Fatalf("Agregados = %+v, %d, %v; want %+v at revision 1", got, rev, err, first)
	}
	second := handlers.Agregar(7, []handlers.Compra{Compra(3, 7)})
	if err := h.GuardarAgregados(ctx(t), second, 0); !errors.Is(err, handlers.ErrRevision) {
		t.Fatalf("stale save = %v, want ErrRevision", err)
	}
	if err := h.GuardarAgregados(ctx(t), second, 1); err != nil {
		t.Fatal(err)
	}
	if got, rev, _ := h.Agregados(ctx(t), 7); rev != 2 || !got.Equal(second) {
		t.Fatalf("Agregados = %+v at %d; want %+v at revision 2", got, rev, second)
	}
	if _, rev, _ := h.Agregados(ctx(t), 8); rev != 0 {
		t.Fatalf("another customer's revision = %d, want 0", rev)
	}
}

// testConcurrentRegistrations sends every sale twice at once, and
// cancellations alongside: each sale must be stored once, and exactly one
// registration of each must report it new.
func testConcurrentRegistrations(t *testing.T, h handlers.Historial) {
	const sales = 12
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		nuevas = map[string]int{}
		errs   []error
	)
	for n := 1; n <= sales; n++ {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := Compra(n, 7)
				st, _, err := h.RegistrarCompra(ctx(t), c)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if st == handlers.EstadoNueva {
					nuevas[c.VentaID]++
				}
			}()
		}
		if n%3 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.AnularCompra(ctx(t), Compra(n, 7).VentaID, 7, fecha); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for n := 1; n <= sales; n++ {
		if id := Compra(n, 7).VentaID; nuevas[id] != 1 {
			t.Fatalf("sale %s reported new %d times, want once", id, nuevas[id])
		}
	}
	all, err := h.ComprasDe(ctx(t), 7)
	if err != nil || len(all) != sales {
		t.Fatalf("ComprasDe = %d purchases, %v; want %d", len(all), err, sales)
	}
	if agg := handlers.Agregar(7, all); agg.Compras != sales-sales/3 || agg.Anuladas != sales/3 {
		t.Fatalf("Agregar = %+v; want %d purchases and %d cancelled", agg, sales-sales/3, sales/3)
	}
}

func testOperatorLookingSaleIDs(t *testing.T, h handlers.Historial) {
	c := Compra(1, 7)
	mustRegister(t, h, c, handlers.EstadoNueva)
	odd := Compra(2, 7)
	odd.VentaID = `{"$ne":""}`
	mustRegister(t, h, odd, handlers.EstadoNueva)
	got, err := h.AnularCompra(ctx(t), `{"$gt":""}`, 7, fecha)
	if err != nil || got.Registrada {
		t.Fatalf("AnularCompra(operator-looking id) = %+v, %v; want a lone cancellation", got, err)
	}
	all, _ := h.ComprasDe(ctx(t), 7)
	if agg := handlers.Agregar(7, all); agg.Compras != 2 || agg.Anuladas != 0 {
		t.Fatalf("Agregar = %+v; want the two sales untouched", agg)
	}
}
