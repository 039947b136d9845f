// Package idempotencytest is the contract every handlers.IdempotencyStore
// passes, the in-memory one and the MongoDB one alike.
package idempotencytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

const ttl = 24 * time.Hour

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Run runs the contract against stores from newStore, each empty.
func Run(t *testing.T, newStore func(t *testing.T) handlers.IdempotencyStore) {
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	t.Run("BeginFinishReplay", func(t *testing.T) {
		s := newStore(t)
		rec, started, err := s.Begin(ctx(t), "k1", "h1", t0, ttl)
		if err != nil || !started {
			t.Fatalf("first Begin = %+v, %v, %v", rec, started, err)
		}
		rec, started, err = s.Begin(ctx(t), "k1", "h1", t0.Add(time.Minute), ttl)
		if err != nil || started || rec.Done || rec.Hash != "h1" || rec.Key != "k1" {
			t.Fatalf("Begin while pending = %+v, %v, %v", rec, started, err)
		}
		c := handlers.Cliente{ID: 7, DNI: "10117410", Email: "a@b.pe", Activo: true, Version: 2,
			FechaRegistro: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)}
		if err := s.Finish(ctx(t), "k1", handlers.StoredResult{Cliente: &c}); err != nil {
			t.Fatal(err)
		}
		rec, started, err = s.Begin(ctx(t), "k1", "other", t0.Add(time.Hour), ttl)
		if err != nil || started || !rec.Done || rec.Hash != "h1" {
			t.Fatalf("Begin after Finish = %+v, %v, %v", rec, started, err)
		}
		got, gerr := rec.Resultado.Unpack()
		if gerr != nil || got.ID != 7 || got.Version != 2 || !got.FechaRegistro.Equal(c.FechaRegistro) {
			t.Fatalf("replayed %+v, %v", got, gerr)
		}
	})
	t.Run("ErrorResults", func(t *testing.T) {
		s := newStore(t)
		s.Begin(ctx(t), "k2", "h", t0, ttl)
		if err := s.Finish(ctx(t), "k2", handlers.StoredResult{Code: handlers.CodeConflict, Message: "m",
			Fields: []handlers.FieldError{{Field: "dni", Message: "already in use"}}}); err != nil {
			t.Fatal(err)
		}
		rec, _, err := s.Begin(ctx(t), "k2", "h", t0, ttl)
		if err != nil {
			t.Fatal(err)
		}
		_, uerr := rec.Resultado.Unpack()
		e := handlers.AsError(uerr)
		if e == nil || e.Code != handlers.CodeConflict || len(e.Fields) != 1 || e.Fields[0].Field != "dni" {
			t.Fatalf("replayed error %#v", uerr)
		}
	})
	t.Run("ExpiredRecordsAreReplacedAndSwept", func(t *testing.T) {
		s := newStore(t)
		s.Begin(ctx(t), "old", "h", t0, ttl)
		s.Finish(ctx(t), "old", handlers.StoredResult{Code: handlers.CodeNotFound, Message: "m"})
		s.Begin(ctx(t), "young", "h", t0.Add(ttl), ttl)
		// Just inside the TTL the old record still answers.
		if _, started, _ := s.Begin(ctx(t), "old", "h2", t0.Add(ttl-time.Second), ttl); started {
			t.Fatal("record replaced before its TTL")
		}
		n, err := s.Expire(ctx(t), t0.Add(time.Second))
		if err != nil || n != 1 {
			t.Fatalf("Expire = %d, %v; want 1", n, err)
		}
		if _, started, _ := s.Begin(ctx(t), "young", "h", t0.Add(ttl), ttl); started {
			t.Fatal("Expire removed a young record")
		}
		rec, started, err := s.Begin(ctx(t), "old", "h2", t0.Add(ttl+time.Second), ttl)
		if err != nil || !started {
			t.Fatalf("Begin on a swept key = %+v, %v, %v", rec, started, err)
		}
		// A record past its TTL is replaced even if not yet swept.
		s.Begin(ctx(t), "stale", "h", t0, ttl)
		if _, started, err := s.Begin(ctx(t), "stale", "h3", t0.Add(ttl+time.Minute), ttl); err != nil || !started {
			t.Fatalf("Begin on an expired key: started=%v, %v", started, err)
		}
		if rec, _, _ := s.Begin(ctx(t), "stale", "h4", t0.Add(ttl+2*time.Minute), ttl); rec.Hash != "h3" {
			t.Fatalf("replaced record hash %q, want h3", rec.Hash)
		}
	})
	t.Run("ConcurrentBeginsStartOnce", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		var wg sync.WaitGroup
		started := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, started[i], errs[i] = s.Begin(ctx(t), "same", "h", t0, ttl)
			}()
		}
		wg.Wait()
		count := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if started[i] {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("%d of %d concurrent Begins started, want 1", count, n)
		}
	})
	t.Run("KeysAreOpaque", func(t *testing.T) {
		s := newStore(t)
		for i, k := range []string{`{"$ne":""}`, "$where", "a.b", "ñ/ü " + fmt.Sprint(1)} {
			if _, started, err := s.Begin(ctx(t), k, "h", t0, ttl); err != nil || !started {
				t.Fatalf("key %d %q: started=%v, %v", i, k, started, err)
			}
		}
	})
}
