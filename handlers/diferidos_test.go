package handlers_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// diferidoFixture is a service with Diferir and the relay that records
// what its changes leave to it.
type diferidoFixture struct {
	svc       *handlers.Service
	store     *memstore.Store
	outbox    *memstore.Outbox
	auditoria *memstore.Auditoria
	reportes  *memstore.Reportes
	idem      *memstore.Idempotency
	relay     handlers.Relay
	pub       *eventPublisher
	now       time.Time
}

// eventPublisher keeps what it publishes, and fails while fail is set.
type eventPublisher struct {
	fail      bool
	published []handlers.Evento
}

func (p *eventPublisher) Publish(ctx context.Context, events []handlers.Evento) error {
	if p.fail {
		return handlers.Errorf(handlers.CodeUnavailable, "broker down")
	}
	p.published = append(p.published, events...)
	return nil
}

// failingReportes fails Avisar once when fail is set, as a relay that
// crashed half way through its records would.
type failingReportes struct {
	handlers.ReportesStore
	fail bool
}

func (r *failingReportes) Avisar(ctx context.Context, avisos ...handlers.Aviso) error {
	if r.fail {
		r.fail = false
		return errors.New("crashed")
	}
	return r.ReportesStore.Avisar(ctx, avisos...)
}

func newDiferido(outbox func(*memstore.Outbox) handlers.Outbox, reportes func(handlers.ReportesStore) handlers.ReportesStore) *diferidoFixture {
	f := &diferidoFixture{store: memstore.New(), outbox: memstore.NewOutbox(), auditoria: memstore.NewAuditoria(),
		reportes: memstore.NewReportes(), idem: memstore.NewIdempotency(), pub: &eventPublisher{}, now: clock}
	var o handlers.Outbox = f.outbox
	if outbox != nil {
		o = outbox(f.outbox)
	}
	var r handlers.ReportesStore = f.reportes
	if reportes != nil {
		r = reportes(f.reportes)
	}
	now := func() time.Time { return f.now }
	f.svc = memstore.Service(handlers.Deps{Store: f.store, Outbox: o, Auditoria: f.auditoria, Reportes: f.reportes,
		Idempotency: f.idem, IdempotencyTTL: time.Hour, Now: now, Diferir: true})
	f.relay = handlers.Relay{Outbox: f.outbox, Publisher: f.pub, Now: now, Lease: time.Minute, Batch: 100,
		Registros: &handlers.Registros{Auditoria: f.auditoria, Reportes: r, Idempotency: f.idem}}
	return f
}

