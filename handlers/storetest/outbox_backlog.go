package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// BacklogOutbox is an outbox that can tell its backlog, for the worker's
// outbox metrics.
type BacklogOutbox interface {
	handlers.Outbox
	Backlog(ctx context.Context) (int64, time.Time, error)
}

// RunOutboxBacklog checks Backlog on an empty outbox made by newOutbox:
// nothing, then the count and the oldest recording time of what waits,
// and nothing again once all is published.
func RunOutboxBacklog(t *testing.T, newOutbox func(t *testing.T) BacklogOutbox) {
	o := newOutbox(t)
	ctx := context.Background()
	want := func(n int64, oldest time.Time) {
		t.Helper()
		gotN, gotOldest, err := o.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gotN != n || !gotOldest.Equal(oldest) {
			t.Fatalf("Backlog = %d, %v; want %d, %v", gotN, gotOldest, n, oldest)
		}
	}
	want(0, time.Time{})
	// Added out of time order: the oldest is not the first added.
	e3, e1, e2 := evento(3, 1, handlers.CambioRegistrado), evento(1, 1, handlers.CambioRegistrado), evento(1, 2, handlers.CambioActualizado)
	e1.Registrado = e3.Registrado.Add(-time.Minute)
	for _, e := range []handlers.Evento{e3, e1, e2} {
		if err := o.Add(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	want(3, e1.Registrado)
	if err := o.Delete(ctx, []string{e1.ID}); err != nil {
		t.Fatal(err)
	}
	want(2, e3.Registrado)
	if err := o.Delete(ctx, []string{e2.ID, e3.ID}); err != nil {
		t.Fatal(err)
	}
	want(0, time.Time{})
}
