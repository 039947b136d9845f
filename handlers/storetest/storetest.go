// Package storetest is the contract every handlers.Store passes: the
// in-memory fake and the MongoDB repository run the same suite, so a test
// written against the fake means the same thing against the database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// Run runs the contract against stores made by newStore, which must return
// an empty store each time it is called.
func Run(t *testing.T, newStore func(t *testing.T) handlers.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s handlers.Store)
	}{
		{"InsertAndGet", testInsertAndGet},
		{"NotFound", testNotFound},
		{"InsertConflicts", testInsertConflicts},
		{"Replace", testReplace},
		{"ReplaceConflicts", testReplaceConflicts},
		{"SetActivo", testSetActivo},
		{"ConditionalChanges", testConditional},
		{"LastOp", testLastOp},
		{"Cambio", testCambio},
		{"Registro", testRegistro},
		{"Anonimizar", testAnonimizar},
		{"List", testList},
		{"SearchAndDates", testSearchAndDates},
		{"KeysChangeHands", testKeysChangeHands},
		{"ListPages", testListPages},
		{"ListSparseMatches", testListSparseMatches},
		{"SearchPages", testSearchPages},
		{"ListWalkUnderChanges", testListWalkUnderChanges},
		{"ConcurrentInsertsSameDNI", testConcurrentSameDNI},
		{"ConcurrentInsertsDistinct", testConcurrentDistinct},
		{"OperatorLookingValues", testOperatorLookingValues},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var fecha = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Campos returns valid, distinct fields for customer number n.
func Campos(n int) handlers.Campos {
	return handlers.Campos{
		DNI:       fmt.Sprintf("%08d", 10_000_000+n),
		Nombre:    fmt.Sprintf("Nombre%d", n),
		Apellido:  "Quispe",
		Email:     fmt.Sprintf("cliente%d@example.pe", n),
		Telefono:  "+51987654321",
		Direccion: "Av. Arequipa 123, Lima",
	}
}

func mustInsert(t *testing.T, s handlers.Store, c handlers.Campos) handlers.Cliente {
	t.Helper()
	cl, err := s.Insert(ctx(t), c, fecha, handlers.Cambio{})
	if err != nil {
		t.Fatalf("Insert(%+v): %v", c, err)
	}
	return cl
}

func wantCode(t *testing.T, err error, code handlers.Code, field string) {
	t.Helper()
	if got := handlers.ErrorCode(err); got != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
	if field == "" {
		return
	}
	var e *handlers.Error
	if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != field {
		t.Fatalf("error = %#v, want exactly one field detail naming %q", err, field)
	}
}

func wantSame(t *testing.T, got, want handlers.Cliente) {
	t.Helper()
	if !got.FechaRegistro.Equal(want.FechaRegistro) {
		t.Fatalf("fechaRegistro = %v, want %v", got.FechaRegistro, want.FechaRegistro)
	}
	got.FechaRegistro, want.FechaRegistro = time.Time{}, time.Time{}
	got.Cambio, want.Cambio = "", "" // testCambio checks it
	if (got.Registro == nil) != (want.Registro == nil) {
		t.Fatalf("Registro = %+v, want %+v", got.Registro, want.Registro)
	}
	got.Registro, want.Registro = nil, nil // testRegistro checks it
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func testInsertAndGet(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	b := mustInsert(t, s, Campos(2))
	if a.ID <= 0 || b.ID <= 0 || a.ID == b.ID {
		t.Fatalf("ids %d and %d: want distinct positive ids", a.ID, b.ID)
	}
	want := handlers.Cliente{ID: a.ID, FechaRegistro: fecha, Activo: true, Version: 1}
	c := Campos(1)
	want.DNI, want.Nombre, want.Apellido, want.Email, want.Telefono, want.Direccion = c.DNI, c.Nombre, c.Apellido, c.Email, c.Telefono, c.Direccion
	wantSame(t, a, want)

	for name, get := range map[string]func() (handlers.Cliente, error){
		"Get":        func() (handlers.Cliente, error) { return s.Get(ctx(t), a.ID) },
		"GetByDNI":   func() (handlers.Cliente, error) { return s.GetByDNI(ctx(t), c.DNI) },
		"GetByEmail": func() (handlers.Cliente, error) { return s.GetByEmail(ctx(t), c.Email) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantSame(t, got, want)
	}
}

func testNotFound(t *testing.T, s handlers.Store) {
	mustInsert(t, s, Campos(1))
	_, err := s.Get(ctx(t), 999_999)
	wantCode(t, err, handlers.CodeNotFound, "")
	_, err = s.GetByDNI(ctx(t), "99999999")
	wantCode(t, err, handlers.CodeNotFound, "")
	_, err = s.GetByEmail(ctx(t), "nadie@example.pe")
	wantCode(t, err, handlers.CodeNotFound, "")
	_, err = s.Replace(ctx(t), 999_999, Campos(3), nil, handlers.Cambio{})
	wantCode(t, err, handlers.CodeNotFound, "")
	_, err = s.SetActivo(ctx(t), 999_999, false, handlers.Cambio{})
	wantCode(t, err, handlers.CodeNotFound, "")
}

func testInsertConflicts(t *testing.T, s handlers.Store) {
	mustInsert(t, s, Campos(1))

	sameDNI := Campos(2)
	sameDNI.DNI = Campos(1).DNI
	_, err := s.Insert(ctx(t), sameDNI, fecha, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "dni")

	sameEmail := Campos(3)
	sameEmail.Email = Campos(1).Email
	_, err = s.Insert(ctx(t), sameEmail, fecha, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "email")

	// A failed insert must not leave anything behind.
	list, err := s.List(ctx(t), handlers.Filtro{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List after conflicts = %d customers, %v; want 1", len(list), err)
	}
	mustInsert(t, s, Campos(2))
}

func testReplace(t *testing.T, s handlers.Store) {
	orig := mustInsert(t, s, Campos(1))
	c := Campos(2)
	got, err := s.Replace(ctx(t), orig.ID, c, nil, handlers.Cambio{})
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	want := handlers.Cliente{ID: orig.ID, FechaRegistro: fecha, Activo: true, Version: 2,
		DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido, Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion}
	wantSame(t, got, want)
	stored, err := s.Get(ctx(t), orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, stored, want)

	// The old dni and email are free again; the new ones find the customer.
	if _, err := s.GetByDNI(ctx(t), Campos(1).DNI); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("GetByDNI(old dni) = %v, want not found", err)
	}
	mustInsert(t, s, Campos(1))

	// Keeping one's own dni and email is no conflict; activo follows the
	// pointer when set and is kept when nil.
	off := false
	got, err = s.Replace(ctx(t), orig.ID, c, &off, handlers.Cambio{})
	if err != nil || got.Activo || got.Version != 3 {
		t.Fatalf("Replace(activo=false) = %+v, %v; want inactive, version 3", got, err)
	}
	got, err = s.Replace(ctx(t), orig.ID, c, nil, handlers.Cambio{})
	if err != nil || got.Activo {
		t.Fatalf("Replace(activo=nil) = %+v, %v; want still inactive", got, err)
	}
	on := true
	got, err = s.Replace(ctx(t), orig.ID, c, &on, handlers.Cambio{})
	if err != nil || !got.Activo {
		t.Fatalf("Replace(activo=true) = %+v, %v; want active", got, err)
	}
}

func testReplaceConflicts(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	b := mustInsert(t, s, Campos(2))

	c := Campos(3)
	c.DNI = a.DNI
	_, err := s.Replace(ctx(t), b.ID, c, nil, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "dni")

	c = Campos(3)
	c.Email = a.Email
	_, err = s.Replace(ctx(t), b.ID, c, nil, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "email")

	// Nothing of a rejected replace is applied.
	got, err := s.Get(ctx(t), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DNI != b.DNI || got.Email != b.Email || got.Nombre != b.Nombre || got.Version != b.Version {
		t.Fatalf("after rejected replaces: %+v, want unchanged %+v", got, b)
	}
}

func testSetActivo(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	got, err := s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{})
	if err != nil || got.Activo || got.Version != 2 {
		t.Fatalf("SetActivo(false) = %+v, %v; want inactive at version 2", got, err)
	}
	got, err = s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{})
	if err != nil || got.Activo || got.Version != 2 {
		t.Fatalf("second SetActivo(false) = %+v, %v; want unchanged at version 2", got, err)
	}
	// Soft-deleted: still readable everywhere and still holding its keys.
	for _, get := range []func() (handlers.Cliente, error){
		func() (handlers.Cliente, error) { return s.Get(ctx(t), a.ID) },
		func() (handlers.Cliente, error) { return s.GetByDNI(ctx(t), a.DNI) },
		func() (handlers.Cliente, error) { return s.GetByEmail(ctx(t), a.Email) },
	} {
		if got, err := get(); err != nil || got.Activo || !got.FechaRegistro.Equal(fecha) {
			t.Fatalf("lookup of deleted customer = %+v, %v", got, err)
		}
	}
	_, err = s.Insert(ctx(t), Campos(1), fecha, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "dni")

	got, err = s.SetActivo(ctx(t), a.ID, true, handlers.Cambio{})
	if err != nil || !got.Activo || got.Version != 3 {
		t.Fatalf("SetActivo(true) = %+v, %v; want active at version 3", got, err)
	}
}

func testList(t *testing.T, s handlers.Store) {
	empty, err := s.List(ctx(t), handlers.Filtro{})
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("List on empty store = %#v, %v; want a non-nil empty slice", empty, err)
	}
	var ids []int64
	for i := 1; i <= 5; i++ {
		ids = append(ids, mustInsert(t, s, Campos(i)).ID)
	}
	if _, err := s.SetActivo(ctx(t), ids[1], false, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetActivo(ctx(t), ids[3], false, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    handlers.Filtro
		want []int64
	}{
		{"all", handlers.Filtro{}, ids},
		{"active", handlers.Filtro{Activo: &yes}, []int64{ids[0], ids[2], ids[4]}},
		{"inactive", handlers.Filtro{Activo: &no}, []int64{ids[1], ids[3]}},
		{"after", handlers.Filtro{DespuesDeID: ids[2]}, ids[3:]},
		{"limit", handlers.Filtro{Limite: 2}, ids[:2]},
		{"active after with limit", handlers.Filtro{Activo: &yes, DespuesDeID: ids[0], Limite: 1}, []int64{ids[2]}},
		{"by ids", handlers.Filtro{IDs: []int64{ids[4], ids[1], 999_999}}, []int64{ids[1], ids[4]}},
		{"by ids, active only", handlers.Filtro{IDs: []int64{ids[4], ids[1]}, Activo: &yes}, []int64{ids[4]}},
		{"by no ids", handlers.Filtro{IDs: []int64{}}, nil},
	} {
		got, err := s.List(ctx(t), tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var gotIDs []int64
		for _, c := range got {
			gotIDs = append(gotIDs, c.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, gotIDs, tc.want)
		}
	}
}

func testConcurrentSameDNI(t *testing.T, s handlers.Store) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := Campos(100 + i)
			c.DNI = "44444444"
			_, errs[i] = s.Insert(ctx(t), c, fecha, handlers.Cambio{})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		default:
			wantCode(t, err, handlers.CodeConflict, "dni")
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent inserts with one dni succeeded, want exactly 1", ok)
	}
	// The losers leave nothing that misleads a lookup.
	got, err := s.GetByDNI(ctx(t), "44444444")
	if err != nil {
		t.Fatalf("GetByDNI after the race: %v", err)
	}
	if byEmail, err := s.GetByEmail(ctx(t), got.Email); err != nil || byEmail.ID != got.ID {
		t.Fatalf("GetByEmail(%q) = %+v, %v; want customer %d", got.Email, byEmail, err, got.ID)
	}
	for i := range n {
		c := Campos(100 + i)
		if c.Email == got.Email {
			continue
		}
		if _, err := s.GetByEmail(ctx(t), c.Email); handlers.ErrorCode(err) != handlers.CodeNotFound {
			t.Fatalf("GetByEmail of a loser's %q = %v, want not found", c.Email, err)
		}
	}
}

func testConcurrentDistinct(t *testing.T, s handlers.Store) {
	const n = 16
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := s.Insert(ctx(t), Campos(200+i), fecha, handlers.Cambio{})
			ids[i], errs[i] = cl.ID, err
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		if ids[i] <= 0 || seen[ids[i]] {
			t.Fatalf("id %d allocated twice or not positive (all: %v)", ids[i], ids)
		}
		seen[ids[i]] = true
	}
}

