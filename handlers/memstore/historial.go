package memstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
)

// Historial is an in-memory handlers.Historial for tests.
type Historial struct {
	mu        sync.Mutex
	compras   map[string]handlers.Compra // by sale id
	agregados map[int64]agregados
}

type agregados struct {
	a   handlers.Agregados
	rev int64
}

var _ handlers.Historial = (*Historial)(nil)

// NewHistorial returns an empty history.
func NewHistorial() *Historial {
	return &Historial{compras: map[string]handlers.Compra{}, agregados: map[int64]agregados{}}
}

func (h *Historial) RegistrarCompra(ctx context.Context, c handlers.Compra) (handlers.EstadoCompra, handlers.Compra, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.compras[c.VentaID]
	switch {
	case ok && old.Registrada && old.MismaVenta(c):
		return handlers.EstadoDuplicada, old, nil
	case ok && old.Registrada:
		return handlers.EstadoConflicto, old, nil
	case ok: // cancelled before it arrived
		c.Anulada, c.FechaAnulacion = true, old.FechaAnulacion
	}
	c.Registrada = true
	h.compras[c.VentaID] = c
	return handlers.EstadoNueva, c, nil
}

func (h *Historial) AnularCompra(ctx context.Context, ventaID string, clienteID int64, fecha time.Time) (handlers.Compra, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.compras[ventaID]
	if !ok {
		c = handlers.Compra{VentaID: ventaID, ClienteID: clienteID}
	}
	if !c.Anulada {
		c.Anulada, c.FechaAnulacion = true, fecha
	}
	h.compras[ventaID] = c
	return c, nil
}

func (h *Historial) ComprasDe(ctx context.Context, clienteID int64) ([]handlers.Compra, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []handlers.Compra{}
	for _, c := range h.compras {
		if c.ClienteID == clienteID && c.Registrada {
			out = append(out, c)
		}
	}
	return out, nil
}

func (h *Historial) PaginaCompras(ctx context.Context, clienteID int64, p handlers.PaginaCompras) ([]handlers.Compra, error) {
	all, _ := h.ComprasDe(ctx, clienteID)
	newestFirst := func(a, b handlers.Compra) int {
		return cmp.Or(b.Fecha.Compare(a.Fecha), strings.Compare(b.VentaID, a.VentaID))
	}
	slices.SortFunc(all, newestFirst)
	out := []handlers.Compra{}
	for _, c := range all {
		if p.Despues != nil && newestFirst(c, handlers.Compra{Fecha: p.Despues.Fecha, VentaID: p.Despues.VentaID}) <= 0 {
			continue
		}
		if len(out) == p.Limite {
			break
		}
		out = append(out, c)
	}
	return out, nil
}

func (h *Historial) Agregados(ctx context.Context, clienteID int64) (handlers.Agregados, int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.agregados[clienteID]
	if !ok {
		return handlers.Agregados{ClienteID: clienteID}, 0, nil
	}
	return a.a, a.rev, nil
}

func (h *Historial) GuardarAgregados(ctx context.Context, a handlers.Agregados, revision int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agregados[a.ClienteID].rev != revision {
		return handlers.ErrRevision
	}
	h.agregados[a.ClienteID] = agregados{a: a, rev: revision + 1}
	return nil
}

// Outbox is an in-memory handlers.Outbox for tests.
type Outbox struct {
	mu     sync.Mutex
	events []outboxEntry // in the order added
}

type outboxEntry struct {
	e          handlers.Evento
	claimedTil time.Time
}

var _ handlers.Outbox = (*Outbox)(nil)

// NewOutbox returns an empty outbox.
func NewOutbox() *Outbox { return &Outbox{} }

func (o *Outbox) Add(ctx context.Context, e handlers.Evento) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if slices.ContainsFunc(o.events, func(x outboxEntry) bool { return x.e.ID == e.ID }) {
		return nil
	}
	o.events = append(o.events, outboxEntry{e: e})
	return nil
}

func (o *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]handlers.Evento, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := make([]handlers.Evento, len(o.events))
	byID := map[string]*outboxEntry{}
	for i := range o.events {
		all[i] = o.events[i].e
		byID[o.events[i].e.ID] = &o.events[i]
	}
	var out []handlers.Evento
	for _, group := range handlers.ClaimOrder(all) {
		for _, e := range group {
			entry := byID[e.ID]
			if len(out) == limit || entry.claimedTil.After(now) {
				break
			}
			entry.claimedTil = now.Add(lease)
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *Outbox) Delete(ctx context.Context, ids []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = slices.DeleteFunc(o.events, func(x outboxEntry) bool { return slices.Contains(ids, x.e.ID) })
	return nil
}

func (o *Outbox) PorOperacion(ctx context.Context, op string) (handlers.Evento, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.events {
		if x.e.Diferido && x.e.Cliente.LastOp == op {
			return x.e, true, nil
		}
	}
	return handlers.Evento{}, false, nil
}

func (o *Outbox) DeCliente(ctx context.Context, id int64) ([]handlers.Evento, error) {
	var out []handlers.Evento
	for _, e := range o.Pending() {
		if e.Cliente.ID == id {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b handlers.Evento) int { return cmp.Compare(a.Cliente.Version, b.Cliente.Version) })
	return out, nil
}

// Pending returns the events not yet deleted, in the order added.
func (o *Outbox) Pending() []handlers.Evento {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]handlers.Evento, len(o.events))
	for i, x := range o.events {
		out[i] = x.e
	}
	return out
}
