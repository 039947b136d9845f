package handlers

import (
	"context"
	"errors"
	"time"
)

// Paging of a purchase history.
const (
	DefaultLimiteCompras = 20
	MaxLimiteCompras     = 100
)

// CursorCompras is where a page of history ends: the history is ordered by
// date, newest first, then by sale id, descending.
type CursorCompras struct {
	Fecha   time.Time
	VentaID string
}

type cursorWire struct {
	F int64  `json:"f"` // Unix milliseconds
	V string `json:"v"`
}

// Encode returns the cursor as an opaque URL-safe string.
func (c CursorCompras) Encode() string {
	return encodeCursor(cursorWire{F: c.Fecha.UnixMilli(), V: c.VentaID})
}

// DecodeCursorCompras reads a cursor that Encode made.
func DecodeCursorCompras(s string) (CursorCompras, error) {
	var w cursorWire
	if err := decodeCursor(s, &w, func() bool { return w.V != "" && len(w.V) <= maxVentaID }); err != nil {
		return CursorCompras{}, err
	}
	return CursorCompras{Fecha: time.UnixMilli(w.F).UTC(), VentaID: w.V}, nil
}

// PaginaCompras selects one page of a customer's history.
type PaginaCompras struct {
	Limite int
	// Despues, when set, starts the page right after that cursor.
	Despues *CursorCompras
}

// HistorialCompras is one page of a purchase history. Siguiente is the
// cursor of the next page, empty on the last one.
type HistorialCompras struct {
	ClienteID int64    `json:"clienteId"`
	Compras   []Compra `json:"compras"`
	Siguiente string   `json:"siguiente,omitempty"`
}

// Historial stores purchases and their per-customer totals. Implementations
// must:
//   - keep one purchase per sale id, whatever the order and number of times
//     registrations and cancellations arrive;
//   - store totals under a revision that grows by one on every save, and
//     refuse a save made against an older revision with ErrRevision, so
//     that concurrent recomputations never store stale totals.
//
// storetest.RunHistorial is the suite every implementation passes.
type Historial interface {
	// RegistrarCompra stores c (Registrada) unless its sale is already
	// registered: then it reports EstadoDuplicada if the stored sale is the
	// same (MismaVenta), EstadoConflicto if not, and changes nothing. A
	// cancellation stored before keeps the sale cancelled: on EstadoNueva
	// the returned purchase is c, with Anulada set if so.
	RegistrarCompra(ctx context.Context, c Compra) (EstadoCompra, Compra, error)
	// AnularCompra marks sale ventaID cancelled at fecha (the first
	// cancellation wins), storing a cancellation for customer clienteID if
	// the sale is not known yet. It returns the purchase as stored after.
	AnularCompra(ctx context.Context, ventaID string, clienteID int64, fecha time.Time) (Compra, error)
	// ComprasDe returns the customer's registered purchases, cancelled or
	// not, in any order.
	ComprasDe(ctx context.Context, clienteID int64) ([]Compra, error)
	// PaginaCompras returns registered purchases of the customer, newest
	// first (date, then sale id, descending), after p.Despues, at most
	// p.Limite.
	PaginaCompras(ctx context.Context, clienteID int64, p PaginaCompras) ([]Compra, error)
	// Agregados returns the stored totals and their revision; zero totals
	// at revision 0 if none were stored.
	Agregados(ctx context.Context, clienteID int64) (Agregados, int64, error)
	// GuardarAgregados stores a as revision+1 if the stored revision is
	// still revision, else fails with ErrRevision.
	GuardarAgregados(ctx context.Context, a Agregados, revision int64) error
}

// EstadoCompra is what RegistrarCompra did.
type EstadoCompra string

const (
	EstadoNueva      EstadoCompra = "nueva"
	EstadoDuplicada  EstadoCompra = "duplicada"
	EstadoConflicto  EstadoCompra = "conflicto"
	revisionAttempts              = 10
)

// ErrRevision: the totals were saved by someone else in between.
var ErrRevision = errors.New("purchase totals changed concurrently")
