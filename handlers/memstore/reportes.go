package memstore

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
)

// Reportes is an in-memory handlers.ReportesStore. CompletarLote makes its
// writes one at a time, as the MongoDB one does, and CrashAfter lets a
// test stop it between any two of them.
type Reportes struct {
	mu        sync.Mutex
	avisos    []handlers.Aviso
	aplicadas map[int64]aplicada
	lotes     map[int64]handlers.Lote
	familias  map[string]*familia
	// crashAfter, when positive, makes CompletarLote fail after that many
	// more writes.
	crashAfter int
}

type aplicada struct {
	c    handlers.Contribucion
	lote int64
}

type familia struct {
	n    map[string]int64
	lote int64
}

var _ handlers.ReportesStore = (*Reportes)(nil)

// ErrCrash is the failure CrashAfter injects.
var ErrCrash = errors.New("memstore: injected crash")

// NewReportes returns an empty reports store.
func NewReportes() *Reportes {
	r := &Reportes{aplicadas: map[int64]aplicada{}, lotes: map[int64]handlers.Lote{}, familias: map[string]*familia{}}
	for _, f := range handlers.Familias {
		r.familias[f] = &familia{n: map[string]int64{}}
	}
	return r
}

// CrashAfter makes the next CompletarLote calls fail with ErrCrash after n
// more writes (n > 0), as a process killed between two writes would.
func (r *Reportes) CrashAfter(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.crashAfter = n
}

func (r *Reportes) Avisar(ctx context.Context, avisos ...handlers.Aviso) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range avisos {
		if !slices.ContainsFunc(r.avisos, func(b handlers.Aviso) bool { return b.ID == a.ID }) {
			r.avisos = append(r.avisos, a)
		}
	}
	return nil
}

func (r *Reportes) Avisos(ctx context.Context, limit int) ([]handlers.Aviso, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.avisos[:min(limit, len(r.avisos))]), nil
}

func (r *Reportes) Aplicadas(ctx context.Context, ids []int64) (map[int64]handlers.Contribucion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int64]handlers.Contribucion{}
	for _, id := range ids {
		if a, ok := r.aplicadas[id]; ok {
			out[id] = a.c
		}
	}
	return out, nil
}

func (r *Reportes) UltimoLote(ctx context.Context) (*handlers.Lote, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last *handlers.Lote
	for n, l := range r.lotes {
		if last == nil || n > last.Numero {
			l := l
			last = &l
		}
	}
	return last, nil
}

func (r *Reportes) IniciarLote(ctx context.Context, l handlers.Lote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.lotes[l.Numero]; ok {
		return handlers.ErrLoteOcupado
	}
	l.Hecho = false
	r.lotes[l.Numero] = l
	return nil
}

// write counts one write of CompletarLote, failing if a crash is due.
func (r *Reportes) write() error {
	if r.crashAfter == 0 {
		return nil
	}
	r.crashAfter--
	if r.crashAfter == 0 {
		return ErrCrash
	}
	return nil
}

func (r *Reportes) CompletarLote(ctx context.Context, l handlers.Lote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range handlers.Familias {
		f := r.familias[name]
		if f.lote >= l.Numero {
			continue
		}
		if err := r.write(); err != nil {
			return err
		}
		for k, d := range l.Delta {
			if handlers.FamiliaDe(k) == name {
				f.n[k] += d
				if f.n[k] == 0 {
					delete(f.n, k)
				}
			}
		}
		f.lote = l.Numero
	}
	for _, id := range slices.Sorted(maps.Keys(l.Contribuciones)) {
		if r.aplicadas[id].lote >= l.Numero {
			continue
		}
		if err := r.write(); err != nil {
			return err
		}
		r.aplicadas[id] = aplicada{l.Contribuciones[id], l.Numero}
	}
	if err := r.write(); err != nil {
		return err
	}
	r.avisos = slices.DeleteFunc(r.avisos, func(a handlers.Aviso) bool {
		return slices.ContainsFunc(l.Avisos, func(b handlers.Aviso) bool { return b.ID == a.ID })
	})
	if err := r.write(); err != nil {
		return err
	}
	l.Hecho = true
	r.lotes[l.Numero] = l
	return nil
}

func (r *Reportes) Contadores(ctx context.Context, fam string) (map[string]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.familias[fam]
	if !ok {
		return map[string]int64{}, nil
	}
	return maps.Clone(f.n), nil
}

func (r *Reportes) Seleccionar(ctx context.Context, sel handlers.Seleccion, despuesDe int64, limit int) ([]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, id := range slices.Sorted(maps.Keys(r.aplicadas)) {
		if id > despuesDe && len(out) < limit && sel.Selecciona(r.aplicadas[id].c) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (r *Reportes) Podar(ctx context.Context, before time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := int64(0)
	for n := range r.lotes {
		last = max(last, n)
	}
	for n, l := range r.lotes {
		if n != last && l.Hecho && l.Creado.Before(before) {
			delete(r.lotes, n)
		}
	}
	return nil
}
