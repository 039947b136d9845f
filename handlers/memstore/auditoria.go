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
	entries map[int64]map[int64]handlers.EntradaAuditoria // by customer, then version
}

var _ handlers.Auditoria = (*Auditoria)(nil)

// NewAuditoria returns an empty audit trail.
func NewAuditoria() *Auditoria {
	return &Auditoria{entries: map[int64]map[int64]handlers.EntradaAuditoria{}}
}

func (a *Auditoria) Add(ctx context.Context, e handlers.EntradaAuditoria) error {
	if err := ctx.Err(); err != nil {
		return handlers.Wrap(handlers.CodeUnavailable, err, "request cancelled")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	byVersion := a.entries[e.ClienteID]
	if byVersion == nil {
		byVersion = map[int64]handlers.EntradaAuditoria{}
		a.entries[e.ClienteID] = byVersion
	}
	if _, ok := byVersion[e.Version]; !ok {
		e.Campos = slices.Clone(e.Campos) // the caller's slice is not ours to keep
		byVersion[e.Version] = e
	}
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
	for v, e := range a.entries[clienteID] {
		e.Campos = handlers.Borrar(e.Campos)
		a.entries[clienteID][v] = e
	}
	return nil
}