func testOperatorLookingValues(t *testing.T, s handlers.Store) {
	mustInsert(t, s, Campos(1))
	for _, v := range []string{`{"$ne":""}`, "$ne", `{"$gt":""}`, ".*", "$where"} {
		if _, err := s.GetByDNI(ctx(t), v); handlers.ErrorCode(err) != handlers.CodeNotFound {
			t.Errorf("GetByDNI(%q) = %v, want not found", v, err)
		}
		if _, err := s.GetByEmail(ctx(t), v); handlers.ErrorCode(err) != handlers.CodeNotFound {
			t.Errorf("GetByEmail(%q) = %v, want not found", v, err)
		}
	}
}

func testConditional(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	at := func(v int64) handlers.Cambio { return handlers.Cambio{Version: &v} }

	_, err := s.Replace(ctx(t), a.ID, Campos(2), nil, at(7))
	wantCode(t, err, handlers.CodePrecondition, "version")
	_, err = s.SetActivo(ctx(t), a.ID, false, at(7))
	wantCode(t, err, handlers.CodePrecondition, "version")
	if got, _ := s.Get(ctx(t), a.ID); got.Version != 1 || !got.Activo || got.DNI != a.DNI {
		t.Fatalf("stale changes were applied: %+v", got)
	}

	got, err := s.Replace(ctx(t), a.ID, Campos(2), nil, at(1))
	if err != nil || got.Version != 2 || got.DNI != Campos(2).DNI {
		t.Fatalf("Replace at the current version = %+v, %v", got, err)
	}
	got, err = s.SetActivo(ctx(t), a.ID, false, at(2))
	if err != nil || got.Activo || got.Version != 3 {
		t.Fatalf("SetActivo at the current version = %+v, %v", got, err)
	}
	// A no-op is still conditional: stale fails, current succeeds unchanged.
	_, err = s.SetActivo(ctx(t), a.ID, false, at(2))
	wantCode(t, err, handlers.CodePrecondition, "version")
	if got, err = s.SetActivo(ctx(t), a.ID, false, at(3)); err != nil || got.Version != 3 {
		t.Fatalf("no-op SetActivo at the current version = %+v, %v", got, err)
	}
	// The customer as the caller read it (Leido) is only a start: a
	// change since is caught as if the store had read it again.
	leido := got
	if _, err := s.SetActivo(ctx(t), a.ID, true, at(3)); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(handlers.Cambio) (handlers.Cliente, error){
		"Replace":    func(c handlers.Cambio) (handlers.Cliente, error) { return s.Replace(ctx(t), a.ID, Campos(3), nil, c) },
		"SetActivo":  func(c handlers.Cambio) (handlers.Cliente, error) { return s.SetActivo(ctx(t), a.ID, true, c) },
		"Anonimizar": func(c handlers.Cambio) (handlers.Cliente, error) { return s.Anonimizar(ctx(t), a.ID, Campos(3), c) },
	} {
		stale := at(3)
		stale.Leido = &leido
		_, err := change(stale)
		wantCode(t, err, handlers.CodePrecondition, "version")
		if got, _ := s.Get(ctx(t), a.ID); got.Version != 4 || !got.Activo || got.DNI != Campos(2).DNI {
			t.Fatalf("%s from a stale read was applied: %+v", name, got)
		}
	}
	// Missing customers are not found, whatever the condition.
	_, err = s.Replace(ctx(t), 999_999, Campos(3), nil, at(1))
	wantCode(t, err, handlers.CodeNotFound, "")
	_, err = s.SetActivo(ctx(t), 999_999, true, at(1))
	wantCode(t, err, handlers.CodeNotFound, "")
}

