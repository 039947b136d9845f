package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
)

// Idempotencia is an in-memory handlers.Idempotencia for tests.
type Idempotencia struct {
	mu   sync.Mutex
	recs map[string]handlers.Registro
}

var _ handlers.Idempotencia = (*Idempotencia)(nil)

// NewIdempotencia returns an empty record store.
func NewIdempotencia() *Idempotencia {
	return &Idempotencia{recs: map[string]handlers.Registro{}}
}

func (s *Idempotencia) Begin(ctx context.Context, key, hash string, now time.Time, ttl time.Duration) (handlers.Registro, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.recs[key]; ok && rec.Creado.After(now.Add(-ttl)) {
		return rec, false, nil
	}
	rec := handlers.Registro{Key: key, Hash: hash, Creado: now}
	s.recs[key] = rec
	return rec, true, nil
}

func (s *Idempotencia) Finish(ctx context.Context, key string, r handlers.Resultado) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[key]
	if !ok {
		return handlers.Errorf(handlers.CodeInternal, "no idempotency record to finish")
	}
	rec.Done, rec.Resultado = true, r
	s.recs[key] = rec
	return nil
}

func (s *Idempotencia) Expire(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, rec := range s.recs {
		if rec.Creado.Before(before) {
			delete(s.recs, k)
			n++
		}
	}
	return n, nil
}
