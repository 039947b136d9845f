package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// RunOutbox runs the outbox contract against outboxes made by newOutbox,
// which must return an empty one each time it is called.
func RunOutbox(t *testing.T, newOutbox func(t *testing.T) handlers.Outbox) {
	tests := []struct {
		name string
		fn   func(t *testing.T, o handlers.Outbox)
	}{
		{"AddClaimDelete", testOutboxAddClaimDelete},
		{"Leases", testOutboxLeases},
		{"ConcurrentRelays", testOutboxConcurrentRelays},
		{"Diferidos", testOutboxDiferidos},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newOutbox(t)) })
	}
}

func evento(id int64, version int64, tipo string) handlers.Evento {
	c := handlers.Cliente{ID: id, DNI: "10117410", Nombre: "Ana", Email: "ana@example.pe", FechaRegistro: fecha,
		Activo: tipo != handlers.CambioDesactivado, Version: version, Cambio: tipo}
	return handlers.EventoDe(c, fecha.Add(time.Duration(version)*time.Second))
}

func ids(events []handlers.Evento) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func testOutboxAddClaimDelete(t *testing.T, o handlers.Outbox) {
	now := fecha.Add(time.Hour)
	added := []handlers.Evento{
		evento(7, 1, handlers.CambioRegistrado),
		evento(8, 1, handlers.CambioRegistrado),
		evento(7, 2, handlers.CambioDesactivado),
	}
	for _, e := range added {
		if err := o.Add(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	// Adding an event again (a retried command) keeps one copy.
	if err := o.Add(ctx(t), added[0]); err != nil {
		t.Fatal(err)
	}
	got, err := o.Claim(ctx(t), now, time.Minute, 10)
	want := []handlers.Evento{added[0], added[2], added[1]} // by customer, oldest customer first
	if err != nil || !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("Claim = %v, %v; want %v", ids(got), err, ids(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Tipo != w.Tipo || !g.Registrado.Equal(w.Registrado) || !g.Cliente.FechaRegistro.Equal(w.Cliente.FechaRegistro) {
			t.Fatalf("event %d = %+v, want %+v", i, g, w)
		}
		g.Cliente.FechaRegistro, w.Cliente.FechaRegistro = time.Time{}, time.Time{}
		g.Cliente.LastOp, w.Cliente.LastOp = "", ""
		if g.Cliente != w.Cliente {
			t.Fatalf("event %d customer = %+v, want %+v", i, g.Cliente, w.Cliente)
		}
	}
	if err := o.Delete(ctx(t), []string{added[0].ID, added[2].ID}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	got, err = o.Claim(ctx(t), later, time.Minute, 10)
	if err != nil || !slices.Equal(ids(got), []string{added[1].ID}) {
		t.Fatalf("Claim after Delete = %v, %v; want only %s", ids(got), err, added[1].ID)
	}
}

func testOutboxLeases(t *testing.T, o handlers.Outbox) {
	now := fecha.Add(time.Hour)
	for v := int64(1); v <= 5; v++ {
		if err := o.Add(ctx(t), evento(7, v, handlers.CambioActualizado)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Add(ctx(t), evento(8, 1, handlers.CambioRegistrado)); err != nil {
		t.Fatal(err)
	}
	first, err := o.Claim(ctx(t), now, time.Minute, 3)
	if err != nil || !slices.Equal(ids(first), []string{"7-1", "7-2", "7-3"}) {
		t.Fatalf("Claim(3) = %v, %v; want 7-1..7-3", ids(first), err)
	}
	// Within the lease, another relay gets only other customers' events:
	// 7-4 must not overtake 7-1..7-3.
	second, err := o.Claim(ctx(t), now.Add(time.Second), time.Minute, 10)
	if err != nil || !slices.Equal(ids(second), []string{"8-1"}) {
		t.Fatalf("Claim during the lease = %v, %v; want 8-1 only", ids(second), err)
	}
	if none, err := o.Claim(ctx(t), now.Add(2*time.Second), time.Minute, 10); err != nil || len(none) != 0 {
		t.Fatalf("Claim with all leased = %v, %v; want none", ids(none), err)
	}
	// A relay that died leaves its batch to be claimed after the lease,
	// still ahead of the customer's later events.
	again, err := o.Claim(ctx(t), now.Add(time.Minute+500*time.Millisecond), time.Minute, 10)
	if err != nil || !slices.Equal(ids(again), []string{"7-1", "7-2", "7-3", "7-4", "7-5"}) {
		t.Fatalf("Claim after the lease = %v, %v; want 7-1..7-5", ids(again), err)
	}
}

// testOutboxConcurrentRelays has relays claim, publish and delete at once
// until nothing is left: every event is claimed, and never a version before
// the one below it (a later version never overtakes an earlier one held by
// another relay).
func testOutboxConcurrentRelays(t *testing.T, o handlers.Outbox) {
	const customers, versions, relays = 12, 5, 4
	for v := int64(1); v <= versions; v++ {
		for c := int64(1); c <= customers; c++ {
			if err := o.Add(ctx(t), evento(c, v, handlers.CambioActualizado)); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := fecha.Add(time.Hour)
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		errs    []string
		wg      sync.WaitGroup
	)
	// claim claims once, "publishes" (records) and deletes what it got, as
	// a relay does, and reports whether it got anything.
	claim := func() bool {
		got, err := o.Claim(ctx(t), now, time.Hour, 7)
		mu.Lock()
		if err != nil {
			errs = append(errs, err.Error())
		}
		for _, e := range got {
			claimed[e.ID]++
			if v := e.Cliente.Version; v > 1 && claimed[fmt.Sprintf("%d-%d", e.Cliente.ID, v-1)] == 0 {
				errs = append(errs, fmt.Sprintf("%s claimed while version %d was not", e.ID, v-1))
			}
		}
		mu.Unlock()
		if err := o.Delete(ctx(t), ids(got)); err != nil {
			t.Error(err)
		}
		return err == nil && len(got) > 0
	}
	for range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100 && claim(); i++ {
			}
		}()
	}
	wg.Wait()
	// A relay that lost a race may have stopped early: drain what is left.
	for i := 0; i < 100 && claim(); i++ {
	}
	if len(errs) > 0 {
		t.Fatalf("%d problems, e.g. %v", len(errs), errs[:min(5, len(errs))])
	}
	if len(claimed) != customers*versions {
		t.Fatalf("%d of %d events claimed", len(claimed), customers*versions)
	}
}

// testOutboxDiferidos: an event with records to make keeps the customer's
// LastOp and Registro, and is found by its idempotency key and its
// customer until deleted.
func testOutboxDiferidos(t *testing.T, o handlers.Outbox) {
	c := evento(7, 1, handlers.CambioRegistrado).Cliente
	c.LastOp = "crear-7"
	c.Registro = &handlers.RegistroCambio{Fecha: fecha, Autor: handlers.Principal{Subject: "ana", ClientID: "consola"},
		Campos: []handlers.CampoCambiado{{Campo: "nombre", Despues: "Ana"}}}
	diferido := handlers.EventoDiferido(c, fecha)
	for _, e := range []handlers.Evento{evento(7, 2, handlers.CambioActualizado), diferido, evento(8, 1, handlers.CambioRegistrado)} {
		if err := o.Add(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	got, found, err := o.PorOperacion(ctx(t), "crear-7")
	if err != nil || !found || got.ID != diferido.ID || !got.Diferido || got.Cliente.LastOp != "crear-7" ||
		got.Cliente.Registro == nil || got.Cliente.Registro.Autor.Subject != "ana" || !got.Cliente.Registro.Fecha.Equal(fecha) ||
		len(got.Cliente.Registro.Campos) != 1 || got.Cliente.Registro.Campos[0] != c.Registro.Campos[0] {
		t.Fatalf("PorOperacion = %+v, %v, %v; want %+v", got, found, err, diferido)
	}
	if _, found, err := o.PorOperacion(ctx(t), "otra"); err != nil || found {
		t.Fatalf("PorOperacion of an unknown key = %v, %v", found, err)
	}
	de, err := o.DeCliente(ctx(t), 7)
	if err != nil || !slices.Equal(ids(de), []string{"7-1", "7-2"}) || !de[0].Diferido || de[1].Diferido {
		t.Fatalf("DeCliente(7) = %v, %v; want 7-1 (Diferido), 7-2", ids(de), err)
	}
	claimed, err := o.Claim(ctx(t), fecha.Add(time.Hour), time.Minute, 10)
	if err != nil || len(claimed) != 3 || !claimed[0].Diferido || claimed[0].Cliente.LastOp != "crear-7" || claimed[0].Cliente.Registro == nil {
		t.Fatalf("Claim = %+v, %v; want 7-1 first, with its records", claimed, err)
	}
	if err := o.Delete(ctx(t), []string{diferido.ID}); err != nil {
		t.Fatal(err)
	}
	if _, found, err := o.PorOperacion(ctx(t), "crear-7"); err != nil || found {
		t.Fatalf("PorOperacion after Delete = %v, %v", found, err)
	}
}
