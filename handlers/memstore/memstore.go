// Package memstore is an in-memory handlers.Store for tests and examples.
// It passes the same contract suite (handlers/storetest) as the MongoDB
// repository, so it cannot drift from it.
package memstore

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
)

// Store keeps customers in a map guarded by a mutex.
type Store struct {
	mu       sync.Mutex
	lastID   int64
	byID     map[int64]handlers.Cliente
	idByDNI  map[string]int64
	idByMail map[string]int64
}

var _ handlers.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		byID:     map[int64]handlers.Cliente{},
		idByDNI:  map[string]int64{},
		idByMail: map[string]int64{},
	}
}

func (s *Store) Insert(ctx context.Context, c handlers.Campos, fecha time.Time, cambio handlers.Cambio) (handlers.Cliente, error) {
	if err := ctx.Err(); err != nil {
		return handlers.Cliente{}, handlers.Wrap(handlers.CodeUnavailable, err, "request cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkUnique(0, c); err != nil {
		return handlers.Cliente{}, err
	}
	s.lastID++
	cl := handlers.Cliente{ID: s.lastID, FechaRegistro: fecha, Activo: true, Version: 1, LastOp: cambio.IdempotencyKey,
		Cambio: handlers.CambioRegistrado, Registro: cambio.Registro}
	c.Aplicar(&cl)
	s.store(cl, handlers.Cliente{})
	return cl, nil
}

func (s *Store) Replace(ctx context.Context, id int64, c handlers.Campos, activo *bool, cond handlers.Cambio) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.current(id, cond)
	if err != nil {
		return handlers.Cliente{}, err
	}
	if err := s.checkUnique(id, c); err != nil {
		return handlers.Cliente{}, err
	}
	cl := old
	c.Aplicar(&cl)
	if activo != nil {
		cl.Activo = *activo
	}
	cl.Cambio = handlers.CambioDeEstado(old.Activo, cl.Activo)
	cl.Version++
	cl.LastOp, cl.Registro = cond.IdempotencyKey, cond.Registro
	s.store(cl, old)
	return cl, nil
}

func (s *Store) SetActivo(ctx context.Context, id int64, activo bool, cond handlers.Cambio) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, err := s.current(id, cond)
	if err != nil {
		return handlers.Cliente{}, err
	}
	if cl.Activo != activo {
		cl.Cambio = handlers.CambioDeEstado(cl.Activo, activo)
		cl.Activo = activo
		cl.Version++
		cl.LastOp, cl.Registro = cond.IdempotencyKey, cond.Registro
		s.byID[id] = cl
	}
	return cl, nil
}

func (s *Store) Anonimizar(ctx context.Context, id int64, c handlers.Campos, cond handlers.Cambio) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.current(id, cond)
	if err != nil {
		return handlers.Cliente{}, err
	}
	if old.Anonimizado {
		return old, nil
	}
	cl := old
	c.Aplicar(&cl)
	cl.Activo, cl.Anonimizado, cl.Cambio = false, true, handlers.CambioAnonimizado
	cl.Version++
	cl.LastOp, cl.Registro = cond.IdempotencyKey, cond.Registro
	s.store(cl, old)
	return cl, nil
}

func (s *Store) Get(ctx context.Context, id int64) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookup(id, true)
}

func (s *Store) GetByDNI(ctx context.Context, dni string) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.idByDNI[dni]
	return s.lookup(id, ok)
}

func (s *Store) GetByEmail(ctx context.Context, email string) (handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.idByMail[email]
	return s.lookup(id, ok)
}

func (s *Store) List(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []handlers.Cliente{}
	for _, cl := range s.byID {
		if cl.ID > f.DespuesDeID && f.Matches(cl) {
			out = append(out, cl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if f.Limite > 0 && len(out) > f.Limite {
		out = out[:f.Limite]
	}
	return out, nil
}

// current returns customer id if it satisfies cond, for a change to it.
func (s *Store) current(id int64, cond handlers.Cambio) (handlers.Cliente, error) {
	cl, ok := s.byID[id]
	if !ok {
		return handlers.Cliente{}, notFound()
	}
	return cl, cond.Check(cl.Version)
}

func (s *Store) lookup(id int64, ok bool) (handlers.Cliente, error) {
	cl, found := s.byID[id]
	if !ok || !found {
		return handlers.Cliente{}, notFound()
	}
	return cl, nil
}

// checkUnique reports a conflict if dni or email belongs to a customer other
// than self (0 for a new customer). dni is checked first, as MongoDB would
// report the first index it breaks.
func (s *Store) checkUnique(self int64, c handlers.Campos) error {
	if id, ok := s.idByDNI[c.DNI]; ok && id != self {
		return handlers.Conflict("dni")
	}
	if id, ok := s.idByMail[c.Email]; ok && id != self {
		return handlers.Conflict("email")
	}
	return nil
}

func (s *Store) store(cl, old handlers.Cliente) {
	delete(s.idByDNI, old.DNI)
	delete(s.idByMail, old.Email)
	s.byID[cl.ID] = cl
	s.idByDNI[cl.DNI] = cl.ID
	s.idByMail[cl.Email] = cl.ID
}

func notFound() error { return handlers.Errorf(handlers.CodeNotFound, "customer not found") }
