package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/jea/cliente/handlers"
)

// Auditoria is an in-memory handlers.Auditoria.
type Auditoria struct {
	mu      sync.Mutex
	entries map[int64][]handlers.EntradaAuditoria // per customer, any order
}

var _ handlers.Auditoria = (*Auditoria)(nil)

// NewAuditoria returns an empty audit trail.
func NewAuditoria() *Auditoria {
	return &Auditoria{entries: map[int64][]handlers.EntradaAuditoria{}}
}

func (a *Auditoria) Add(ctx context.Context, e handlers.EntradaAuditoria) error {
	if err := ctx.Err(); err != nil {
		return handlers.Wrap(handlers.CodeUnavailable, err, "request cancelled")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, old := range a.entries[e.ClienteID] {
		if old.Version == e.Version {
			return nil
		}
	}
	e.Campos = slices.Clone(e.Campos) // the caller's slice is not ours to keep
	a.entries[e.ClienteID] = append(a.entries[e.ClienteID], e)
	return nil
}

func (a *Auditoria) Pagina(ctx context.Context, clienteID, antesDe int64, limite int) ([]handlers.EntradaAuditoria, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []handlers.EntradaAuditoria{}
	for _, e := range a.entries[clienteID] {
		if antesDe == 0 || e.Version < antesDe {
			e.Campos = slices.Clone(e.Campos)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y handlers.EntradaAuditoria) int { return cmp.Compare(y.Version, x.Version) })
	return out[:min(len(out), limite)], nil
}

func (a *Auditoria) Borrar(ctx context.Context, clienteID int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, e := range a.entries[clienteID] {
		a.entries[clienteID][i].Campos = handlers.Borrar(e.Campos)
	}
	return nil
}