// newCreado is a fixture with a customer created under key "k".
func newCreado(t *testing.T) (*diferidoFixture, handlers.Cliente) {
	t.Helper()
	f := newDiferido(nil, nil)
	c, err := f.svc.Crear(context.Background(), valid(), key("k"))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// relayRound runs one round after the lease of any failed one.
func (f *diferidoFixture) relayRound(t *testing.T) (int, error) {
	t.Helper()
	f.now = f.now.Add(2 * time.Minute)
	return f.relay.RunOnce(context.Background())
}

// check asserts that every change of the customer has exactly one audit
// entry, one notice and one published event, and that key's record is
// finished with want.
func (f *diferidoFixture) check(t *testing.T, want handlers.Cliente, key string, versions int) {
	t.Helper()
	ctx := context.Background()
	entradas, err := f.auditoria.Pagina(ctx, want.ID, 0, 100)
	if err != nil || len(entradas) != versions {
		t.Fatalf("audit entries %+v, %v; want %d", entradas, err, versions)
	}
	avisos, err := f.reportes.Avisos(ctx, 100)
	if err != nil || len(avisos) != versions {
		t.Fatalf("notices %+v, %v; want %d", avisos, err, versions)
	}
	var ids []string
	for _, e := range f.pub.published {
		if e.Cliente.LastOp != "" || e.Cliente.Registro != nil || e.Diferido {
			t.Fatalf("published with the relay's records: %+v", e)
		}
		ids = append(ids, e.ID)
	}
	if len(ids) != versions || len(slices.Compact(slices.Clone(ids))) != versions {
		t.Fatalf("published %v, want %d distinct events", ids, versions)
	}
	if n := len(f.outbox.Pending()); n != 0 {
		t.Fatalf("%d events left in the outbox", n)
	}
	rec, started, err := f.idem.Begin(ctx, key, "", f.now, time.Hour)
	if err != nil || started || !rec.Done || rec.Resultado.Cliente == nil || rec.Resultado.Cliente.ID != want.ID ||
		rec.Resultado.Cliente.Version != want.Version {
		t.Fatalf("idempotency record %+v, %v, %v; want done with %+v", rec, started, err, want)
	}
}

// A create writes its customer and its event only; the relay records the
// rest once, and a retry before and after the relay gets the same answer,
// also when the customer has changed since.
func TestDiferidoCrear(t *testing.T) {
	ctx := context.Background()
	f, c := newCreado(t)
	if e, _ := f.auditoria.Pagina(ctx, c.ID, 0, 10); len(e) != 0 {
		t.Fatalf("the command recorded audit entries itself: %+v", e)
	}
	d := valid()
	d.Nombre = ptr("Ana María")
	if _, err := f.svc.Actualizar(ctx, c.ID, d, key("u")); err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Crear(ctx, valid(), key("k"))
	if err != nil || again.ID != c.ID || again.Version != 1 || again.Nombre != "Ana" {
		t.Fatalf("retry before the relay: %+v, %v; want %+v", again, err, c)
	}
	if _, err := f.svc.Crear(ctx, d, key("k")); handlers.ErrorCode(err) != handlers.CodeInvalid {
		t.Fatalf("the key with another request: %v, want invalid", err)
	}
	if n, err := f.relayRound(t); err != nil || n != 2 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	f.check(t, c, "k", 2)
	again, err = f.svc.Crear(ctx, valid(), key("k"))
	if err != nil || again.ID != c.ID || again.Version != 1 {
		t.Fatalf("retry after the relay: %+v, %v; want %+v", again, err, c)
	}
}

// A crash between the customer's write and its event: the redelivered
// command records the event, and the relay everything else.
func TestDiferidoCrashBetweenChangeAndEvent(t *testing.T) {
	ctx := context.Background()
	fail := &failAddOnce{}
	f := newDiferido(func(o *memstore.Outbox) handlers.Outbox { fail.Outbox = o; return fail }, nil)
	if _, err := f.svc.Crear(ctx, valid(), key("k")); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first delivery: %v, want the crash", err)
	}
	c, err := f.svc.Crear(ctx, valid(), key("k"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.relayRound(t); err != nil || n != 1 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	f.check(t, c, "k", 1)
	if cur, _ := f.store.Get(ctx, c.ID); cur.Version != 1 {
		t.Fatalf("applied twice: %+v", cur)
	}
}

// A relay that crashes half way through its records, or whose publish
// fails, leaves the events to the next round, which records what is
// missing once.
func TestDiferidoRelayCrash(t *testing.T) {
	ctx := context.Background()
	rep := &failingReportes{}
	f := newDiferido(nil, func(r handlers.ReportesStore) handlers.ReportesStore { rep.ReportesStore = r; return rep })
	c, err := f.svc.Crear(ctx, valid(), key("k"))
	if err != nil {
		t.Fatal(err)
	}
	rep.fail = true
	if n, err := f.relayRound(t); err == nil || n != 0 {
		t.Fatalf("crashed relay: %d, %v; want an error", n, err)
	}
	f.pub.fail = true
	if _, err := f.relayRound(t); err == nil {
		t.Fatal("broker down: want an error")
	}
	// Still answered the same meanwhile.
	if again, err := f.svc.Crear(ctx, valid(), key("k")); err != nil || again.ID != c.ID {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	f.pub.fail = false
	if n, err := f.relayRound(t); err != nil || n != 1 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	f.check(t, c, "k", 1)
}

// The audit trail shows a change as soon as it is answered, before the
// relay ran; an anonymisation erases the entries recorded with it, in the
// same batch.
func TestDiferidoAuditoria(t *testing.T) {
	ctx := context.Background()
	f, c := newCreado(t)
	page, err := f.svc.Auditoria(ctx, c.ID, nil, "")
	if err != nil || len(page.Entradas) != 1 || page.Entradas[0].Tipo != handlers.CambioRegistrado {
		t.Fatalf("audit trail before the relay: %+v, %v", page, err)
	}
	d := valid()
	d.Nombre = ptr("Ana María")
	if _, err := f.svc.Actualizar(ctx, c.ID, d, key("u")); err != nil {
		t.Fatal(err)
	}
	anon, err := f.svc.Anonimizar(ctx, c.ID, key("a"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.relayRound(t); err != nil || n != 3 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	f.check(t, anon, "a", 3)
	entradas, _ := f.auditoria.Pagina(ctx, c.ID, 0, 10)
	for _, e := range entradas {
		for _, campo := range e.Campos {
			if campo.Despues == "Ana" || campo.Antes == "Ana" || campo.Despues == "Ana María" {
				t.Fatalf("a personal value survived the anonymisation: %+v", e)
			}
		}
	}
}

// A relay without Registros keeps events whose records it cannot make.
func TestRelayWithoutRegistros(t *testing.T) {
	f, _ := newCreado(t)
	f.relay.Registros = nil
	if n, err := f.relayRound(t); err == nil || n != 0 || len(f.outbox.Pending()) != 1 || len(f.pub.published) != 0 {
		t.Fatalf("relay without Registros: %d, %v; want an error, the event kept", n, err)
	}
}
