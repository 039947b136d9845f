package memstore

import (
	"time"

	"github.com/jea/cliente/handlers"
)

// Service returns a handlers.Service over d, with an in-memory store for
// each dependency d leaves nil, time.Now as the clock and a 24 h
// idempotency TTL unless d says otherwise. It panics on error: it is for
// tests and examples.
func Service(d handlers.Deps) *handlers.Service {
	if d.Store == nil {
		d.Store = New()
	}
	if d.Historial == nil {
		d.Historial = NewHistorial()
	}
	if d.Outbox == nil {
		d.Outbox = NewOutbox()
	}
	if d.Idempotency == nil {
		d.Idempotency = NewIdempotency()
	}
	if d.Reportes == nil {
		d.Reportes = NewReportes()
	}
	if d.IdempotencyTTL == 0 {
		d.IdempotencyTTL = handlers.DefaultIdempotencyTTL
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	svc, err := handlers.NewService(d)
	if err != nil {
		panic(err)
	}
	return svc
}
