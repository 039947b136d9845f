package repository

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// loseAdd fails the audit entries it is told to, as a crash right after
// the change would lose them.
type loseAdd struct {
	*Auditoria
	lose bool
}

func (l *loseAdd) Add(ctx context.Context, e handlers.EntradaAuditoria) error {
	if l.lose {
		l.lose = false
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return l.Auditoria.Add(ctx, e)
}

// On the real database, what the change's own write stores on the customer
// is enough to rebuild its lost audit entry: the redelivered command
// records it once, with the author, time and fields of the change itself.
func TestLostAuditEntryIsRebuiltFromTheCustomer(t *testing.T) {
	m := newStore(t, newDatabase(t))
	trail := &loseAdd{Auditoria: m.Auditoria()}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	svc, err := handlers.NewService(handlers.Deps{Store: m, Historial: m.Historial(), Outbox: m.Outbox(), Auditoria: trail,
		Idempotency: m.Idempotency(), IdempotencyTTL: time.Hour, Now: func() time.Time { return now }, Reportes: m.Reportes()})
	if err != nil {
		t.Fatal(err)
	}
	as := func(sub string) context.Context {
		return handlers.WithPrincipal(testCtx(t), handlers.Principal{Subject: sub, ClientID: "consola"})
	}
	ptr := func(s string) *string { return &s }
	d := handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}
	c, err := svc.Crear(as("ana"), d, handlers.Cambio{IdempotencyKey: "c"})
	if err != nil {
		t.Fatal(err)
	}
	d.Nombre = ptr("Ana María")
	trail.lose = true
	if _, err := svc.Actualizar(as("beto"), c.ID, d, handlers.Cambio{IdempotencyKey: "u"}); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first try: %v, want the crash", err)
	}
	changedAt := now
	now = now.Add(10 * time.Minute)
	// Whoever the retry claims to be, the entry is the change's.
	for range 2 {
		if _, err := svc.Actualizar(as("someone-else"), c.ID, d, handlers.Cambio{IdempotencyKey: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Auditoria().Pagina(testCtx(t), c.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2: %+v", len(got), got)
	}
	e := got[0]
	if e.Version != 2 || e.Tipo != handlers.CambioActualizado || e.Autor.Subject != "beto" || !e.Fecha.Equal(changedAt) ||
		len(e.Campos) != 1 || e.Campos[0] != (handlers.CampoCambiado{Campo: "nombre", Antes: "Ana", Despues: "Ana María"}) {
		t.Fatalf("rebuilt entry %+v", e)
	}
}
