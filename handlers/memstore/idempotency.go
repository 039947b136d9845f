package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
)

// Idempotency is an in-memory handlers.Idempotency for tests.
type Idempotency struct {
	mu   sync.Mutex
	recs map[string]handlers.IdempotencyRecord
}

var _ handlers.IdempotencyStore = (*Idempotency)(nil)

// NewIdempotency returns an empty record store.
func NewIdempotency() *Idempotency {
	return &Idempotency{recs: map[string]handlers.IdempotencyRecord{}}
}

func (s *Idempotency) Begin(ctx context.Context, key, hash string, now time.Time, ttl time.Duration) (handlers.IdempotencyRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.recs[key]; ok && rec.Creado.After(now.Add(-ttl)) {
		return rec, false, nil
	}
	rec := handlers.IdempotencyRecord{Key: key, Hash: hash, Creado: now}
	s.recs[key] = rec
	return rec, true, nil
}

func (s *Idempotency) Finish(ctx context.Context, key string, r handlers.StoredResult) error {
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

func (s *Idempotency) Expire(ctx context.Context, before time.Time) (int, error) {
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