// The idempotency key of each applied change is kept with the customer,
// written by the change itself; a no-op SetActivo leaves it as it was.
func testLastOp(t *testing.T, s handlers.Store) {
	a, err := s.Insert(ctx(t), Campos(1), fecha, handlers.Cambio{IdempotencyKey: "op-1"})
	if err != nil || a.LastOp != "op-1" {
		t.Fatalf("Insert = %+v, %v", a, err)
	}
	if got, _ := s.Get(ctx(t), a.ID); got.LastOp != "op-1" {
		t.Fatalf("stored LastOp %q", got.LastOp)
	}
	got, err := s.Replace(ctx(t), a.ID, Campos(1), nil, handlers.Cambio{IdempotencyKey: "op-2"})
	if err != nil || got.LastOp != "op-2" {
		t.Fatalf("Replace = %+v, %v", got, err)
	}
	got, err = s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{IdempotencyKey: "op-3"})
	if err != nil || got.LastOp != "op-3" {
		t.Fatalf("SetActivo = %+v, %v", got, err)
	}
	got, err = s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{IdempotencyKey: "op-4"})
	if err != nil || got.LastOp != "op-3" {
		t.Fatalf("no-op SetActivo = %+v, %v; want LastOp kept", got, err)
	}
	if got, _ := s.GetByDNI(ctx(t), a.DNI); got.LastOp != "op-3" {
		t.Fatalf("stored LastOp %q after no-op", got.LastOp)
	}
}

