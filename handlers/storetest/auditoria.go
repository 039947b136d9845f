package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// registro returns a distinct audit record for change n, with values of
// every kind a field holds (text, a boolean, null).
func registro(n int) *handlers.RegistroCambio {
	return &handlers.RegistroCambio{
		Fecha: fecha.Add(time.Duration(n) * time.Minute),
		Autor: handlers.Principal{Subject: fmt.Sprintf("user-%d", n), ClientID: "consola"},
		Campos: []handlers.CampoCambiado{
			{Campo: "nombre", Antes: fmt.Sprintf("Antes%d", n), Despues: fmt.Sprintf("Despues%d", n)},
			{Campo: "activo", Antes: true, Despues: false},
			{Campo: "telefono", Antes: nil, Despues: "+51987654321"},
		},
	}
}

func wantRegistro(t *testing.T, what string, got, want *handlers.RegistroCambio) {
	t.Helper()
	if want == nil && got == nil {
		return
	}
	if got == nil || want == nil || !got.Fecha.Equal(want.Fecha) || got.Autor != want.Autor || !sameCampos(got.Campos, want.Campos) {
		t.Fatalf("%s: Registro = %+v, want %+v", what, got, want)
	}
}

// sameCampos compares field lists, an empty one equal to none.
func sameCampos(a, b []handlers.CampoCambiado) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}

// testRegistro checks that every change keeps its audit record on the
// customer, read back from the store, and that a no-op keeps the last
// one: a crash-recovering command rebuilds the audit entry from it.
func testRegistro(t *testing.T, s handlers.Store) {
	a, err := s.Insert(ctx(t), Campos(1), fecha, handlers.Cambio{Registro: registro(1)})
	if err != nil {
		t.Fatal(err)
	}
	wantRegistro(t, "Insert", a.Registro, registro(1))
	steps := []struct {
		name   string
		change func() (handlers.Cliente, error)
		want   *handlers.RegistroCambio
	}{
		{"Insert", func() (handlers.Cliente, error) { return a, nil }, registro(1)},
		{"Replace", func() (handlers.Cliente, error) {
			return s.Replace(ctx(t), a.ID, Campos(2), nil, handlers.Cambio{Registro: registro(2)})
		}, registro(2)},
		{"SetActivo", func() (handlers.Cliente, error) {
			return s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{Registro: registro(3)})
		}, registro(3)},
		{"no-op SetActivo keeps the last", func() (handlers.Cliente, error) {
			return s.SetActivo(ctx(t), a.ID, false, handlers.Cambio{Registro: registro(4)})
		}, registro(3)},
		{"Anonimizar", func() (handlers.Cliente, error) {
			return s.Anonimizar(ctx(t), a.ID, handlers.Anonimo(a.ID), handlers.Cambio{Registro: registro(5)})
		}, registro(5)},
		{"no-op Anonimizar keeps the last", func() (handlers.Cliente, error) {
			return s.Anonimizar(ctx(t), a.ID, handlers.Anonimo(a.ID), handlers.Cambio{Registro: registro(6)})
		}, registro(5)},
		{"Replace without one", func() (handlers.Cliente, error) {
			return s.Replace(ctx(t), a.ID, Campos(2), nil, handlers.Cambio{})
		}, nil},
	}
	for _, st := range steps {
		got, err := st.change()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		wantRegistro(t, st.name, got.Registro, st.want)
		stored, err := s.Get(ctx(t), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantRegistro(t, st.name+" (stored)", stored.Registro, st.want)
	}
}

// testAnonimizar checks that an anonymised customer keeps its id and
// registration date, holds only the placeholders, is inactive and marked,
// frees its dni and email, is no longer found by name, and that any number
// of anonymised customers coexist under the unique indexes.
func testAnonimizar(t *testing.T, s handlers.Store) {
	a := mustInsert(t, s, Campos(1))
	b := mustInsert(t, s, Campos(2))
	got, err := s.Anonimizar(ctx(t), a.ID, handlers.Anonimo(a.ID), handlers.Cambio{IdempotencyKey: "op-anon"})
	if err != nil {
		t.Fatal(err)
	}
	anon := handlers.Anonimo(a.ID)
	want := handlers.Cliente{ID: a.ID, DNI: anon.DNI, Email: anon.Email, FechaRegistro: fecha, Activo: false, Version: 2,
		LastOp: "op-anon", Anonimizado: true}
	wantSame(t, got, want)
	if got.Cambio != handlers.CambioAnonimizado {
		t.Fatalf("Cambio = %q, want %q", got.Cambio, handlers.CambioAnonimizado)
	}
	stored, err := s.Get(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, stored, want)

	// The dni and email are free for anyone; a second anonymised customer
	// does not clash with the first.
	if _, err := s.GetByDNI(ctx(t), Campos(1).DNI); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("GetByDNI(anonymised dni) = %v, want not found", err)
	}
	again := mustInsert(t, s, Campos(1))
	if _, err := s.Anonimizar(ctx(t), b.ID, handlers.Anonimo(b.ID), handlers.Cambio{}); err != nil {
		t.Fatalf("anonymising a second customer: %v", err)
	}
	if _, err := s.Anonimizar(ctx(t), again.ID, handlers.Anonimo(again.ID), handlers.Cambio{}); err != nil {
		t.Fatalf("anonymising a third customer: %v", err)
	}
	if found, err := s.List(ctx(t), handlers.Filtro{Palabras: handlers.Palabras(Campos(2).Nombre)}); err != nil || len(found) != 0 {
		t.Fatalf("search by an anonymised name found %+v, %v", found, err)
	}

	// Again: a no-op, also for its condition; missing customers not found.
	v := int64(2)
	if got, err := s.Anonimizar(ctx(t), a.ID, handlers.Anonimo(a.ID), handlers.Cambio{Version: &v, IdempotencyKey: "op-2"}); err != nil || got.Version != 2 || got.LastOp != "op-anon" {
		t.Fatalf("second Anonimizar = %+v, %v; want unchanged", got, err)
	}
	stale := int64(1)
	_, err = s.Anonimizar(ctx(t), a.ID, handlers.Anonimo(a.ID), handlers.Cambio{Version: &stale})
	wantCode(t, err, handlers.CodePrecondition, "version")
	_, err = s.Anonimizar(ctx(t), 999_999, handlers.Anonimo(999_999), handlers.Cambio{})
	wantCode(t, err, handlers.CodeNotFound, "")
}

