package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

type idemFixture struct {
	svc   *handlers.Service
	store *memstore.Store
	idem  *memstore.Idempotency
	now   time.Time
}

func newIdem() *idemFixture {
	f := &idemFixture{store: memstore.New(), idem: memstore.NewIdempotency(), now: clock}
	f.svc = memstore.Service(handlers.Deps{Store: f.store, Now: func() time.Time { return f.now }, Idempotency: f.idem, IdempotencyTTL: 24 * time.Hour})
	return f
}

func key(k string) handlers.Cambio { return handlers.Cambio{IdempotencyKey: k} }

func TestRetriedCommandsReplayTheFirstResult(t *testing.T) {
	ctx := context.Background()
	f := newIdem()
	first, err := f.svc.Crear(ctx, valid(), key("k-crear"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Crear(ctx, valid(), key("k-crear"))
	if err != nil || again != first {
		t.Fatalf("retry = %+v, %v; want the first result %+v (not a conflict)", again, err, first)
	}
	if list, _ := f.store.List(ctx, handlers.Filtro{}); len(list) != 1 {
		t.Fatalf("%d customers after a retried create, want 1", len(list))
	}

	// Errors replay too: a create that conflicted conflicts again even if
	// the conflicting customer is gone from the way.
	dup := valid()
	dup.Email = ptr("otro@example.pe")
	_, err = f.svc.Crear(ctx, dup, key("k-dup"))
	if handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("duplicate dni: %v", err)
	}
	if _, err := f.svc.Actualizar(ctx, first.ID, func() handlers.Datos { d := valid(); d.DNI = ptr("20000000"); return d }(), key("k-move")); err != nil {
		t.Fatal(err)
	}
	if _, err = f.svc.Crear(ctx, dup, key("k-dup")); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("replayed duplicate: %v, want the first conflict", err)
	}

	// An update retried after a later change still answers as first time.
	d := valid()
	d.DNI, d.Nombre = ptr("20000000"), ptr("Segunda")
	upd, err := f.svc.Actualizar(ctx, first.ID, d, key("k-upd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Eliminar(ctx, first.ID, key("k-del")); err != nil {
		t.Fatal(err)
	}
	replay, err := f.svc.Actualizar(ctx, first.ID, d, key("k-upd"))
	if err != nil || replay != upd {
		t.Fatalf("replayed update %+v, %v; want %+v", replay, err, upd)
	}
	if cur, _ := f.store.Get(ctx, first.ID); cur.Activo || cur.Version != upd.Version+1 {
		t.Fatalf("replay changed the customer: %+v", cur)
	}
}

func TestKeyReusedForAnotherRequestIsRejected(t *testing.T) {
	ctx := context.Background()
	f := newIdem()
	if _, err := f.svc.Crear(ctx, valid(), key("k")); err != nil {
		t.Fatal(err)
	}
	other := valid()
	other.Nombre = ptr("Otra persona")
	_, err := f.svc.Crear(ctx, other, key("k"))
	if handlers.ErrorCode(err) != handlers.CodeInvalid || joined(fieldsOf(err)) != "idempotencyKey" {
		t.Fatalf("reused key: %v", err)
	}
	_, err = f.svc.Eliminar(ctx, 1, key("k"))
	if handlers.ErrorCode(err) != handlers.CodeInvalid {
		t.Fatalf("reused key on another command: %v", err)
	}
}

// failFinishOnce loses the first Finish, as a crash between the change and
// the idempotency record would.
type failFinishOnce struct {
	*memstore.Idempotency
	failed bool
}

func (f *failFinishOnce) Finish(ctx context.Context, key string, r handlers.StoredResult) error {
	if !f.failed {
		f.failed = true
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return f.Idempotency.Finish(ctx, key, r)
}

// failInsertOnce fails the first Insert before changing anything.
type failInsertOnce struct {
	*memstore.Store
	failed bool
}

func (f *failInsertOnce) Insert(ctx context.Context, c handlers.Campos, t time.Time, op handlers.Cambio) (handlers.Cliente, error) {
	if !f.failed {
		f.failed = true
		return handlers.Cliente{}, handlers.Errorf(handlers.CodeUnavailable, "database down")
	}
	return f.Store.Insert(ctx, c, t, op)
}

func TestRetryAfterCrashBetweenChangeAndRecord(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	idem := &failFinishOnce{Idempotency: memstore.NewIdempotency()}
	svc := memstore.Service(handlers.Deps{Store: store, Now: func() time.Time { return clock }, Idempotency: idem, IdempotencyTTL: time.Hour})

	if _, err := svc.Crear(ctx, valid(), key("k-crear")); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first attempt: %v, want the simulated crash", err)
	}
	c, err := svc.Crear(ctx, valid(), key("k-crear"))
	if err != nil || c.ID != 1 {
		t.Fatalf("retry = %+v, %v; want the customer the first attempt created", c, err)
	}
	if list, _ := store.List(ctx, handlers.Filtro{}); len(list) != 1 {
		t.Fatalf("%d customers, want 1", len(list))
	}

	idem.failed = false
	d := valid()
	d.Nombre = ptr("Cambiado")
	if _, err := svc.Actualizar(ctx, c.ID, d, key("k-upd")); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first update attempt: %v", err)
	}
	u, err := svc.Actualizar(ctx, c.ID, d, key("k-upd"))
	if err != nil || u.Version != 2 || u.Nombre != "Cambiado" {
		t.Fatalf("retried update = %+v, %v; want version 2 (applied once)", u, err)
	}
	// Finished now: a further retry replays without touching the store.
	if again, err := svc.Actualizar(ctx, c.ID, d, key("k-upd")); err != nil || again != u {
		t.Fatalf("second retry = %+v, %v", again, err)
	}
}

func TestRetryAfterCrashBeforeTheChange(t *testing.T) {
	ctx := context.Background()
	store := &failInsertOnce{Store: memstore.New()}
	svc := memstore.Service(handlers.Deps{Store: store, Now: func() time.Time { return clock }, Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour})
	if _, err := svc.Crear(ctx, valid(), key("k")); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first attempt: %v", err)
	}
	c, err := svc.Crear(ctx, valid(), key("k"))
	if err != nil || c.ID <= 0 {
		t.Fatalf("retry after a failed attempt = %+v, %v; want it applied now", c, err)
	}
}

func TestIdempotencyRecordsExpire(t *testing.T) {
	ctx := context.Background()
	f := newIdem()
	first, _ := f.svc.Crear(ctx, valid(), key("k"))
	f.now = f.now.Add(25 * time.Hour)
	if n, err := f.svc.ExpireIdempotency(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireIdempotency = %d, %v; want 1", n, err)
	}
	// After expiry the key is new again: the same create now conflicts.
	if _, err := f.svc.Crear(ctx, valid(), key("k")); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("create after expiry: %v, want a conflict with customer %d", err, first.ID)
	}
}