// testCambio checks that every change records its kind, read back from the
// store, as a crash-recovering command needs it.
func testCambio(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	on, off := true, false
	steps := []struct {
		name   string
		change func() (handlers.Cliente, error)
		want   string
	}{
		{"Insert", func() (handlers.Cliente, error) { return a, nil }, handlers.CambioRegistrado},
		{"Replace", func() (handlers.Cliente, error) { return s.Replace(ctx(t), a.ID, Campos(2), nil, handlers.Cambio{}) }, handlers.CambioActualizado},
		{"Replace keeping activo", func() (handlers.Cliente, error) {
			return s.Replace(ctx(t), a.ID, Campos(1), &on, handlers.Cambio{})
		}, handlers.CambioActualizado},
		{"Replace deactivating", func() (handlers.Cliente, error) {
			return s.Replace(ctx(t), a.ID, Campos(1), &off, handlers.Cambio{})
		}, handlers.CambioDesactivado},
		{"Replace reactivating", func() (handlers.Cliente, error) {
			return s.Replace(ctx(t), a.ID, Campos(2), &on, handlers.Cambio{})
		}, handlers.CambioReactivado},
		{"SetActivo false", func() (handlers.Cliente, error) { return s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{}) }, handlers.CambioDesactivado},
		{"Replace while inactive", func() (handlers.Cliente, error) { return s.Replace(ctx(t), a.ID, Campos(1), nil, handlers.Cambio{}) }, handlers.CambioActualizado},
		{"SetActivo true", func() (handlers.Cliente, error) { return s.SetActivo(ctx(t), a.ID, true, handlers.Cambio{}) }, handlers.CambioReactivado},
		{"no-op SetActivo keeps the kind", func() (handlers.Cliente, error) { return s.SetActivo(ctx(t), a.ID, true, handlers.Cambio{}) }, handlers.CambioReactivado},
	}
	for _, st := range steps {
		got, err := st.change()
		if err != nil || got.Cambio != st.want {
			t.Fatalf("%s = %+v, %v; want Cambio %q", st.name, got, err, st.want)
		}
		if stored, err := s.Get(ctx(t), a.ID); err != nil || stored.Cambio != st.want || stored.Version != got.Version {
			t.Fatalf("%s: stored %+v, %v; want Cambio %q at version %d", st.name, stored, err, st.want, got.Version)
		}
	}
}