// RunAuditoria runs the contract of handlers.Auditoria against stores made
// by newStore, which must return an empty store each time it is called.
func RunAuditoria(t *testing.T, newStore func(t *testing.T) handlers.Auditoria) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a handlers.Auditoria)
	}{
		{"AddAndPage", testAuditoriaAddAndPage},
		{"AddTwiceKeepsOne", testAuditoriaAddTwice},
		{"Borrar", testAuditoriaBorrar},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func entrada(cliente, version int64) handlers.EntradaAuditoria {
	r := registro(int(version))
	return handlers.EntradaAuditoria{ClienteID: cliente, Version: version, Tipo: handlers.CambioActualizado,
		Fecha: r.Fecha, Autor: r.Autor, Campos: r.Campos}
}

func mustPage(t *testing.T, a handlers.Auditoria, cliente, antesDe int64, limite int) []handlers.EntradaAuditoria {
	t.Helper()
	got, err := a.Pagina(ctx(t), cliente, antesDe, limite)
	if err != nil {
		t.Fatalf("Pagina(%d, %d, %d): %v", cliente, antesDe, limite, err)
	}
	return got
}

func versions(es []handlers.EntradaAuditoria) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Version)
	}
	return out
}

func testAuditoriaAddAndPage(t *testing.T, a handlers.Auditoria) {
	if got := mustPage(t, a, 1, 0, 10); len(got) != 0 {
		t.Fatalf("empty trail: %+v", got)
	}
	// Recorded out of order, for two customers.
	for _, v := range []int64{3, 1, 5, 2, 4} {
		if err := a.Add(ctx(t), entrada(1, v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Add(ctx(t), entrada(2, 1)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		antesDe int64
		limite  int
		want    string
	}{
		{0, 10, "[5 4 3 2 1]"}, {0, 2, "[5 4]"}, {4, 2, "[3 2]"}, {2, 10, "[1]"}, {1, 10, "[]"},
	} {
		if got := fmt.Sprint(versions(mustPage(t, a, 1, tc.antesDe, tc.limite))); got != tc.want {
			t.Errorf("Pagina(antesDe %d, limite %d) = %s, want %s", tc.antesDe, tc.limite, got, tc.want)
		}
	}
	got := mustPage(t, a, 1, 0, 10)
	for _, e := range got {
		w := entrada(1, e.Version)
		if e.ClienteID != 1 || e.Tipo != w.Tipo || !e.Fecha.Equal(w.Fecha) || e.Autor != w.Autor || !sameCampos(e.Campos, w.Campos) {
			t.Fatalf("entry read back %+v, want %+v", e, w)
		}
	}
	if got := versions(mustPage(t, a, 2, 0, 10)); fmt.Sprint(got) != "[1]" {
		t.Fatalf("other customer's trail = %v", got)
	}
}

// Recording an entry again, also concurrently as redelivered commands of
// two workers may, keeps the first.
func testAuditoriaAddTwice(t *testing.T, a handlers.Auditoria) {
	first := entrada(7, 1)
	second := entrada(7, 1)
	second.Autor.Subject = "someone-else"
	if err := a.Add(ctx(t), first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = a.Add(ctx(t), second) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Add again: %v", err)
		}
	}
	got := mustPage(t, a, 7, 0, 10)
	if len(got) != 1 || got[0].Autor != first.Autor {
		t.Fatalf("after adding twice: %+v, want only the first", got)
	}
}

// Borrar erases the personal values of one customer's entries, keeping
// the field names and the rest; other customers keep theirs.
func testAuditoriaBorrar(t *testing.T, a handlers.Auditoria) {
	for _, e := range []handlers.EntradaAuditoria{entrada(1, 1), entrada(1, 2), entrada(2, 1)} {
		if err := a.Add(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // idempotent
		if err := a.Borrar(ctx(t), 1); err != nil {
			t.Fatal(err)
		}
	}
	want := []handlers.CampoCambiado{
		{Campo: "nombre", Borrado: true},
		{Campo: "activo", Antes: true, Despues: false},
		{Campo: "telefono", Borrado: true},
	}
	for _, e := range mustPage(t, a, 1, 0, 10) {
		if !reflect.DeepEqual(e.Campos, want) || e.Autor != entrada(1, e.Version).Autor {
			t.Fatalf("erased entry %d: %+v, want fields %+v and the author kept", e.Version, e, want)
		}
	}
	if got := mustPage(t, a, 2, 0, 10); len(got) != 1 || !sameCampos(got[0].Campos, entrada(2, 1).Campos) {
		t.Fatalf("another customer's entry changed: %+v", got)
	}
}
