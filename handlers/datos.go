package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
)

// maxDatosBytes bounds the JSON of one DatosCliente, so that the reply
// fits in a broker record (1 MiB) whatever the customer holds.
const maxDatosBytes = 768 << 10

// maxDatosEntradas bounds the audit entries Datos reads: more than fit in
// maxDatosBytes, as no entry is under 100 bytes of JSON.
const maxDatosEntradas = maxDatosBytes / 100

// DatosCliente is everything the service holds about a customer, in one
// document (the customer's right of access): the profile, the purchase
// summary, every purchase and every audit entry, each newest first.
// Completo is false when purchases or audit entries had to be left out
// to keep the document within maxDatosBytes: the oldest are then read
// from the paged routes (compras, auditoria).
type DatosCliente struct {
	Cliente   Cliente            `json:"cliente"`
	Resumen   Resumen            `json:"resumen"`
	Compras   []Compra           `json:"compras"`
	Auditoria []EntradaAuditoria `json:"auditoria"`
	Completo  bool               `json:"completo"`
}

// Datos returns everything held about customer id.
func (s *Service) Datos(ctx context.Context, id int64) (DatosCliente, error) {
	if err := checkID(id); err != nil {
		return DatosCliente{}, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return DatosCliente{}, err
	}
	resumen, err := s.resumenDe(ctx, c)
	if err != nil {
		return DatosCliente{}, err
	}
	todas, err := s.historial.ComprasDe(ctx, id)
	if err != nil {
		return DatosCliente{}, err
	}
	compras := slices.DeleteFunc(todas, func(c Compra) bool { return !c.Registrada })
	slices.SortFunc(compras, func(x, y Compra) int { // as the history pages: newest first
		return cmp.Or(y.Fecha.Compare(x.Fecha), cmp.Compare(y.VentaID, x.VentaID))
	})
	var entradas []EntradaAuditoria
	for antesDe := int64(0); ; {
		page, err := s.paginaAuditoria(ctx, id, antesDe, MaxLimiteAuditoria)
		if err != nil {
			return DatosCliente{}, err
		}
		entradas = append(entradas, page...)
		// Past maxDatosEntradas they cannot all fit anyway.
		if len(page) < MaxLimiteAuditoria || page[len(page)-1].Version <= 1 || len(entradas) >= maxDatosEntradas {
			break
		}
		antesDe = page[len(page)-1].Version
	}
	out := DatosCliente{Cliente: c, Resumen: resumen, Compras: []Compra{}, Auditoria: []EntradaAuditoria{}, Completo: true}
	size := jsonSize(out)
	// Newest first from both lists, alternately, while the document fits.
	for i := 0; i < max(len(compras), len(entradas)); i++ {
		if i < len(compras) {
			if size += jsonSize(compras[i]) + 1; size > maxDatosBytes {
				out.Completo = false
				break
			}
			out.Compras = append(out.Compras, compras[i])
		}
		if i < len(entradas) {
			if size += jsonSize(entradas[i]) + 1; size > maxDatosBytes {
				out.Completo = false
				break
			}
			out.Auditoria = append(out.Auditoria, entradas[i])
		}
	}
	return out, nil
}

func jsonSize(v any) int {
	raw, _ := json.Marshal(v) // plain data: cannot fail
	return len(raw)
}