// A search keeps customers each of whose query words begins a word of
// nombre or apellido, ignoring case and accents, also after a name
// changed; dates keep [desde, hasta).
func testSearchAndDates(t *testing.T, s handlers.Store) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }
	insert := func(n int, nombre, apellido string, registrado time.Time) int64 {
		c := Campos(n)
		c.Nombre, c.Apellido = nombre, apellido
		got, err := s.Insert(ctx(t), c, registrado, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		return got.ID
	}
	maria := insert(1, "María José", "Quispe Huamán", day(1))
	mario := insert(2, "Mario", "Quispe", day(2))
	rosa := insert(3, "Rosa", "Mariátegui", day(3))
	luis := insert(4, "Luis", "Ñañez", day(4))
	yes := true
	for _, tc := range []struct {
		name string
		f    handlers.Filtro
		want []int64
	}{
		{"one prefix in nombre or apellido", handlers.Filtro{Palabras: handlers.Palabras("mari")}, []int64{maria, mario, rosa}},
		{"every word must match", handlers.Filtro{Palabras: handlers.Palabras("MARIA qui")}, []int64{maria}},
		{"accents and case ignored", handlers.Filtro{Palabras: handlers.Palabras("ÑAÑ")}, []int64{luis}},
		{"inside a word does not match", handlers.Filtro{Palabras: handlers.Palabras("uispe")}, nil},
		{"with paging", handlers.Filtro{Palabras: handlers.Palabras("quispe"), DespuesDeID: maria, Limite: 1}, []int64{mario}},
		{"from a day", handlers.Filtro{RegistradoDesde: day(2)}, []int64{mario, rosa, luis}},
		{"before a day", handlers.Filtro{RegistradoHasta: day(3)}, []int64{maria, mario}},
		{"dates and words and status", handlers.Filtro{RegistradoDesde: day(2), RegistradoHasta: day(4), Palabras: handlers.Palabras("mar"), Activo: &yes}, []int64{mario, rosa}},
	} {
		got, err := s.List(ctx(t), tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []int64
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, ids, tc.want)
		}
	}
	// A renamed customer is found by its new name only.
	c := Campos(3)
	c.Nombre, c.Apellido = "Rosa", "Castro"
	if _, err := s.Replace(ctx(t), rosa, c, nil, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"mariat": "[]", "castro": fmt.Sprint([]int64{rosa})} {
		got, err := s.List(ctx(t), handlers.Filtro{Palabras: handlers.Palabras(q)})
		var ids []int64
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if err != nil || fmt.Sprint(ids) != want && !(want == "[]" && len(ids) == 0) {
			t.Errorf("after the rename, %q finds %v (%v), want %s", q, ids, err, want)
		}
	}
}

