package handlers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// slowBegin moves the clock on while the idempotency record is written:
// the deadline passes between the first write and the change.
type slowBegin struct {
	handlers.IdempotencyStore
	now *time.Time
}

func (s slowBegin) Begin(ctx context.Context, key, hash string, now time.Time, ttl time.Duration) (handlers.IdempotencyRecord, bool, error) {
	*s.now = s.now.Add(time.Second)
	return s.IdempotencyStore.Begin(ctx, key, hash, now, ttl)
}

func TestCommandsPastTheirDeadlineAreNotApplied(t *testing.T) {
	type fixture struct {
		svc   *handlers.Service
		store *memstore.Store
		now   *time.Time
	}
	newFixture := func(slow bool) fixture {
		now := clock
		f := fixture{store: memstore.New(), now: &now}
		var idem handlers.IdempotencyStore = memstore.NewIdempotency()
		if slow {
			idem = slowBegin{idem, f.now}
		}
		f.svc = memstore.Service(handlers.Deps{Store: f.store, Now: func() time.Time { return *f.now }, Idempotency: idem, IdempotencyTTL: time.Hour})
		return f
	}
	seeded := func(f fixture) handlers.Cliente {
		c, err := f.svc.Crear(context.Background(), valid(), handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	other := func() handlers.Datos {
		d := valid()
		d.DNI, d.Email = ptr("20000000"), ptr("otra@example.pe")
		return d
	}
	for _, tc := range []struct {
		name     string
		slow     bool          // the deadline passes during Begin
		deadline time.Duration // from the clock at the call
		key      string
		applied  bool
	}{
		{"before the deadline", false, time.Second, "", true},
		{"before the deadline, with a key", false, time.Second, "k", true},
		{"deadline passed while waiting", false, -time.Millisecond, "", false},
		{"deadline passed while waiting, with a key", false, -time.Millisecond, "k", false},
		{"deadline is now", false, 0, "k", false},
		{"deadline passed between the record and the change", true, 500 * time.Millisecond, "k", false},
	} {
		for _, op := range []string{"crear", "actualizar", "eliminar"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				f := newFixture(tc.slow)
				ctx := context.Background()
				var first handlers.Cliente
				if op != "crear" {
					first = seeded(f)
				}
				dctx := handlers.WithDeadline(ctx, f.now.Add(tc.deadline))
				cambio := handlers.Cambio{IdempotencyKey: tc.key}
				var err error
				switch op {
				case "crear":
					_, err = f.svc.Crear(dctx, other(), cambio)
				case "actualizar":
					_, err = f.svc.Actualizar(dctx, first.ID, other(), cambio)
				case "eliminar":
					_, err = f.svc.Eliminar(dctx, first.ID, cambio)
				}
				list, _ := f.store.List(ctx, handlers.Filtro{})
				changed := len(list) == 2 || (len(list) == 1 && list[0] != first)
				if tc.applied {
					if err != nil || !changed {
						t.Fatalf("err %v, changed %v: want applied", err, changed)
					}
					return
				}
				if !errors.Is(err, handlers.ErrDeadlinePassed) || handlers.ErrorCode(err) != handlers.CodeUnavailable {
					t.Fatalf("err = %v, want unavailable with ErrDeadlinePassed", err)
				}
				if changed {
					t.Fatalf("applied past the deadline: %+v", list)
				}
				if tc.key == "" || op != "crear" {
					return
				}
				// A retry with the same key and a new deadline applies it, once.
				for range 2 {
					if _, err := f.svc.Crear(handlers.WithDeadline(ctx, f.now.Add(10*time.Second)), other(), cambio); err != nil {
						t.Fatalf("retry: %v", err)
					}
				}
				if list, _ := f.store.List(ctx, handlers.Filtro{}); len(list) != 1 {
					t.Fatalf("%d customers after the retries, want 1", len(list))
				}
			})
		}
	}
}
