package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

type auditFixture struct {
	svc   *handlers.Service
	store *memstore.Store
	trail handlers.Auditoria
	hist  *memstore.Historial
	now   time.Time
}

func newAudit(wrap func(handlers.Auditoria) handlers.Auditoria) *auditFixture {
	f := &auditFixture{store: memstore.New(), trail: memstore.NewAuditoria(), hist: memstore.NewHistorial(), now: clock}
	trail := f.trail
	if wrap != nil {
		trail = wrap(trail)
	}
	f.svc = memstore.Service(handlers.Deps{Store: f.store, Historial: f.hist, Auditoria: trail, Now: func() time.Time { return f.now },
		Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour})
	return f
}

// entries reads customer id's whole trail through the use case.
func (f *auditFixture) entries(t *testing.T, id int64) []handlers.EntradaAuditoria {
	t.Helper()
	p, err := f.svc.Auditoria(context.Background(), id, ptr(handlers.MaxLimiteAuditoria), "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Entradas
}

// summary writes entries as "version tipo autor campo:antes>despues ..."
// lines, erased values as "campo:*".
func summary(es []handlers.EntradaAuditoria) []string {
	var out []string
	for _, e := range es {
		s := fmt.Sprintf("%d %s %s/%s", e.Version, e.Tipo, e.Autor.Subject, e.Autor.ClientID)
		for _, c := range e.Campos {
			if c.Borrado {
				s += " " + c.Campo + ":*"
				continue
			}
			s += fmt.Sprintf(" %s:%v>%v", c.Campo, c.Antes, c.Despues)
		}
		out = append(out, s)
	}
	return out
}

func as(subject string) context.Context {
	return handlers.WithPrincipal(context.Background(), handlers.Principal{Subject: subject, ClientID: "consola"})
}

func TestEveryChangeRecordsItsAuditEntry(t *testing.T) {
	f := newAudit(nil)
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	id := c.ID
	renamed := valid()
	renamed.Nombre, renamed.Telefono = ptr("Ana María"), ptr("")
	reactivate := valid()
	reactivate.Activo = ptr(true)
	steps := []struct {
		name string
		run  func() error
	}{
		{"update", func() error { _, err := f.svc.Actualizar(as("beto"), id, renamed, key("u1")); return err }},
		{"same data again", func() error { _, err := f.svc.Actualizar(as("beto"), id, renamed, key("u2")); return err }},
		{"delete", func() error { _, err := f.svc.Eliminar(as("caro"), id, key("d1")); return err }},
		{"delete again: no change", func() error { _, err := f.svc.Eliminar(as("caro"), id, key("d2")); return err }},
		{"reactivate", func() error { _, err := f.svc.Actualizar(as("dani"), id, reactivate, key("u3")); return err }},
		{"replayed: nothing new", func() error { _, err := f.svc.Actualizar(as("beto"), id, renamed, key("u1")); return err }},
	}
	for _, st := range steps {
		f.now = f.now.Add(time.Minute)
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	// Refused changes record nothing.
	if _, err := f.svc.Actualizar(as("eva"), id, valid(), handlers.Cambio{IdempotencyKey: "u4", Version: ptr(int64(1))}); handlers.ErrorCode(err) != handlers.CodePrecondition {
		t.Fatalf("stale update: %v", err)
	}
	want := []string{
		"5 reactivado dani/consola nombre:Ana María>Ana telefono:>+51987654321 activo:false>true",
		"4 desactivado caro/consola activo:true>false",
		"3 actualizado beto/consola",
		"2 actualizado beto/consola nombre:Ana>Ana María telefono:+51987654321>",
		"1 registrado ana/consola dni:<nil>>10117410 nombre:<nil>>Ana apellido:<nil>>Quispe email:<nil>>ana@example.pe telefono:<nil>>+51987654321 direccion:<nil>>Av. Lima 1 activo:<nil>>true",
	}
	got := f.entries(t, id)
	if !reflect.DeepEqual(summary(got), want) {
		t.Fatalf("trail\n got %q\nwant %q", summary(got), want)
	}
	minutes := map[int64]int{1: 0, 2: 1, 3: 2, 4: 3, 5: 5} // the no-op delete left none
	for _, e := range got {
		if wantAt := clock.Add(time.Duration(minutes[e.Version]) * time.Minute).Truncate(time.Millisecond); !e.Fecha.Equal(wantAt) {
			t.Errorf("entry %d at %v, want %v", e.Version, e.Fecha, wantAt)
		}
	}
}

// A Kafka caller with no principal is recorded with the client id it
// gave, and one with neither as nobody: never as someone else.
func TestAuditEntryAuthorFromKafkaMeta(t *testing.T) {
	f := newAudit(nil)
	ctx := handlers.WithPrincipal(context.Background(), handlers.Principal{ClientID: "ventas"})
	c, err := f.svc.Crear(ctx, valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Eliminar(context.Background(), c.ID, key("d1")); err != nil {
		t.Fatal(err)
	}
	got := f.entries(t, c.ID)
	if got[1].Autor != (handlers.Principal{ClientID: "ventas"}) || got[0].Autor != (handlers.Principal{}) {
		t.Fatalf("authors %+v, %+v", got[1].Autor, got[0].Autor)
	}
}

func TestAnonimizar(t *testing.T) {
	f := newAudit(nil)
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	renamed := valid()
	renamed.Nombre = ptr("Ana María")
	if _, err := f.svc.Actualizar(as("beto"), c.ID, renamed, key("u1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.hist.RegistrarCompra(context.Background(), handlers.Compra{VentaID: "V-1", ClienteID: c.ID, Fecha: clock,
		Total: handlers.Importe{Minor: 14990, Moneda: "PEN"}, Items: 2, Registrada: true}); err != nil {
		t.Fatal(err)
	}
	anon, err := f.svc.Anonimizar(as("admin"), c.ID, key("a1"))
	if err != nil {
		t.Fatal(err)
	}
	placeholder := handlers.Anonimo(c.ID)
	if anon.ID != c.ID || anon.DNI != placeholder.DNI || anon.Email != placeholder.Email || anon.Nombre != "" || anon.Apellido != "" ||
		anon.Telefono != "" || anon.Direccion != "" || anon.Activo || !anon.Anonimizado || anon.Version != 3 || !anon.FechaRegistro.Equal(c.FechaRegistro) {
		t.Fatalf("anonymised customer %+v", anon)
	}
	// The trail keeps who changed which field when, not the values.
	want := []string{
		"3 anonimizado admin/consola dni:* nombre:* apellido:* email:* telefono:* direccion:* activo:true>false",
		"2 actualizado beto/consola nombre:*",
		"1 registrado ana/consola dni:* nombre:* apellido:* email:* telefono:* direccion:* activo:<nil>>true",
	}
	if got := summary(f.entries(t, c.ID)); !reflect.DeepEqual(got, want) {
		t.Fatalf("trail\n got %q\nwant %q", got, want)
	}
	raw, _ := json.Marshal(f.entries(t, c.ID))
	for _, personal := range []string{`"10117410"`, `"Ana"`, `"Ana María"`, `"Quispe"`, `"ana@example.pe"`, `"+51987654321"`, `"Av. Lima 1"`} {
		if strings.Contains(string(raw), personal) {
			t.Errorf("the trail still holds %q: %s", personal, raw)
		}
	}
	// Idempotent: again is a no-op returning the customer; the retry of
	// the same request gets the first answer.
	again, err := f.svc.Anonimizar(as("admin"), c.ID, key("a2"))
	if err != nil || again.Version != 3 {
		t.Fatalf("anonymising again: %+v, %v", again, err)
	}
	if n := len(f.entries(t, c.ID)); n != 3 {
		t.Fatalf("%d entries after anonymising again, want 3", n)
	}
	// It can never change again, nor be reactivated; its dni and email are
	// free for a new customer; its purchases stay.
	if _, err := f.svc.Actualizar(as("beto"), c.ID, valid(), key("u2")); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("updating an anonymised customer: %v, want conflict", err)
	}
	if _, err := f.svc.Crear(as("ana"), valid(), key("c2")); err != nil {
		t.Fatalf("registering the freed dni and email again: %v", err)
	}
	if h, err := f.svc.Compras(context.Background(), c.ID, nil, ""); err != nil || len(h.Compras) != 1 {
		t.Fatalf("purchases after anonymising: %+v, %v", h, err)
	}
	// A placeholder can never be registered by anyone.
	d := valid()
	d.DNI, d.Email = ptr("20117410"), ptr(placeholder.Email)
	if _, err := f.svc.Crear(as("ana"), d, key("c3")); handlers.ErrorCode(err) != handlers.CodeInvalid {
		t.Fatalf("registering a placeholder email: %v, want invalid", err)
	}
	if _, err := f.svc.Anonimizar(as("admin"), 999, key("a3")); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("anonymising a missing customer: %v", err)
	}
}

// failAuditOnce loses the first audit entry (or the first erasure), as a
// crash right after the change would.
type failAuditOnce struct {
	handlers.Auditoria
	failed bool
}

func (f *failAuditOnce) Add(ctx context.Context, e handlers.EntradaAuditoria) error {
	if !f.failed {
		f.failed = true
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return f.Auditoria.Add(ctx, e)
}

func (f *failAuditOnce) Borrar(ctx context.Context, id int64) error {
	if !f.failed {
		f.failed = true
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return f.Auditoria.Borrar(ctx, id)
}

// No change without its audit entry: a command whose entry was lost after
// the change is redelivered, finds its change applied, and records the
// entry it missed, once, with the author and time of the change itself.
func TestCrashBetweenChangeAndAuditEntryLosesNone(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *auditFixture, ctx context.Context, id int64) (handlers.Cliente, error)
		want string
	}{
		{"crear", nil, "1 registrado"},
		{"actualizar", func(f *auditFixture, ctx context.Context, id int64) (handlers.Cliente, error) {
			d := valid()
			d.Nombre = ptr("Ana María")
			return f.svc.Actualizar(ctx, id, d, key("k"))
		}, "2 actualizado"},
		{"eliminar", func(f *auditFixture, ctx context.Context, id int64) (handlers.Cliente, error) {
			return f.svc.Eliminar(ctx, id, key("k"))
		}, "2 desactivado"},
		{"anonimizar", func(f *auditFixture, ctx context.Context, id int64) (handlers.Cliente, error) {
			return f.svc.Anonimizar(ctx, id, key("k"))
		}, "2 anonimizado"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail := &failAuditOnce{}
			f := newAudit(func(a handlers.Auditoria) handlers.Auditoria { fail.Auditoria = a; return fail })
			run := tc.run
			id := int64(1)
			if run == nil {
				run = func(f *auditFixture, ctx context.Context, _ int64) (handlers.Cliente, error) {
					return f.svc.Crear(ctx, valid(), key("k"))
				}
			} else {
				fail.failed = true // the create goes through
				c, err := f.svc.Crear(as("ana"), valid(), key("c"))
				if err != nil {
					t.Fatal(err)
				}
				id = c.ID
				fail.failed = false
			}
			changedAt := f.now.Truncate(time.Millisecond)
			if _, err := run(f, as("first"), id); handlers.ErrorCode(err) != handlers.CodeUnavailable {
				t.Fatalf("first try: %v, want the crash", err)
			}
			f.now = f.now.Add(10 * time.Minute) // the redelivery comes later, within the idempotency TTL
			first, err := run(f, as("first"), id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := run(f, as("first"), id); err != nil {
				t.Fatal(err)
			}
			got := f.entries(t, id)
			if len(got) != int(first.Version) {
				t.Fatalf("%d entries for version %d: %q", len(got), first.Version, summary(got))
			}
			newest := got[0]
			if head := fmt.Sprintf("%d %s", newest.Version, newest.Tipo); head != tc.want || newest.Autor.Subject != "first" || !newest.Fecha.Equal(changedAt) {
				t.Fatalf("newest entry %q by %+v at %v, want %q by first at %v", head, newest.Autor, newest.Fecha, tc.want, changedAt)
			}
			if cur, _ := f.store.Get(context.Background(), id); cur.Version != first.Version {
				t.Fatalf("the change was applied twice: %+v", cur)
			}
		})
	}
}

func TestAuditoriaPaging(t *testing.T) {
	f := newAudit(nil)
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // versions 2..5
		if _, err := f.svc.Eliminar(as("ana"), c.ID, key(fmt.Sprint("d", i))); err != nil {
			t.Fatal(err)
		}
		d := valid()
		d.Activo = ptr(true)
		if i < 3 {
			if _, err := f.svc.Actualizar(as("ana"), c.ID, d, key(fmt.Sprint("u", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	var seen []int64
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := f.svc.Auditoria(ctx, c.ID, ptr(3), cursor)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %+v, %v", pages, p, err)
		}
		for _, e := range p.Entradas {
			seen = append(seen, e.Version)
		}
		if cursor = p.Siguiente; cursor == "" {
			break
		}
	}
	if fmt.Sprint(seen) != "[8 7 6 5 4 3 2 1]" {
		t.Fatalf("versions over the pages: %v", seen)
	}
	for _, tc := range []struct {
		id     int64
		limite *int
		cursor string
		code   handlers.Code
		field  string
	}{
		{0, nil, "", handlers.CodeInvalid, "id"},
		{c.ID, ptr(0), "", handlers.CodeInvalid, "limite"},
		{c.ID, ptr(handlers.MaxLimiteAuditoria + 1), "", handlers.CodeInvalid, "limite"},
		{c.ID, nil, "not-a-cursor", handlers.CodeInvalid, "cursor"},
		{999, nil, "", handlers.CodeNotFound, ""},
	} {
		_, err := f.svc.Auditoria(ctx, tc.id, tc.limite, tc.cursor)
		e := handlers.AsError(err)
		if e == nil || e.Code != tc.code || (tc.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.field)) {
			t.Errorf("Auditoria(%d, %v, %q) = %v, want %s on %q", tc.id, tc.limite, tc.cursor, err, tc.code, tc.field)
		}
	}
}

func TestDatos(t *testing.T) {
	f := newAudit(nil)
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Eliminar(as("beto"), c.ID, key("d1")); err != nil {
		t.Fatal(err)
	}
	for i, day := range []int{3, 1, 2} {
		if _, _, err := f.hist.RegistrarCompra(context.Background(), handlers.Compra{VentaID: fmt.Sprint("V-", i), ClienteID: c.ID,
			Fecha: clock.AddDate(0, 0, -day), Total: handlers.Importe{Minor: 1000, Moneda: "PEN"}, Items: 1, Registrada: true}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.svc.Datos(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ventas []string
	for _, p := range d.Compras {
		ventas = append(ventas, p.VentaID)
	}
	if d.Cliente.ID != c.ID || d.Cliente.Activo || !d.Completo || fmt.Sprint(ventas) != "[V-1 V-2 V-0]" ||
		fmt.Sprint(summary(d.Auditoria)) != fmt.Sprint(summary(f.entries(t, c.ID))) || len(d.Auditoria) != 2 {
		t.Fatalf("datos %+v", d)
	}
	if _, err := f.svc.Datos(context.Background(), 999); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("datos of a missing customer: %v", err)
	}
}

// oldWorkerStore writes changes as a worker from before the audit trail
// did: without the change's record.
type oldWorkerStore struct{ *memstore.Store }

func (s oldWorkerStore) Insert(ctx context.Context, c handlers.Campos, f time.Time, cambio handlers.Cambio) (handlers.Cliente, error) {
	cambio.Registro = nil
	return s.Store.Insert(ctx, c, f, cambio)
}

// A change without its record on the customer still gets its entry,
// dated when it is recorded, with no author rather than a made-up one.
func TestAuditEntryOfAChangeWithoutRecord(t *testing.T) {
	f := newAudit(nil)
	f.svc = memstore.Service(handlers.Deps{Store: oldWorkerStore{f.store}, Auditoria: f.trail, Now: func() time.Time { return f.now }})
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	got := f.entries(t, c.ID)
	if len(got) != 1 || got[0].Tipo != handlers.CambioRegistrado || !got[0].Fecha.Equal(clock.Truncate(time.Millisecond)) ||
		got[0].Autor != (handlers.Principal{}) || len(got[0].Campos) != 0 {
		t.Fatalf("entries %+v", got)
	}
}

// Whatever a customer holds, its data export fits in a broker record: the
// oldest purchases and entries are left out, and it says so.
func TestDatosIsBounded(t *testing.T) {
	f := newAudit(nil)
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 6000 {
		if _, _, err := f.hist.RegistrarCompra(ctx, handlers.Compra{VentaID: fmt.Sprintf("VENTA-%058d", i), ClienteID: c.ID,
			Fecha: clock.Add(time.Duration(i) * time.Minute), Total: handlers.Importe{Minor: 1000, Moneda: "PEN"}, Items: 1, Registrada: true}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.svc.Datos(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(d)
	if d.Completo || len(raw) > 768<<10 || len(d.Compras) == 0 || len(d.Auditoria) != 1 ||
		d.Compras[0].VentaID != fmt.Sprintf("VENTA-%058d", 5999) {
		t.Fatalf("%d bytes, completo %v, %d purchases (newest %s), %d entries", len(raw), d.Completo, len(d.Compras), d.Compras[0].VentaID, len(d.Auditoria))
	}
}

// countingTrail counts the pages read.
type countingTrail struct {
	handlers.Auditoria
	pages int
}

func (c *countingTrail) Pagina(ctx context.Context, id, antesDe int64, limite int) ([]handlers.EntradaAuditoria, error) {
	c.pages++
	return c.Auditoria.Pagina(ctx, id, antesDe, limite)
}

// A customer with a very long trail does not make the export read all
// of it: only what can fit.
func TestDatosReadsOnlyWhatFits(t *testing.T) {
	counting := &countingTrail{}
	f := newAudit(func(a handlers.Auditoria) handlers.Auditoria { counting.Auditoria = a; return counting })
	c, err := f.svc.Crear(as("ana"), valid(), key("c1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for v := int64(2); v <= 10_000; v++ {
		if err := f.trail.Add(ctx, handlers.EntradaAuditoria{ClienteID: c.ID, Version: v, Tipo: handlers.CambioActualizado, Fecha: clock}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.svc.Datos(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Completo || d.Auditoria[0].Version != 10_000 || counting.pages > 80 {
		t.Fatalf("completo %v, newest entry %d, %d pages read (of 100); want incomplete, newest first, at most 80", d.Completo, d.Auditoria[0].Version, counting.pages)
	}
}