// A dni and an email given up by one customer can be taken by another, and
// every lookup follows: the old values find the new holder, the new values
// the customer that took them, and values nobody holds find nobody.
func testKeysChangeHands(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	if _, err := s.Replace(ctx(t), a.ID, Campos(2), nil, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{Campos(1).DNI, Campos(1).Email} {
		lookup := s.GetByDNI
		if v == Campos(1).Email {
			lookup = s.GetByEmail
		}
		if got, err := lookup(ctx(t), v); handlers.ErrorCode(err) != handlers.CodeNotFound {
			t.Fatalf("lookup of the given-up %q = %+v, %v; want not found", v, got, err)
		}
	}
	b := mustInsert(t, s, Campos(1))
	// A third customer fails to take a's values, then takes b's old ones
	// after b moves on.
	_, err := s.Insert(ctx(t), Campos(2), fecha, handlers.Cambio{})
	wantCode(t, err, handlers.CodeConflict, "dni")
	if _, err := s.Replace(ctx(t), b.ID, Campos(3), nil, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	c := mustInsert(t, s, Campos(1))
	for _, tc := range []struct {
		name string
		get  func(context.Context, string) (handlers.Cliente, error)
		n    int
		want int64
	}{
		{"dni 1", s.GetByDNI, 1, c.ID}, {"email 1", s.GetByEmail, 1, c.ID},
		{"dni 2", s.GetByDNI, 2, a.ID}, {"email 2", s.GetByEmail, 2, a.ID},
		{"dni 3", s.GetByDNI, 3, b.ID}, {"email 3", s.GetByEmail, 3, b.ID},
	} {
		v := Campos(tc.n).DNI
		if strings.HasPrefix(tc.name, "email") {
			v = Campos(tc.n).Email
		}
		got, err := tc.get(ctx(t), v)
		if err != nil || got.ID != tc.want {
			t.Errorf("%s: got id %d, %v; want %d", tc.name, got.ID, err, tc.want)
		}
	}
}

// Walking a listing page by page, with gaps left by failed inserts and
// with every filter, gives what one unpaged call gives.
func testListPages(t *testing.T, s handlers.Store) {
	for i := 1; i <= 30; i++ {
		cl := mustInsert(t, s, Campos(i))
		if i%4 == 0 { // a failed insert: may leave a gap in the ids
			dup := Campos(1000 + i)
			dup.DNI = Campos(i).DNI
			_, err := s.Insert(ctx(t), dup, fecha, handlers.Cambio{})
			wantCode(t, err, handlers.CodeConflict, "dni")
		}
		if i%3 == 0 {
			if _, err := s.SetActivo(ctx(t), cl.ID, false, handlers.Cambio{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	yes, no := true, false
	for name, f := range map[string]handlers.Filtro{"all": {}, "active": {Activo: &yes}, "inactive": {Activo: &no}} {
		all, err := s.List(ctx(t), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, limite := range []int{1, 4, 7} {
			var walked []handlers.Cliente
			page := f
			page.Limite = limite
			for range 100 {
				got, err := s.List(ctx(t), page)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > limite {
					t.Fatalf("%s: a page of %d holds %d", name, limite, len(got))
				}
				walked = append(walked, got...)
				if len(got) < limite {
					break
				}
				page.DespuesDeID = got[len(got)-1].ID
			}
			if fmt.Sprint(idsDe(walked)) != fmt.Sprint(idsDe(all)) {
				t.Errorf("%s by pages of %d: %v, want %v", name, limite, idsDe(walked), idsDe(all))
			}
		}
	}
}

// A filter that few customers match still finds them, however many do
// not match before them.
func testListSparseMatches(t *testing.T, s handlers.Store) {
	var last handlers.Cliente
	for i := 1; i <= 150; i++ {
		last = mustInsert(t, s, Campos(i))
	}
	if _, err := s.SetActivo(ctx(t), last.ID, false, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	no := false
	got, err := s.List(ctx(t), handlers.Filtro{Activo: &no, Limite: 2})
	if err != nil || fmt.Sprint(idsDe(got)) != fmt.Sprint([]int64{last.ID}) {
		t.Fatalf("inactive customers = %v, %v; want [%d]", idsDe(got), err, last.ID)
	}
}

func idsDe(list []handlers.Cliente) []int64 {
	out := []int64{}
	for _, c := range list {
		out = append(out, c.ID)
	}
	return out
}

// A search over a few hundred customers, walked page by page, with and
// without a status filter, finds exactly the matching ones.
func testSearchPages(t *testing.T, s handlers.Store) {
	var want, wantActive []int64
	for i := 1; i <= 300; i++ {
		c := Campos(i)
		if i%7 == 0 {
			c.Nombre, c.Apellido = "Zoila", "Quispe Ñahui"
		}
		cl, err := s.Insert(ctx(t), c, fecha, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		if i%7 != 0 {
			continue
		}
		want = append(want, cl.ID)
		if i%2 == 0 {
			if _, err := s.SetActivo(ctx(t), cl.ID, false, handlers.Cambio{}); err != nil {
				t.Fatal(err)
			}
		} else {
			wantActive = append(wantActive, cl.ID)
		}
	}
	yes := true
	for name, tc := range map[string]struct {
		f    handlers.Filtro
		want []int64
	}{
		"all":    {handlers.Filtro{Palabras: handlers.Palabras("zoi ñah")}, want},
		"active": {handlers.Filtro{Palabras: handlers.Palabras("QUI zoila"), Activo: &yes}, wantActive},
	} {
		var walked []handlers.Cliente
		page := tc.f
		page.Limite = 6
		for range 100 {
			got, err := s.List(ctx(t), page)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, got...)
			if len(got) < page.Limite {
				break
			}
			page.DespuesDeID = got[len(got)-1].ID
		}
		if fmt.Sprint(idsDe(walked)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", name, idsDe(walked), tc.want)
		}
	}
}

// Walking every page while other customers are created and deactivated
// finds each customer stored before the walk exactly once, in order.
func testListWalkUnderChanges(t *testing.T, s handlers.Store) {
	const n = 200
	seeded := map[int64]int{}
	var ids []int64
	for i := 1; i <= n; i++ {
		c := mustInsert(t, s, Campos(i))
		seeded[c.ID] = 0
		ids = append(ids, c.ID)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 100; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.Insert(ctx(t), Campos(n+1+i), fecha, handlers.Cambio{}); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.SetActivo(ctx(t), ids[i*37%n], false, handlers.Cambio{}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	page := handlers.Filtro{Limite: 9}
	var last int64
	for range 1000 {
		got, err := s.List(ctx(t), page)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c.ID <= last {
				t.Fatalf("id %d after %d", c.ID, last)
			}
			last = c.ID
			if _, ok := seeded[c.ID]; ok {
				seeded[c.ID]++
			}
		}
		if len(got) < page.Limite {
			break
		}
		page.DespuesDeID = last
	}
	close(done)
	wg.Wait()
	for id, times := range seeded {
		if times != 1 {
			t.Fatalf("customer %d listed %d times, want once", id, times)
		}
	}
}
