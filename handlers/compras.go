package handlers

import (
	"context"
	"fmt"
)

// LimiteCompras is the page size limite asks for: DefaultLimiteCompras
// when nil, else 1 to MaxLimiteCompras.
func LimiteCompras(limite *int) (int, error) {
	return limitePagina(limite, DefaultLimiteCompras, MaxLimiteCompras)
}

// limitePagina is the page size limite asks for: def when nil, else 1 to
// maxLimite.
func limitePagina(limite *int, def, maxLimite int) (int, error) {
	switch {
	case limite == nil:
		return def, nil
	case *limite < 1 || *limite > maxLimite:
		return 0, invalidField("limite", fmt.Sprintf("must be between 1 and %d", maxLimite))
	}
	return *limite, nil
}

// Compras returns a page of customer id's purchase history, newest first:
// limite purchases (nil for DefaultLimiteCompras), after cursor ("" for
// the first page).
func (s *Service) Compras(ctx context.Context, id int64, limite *int, cursor string) (HistorialCompras, error) {
	var v fieldErrors
	if id <= 0 {
		v.add("id", "must be a positive integer")
	}
	n, err := LimiteCompras(limite)
	v.addFrom(err)
	p := PaginaCompras{Limite: n}
	if cursor != "" {
		cur, err := DecodeCursorCompras(cursor)
		if err != nil {
			v.addFrom(err)
		}
		p.Despues = &cur
	}
	if err := v.err("the request is not valid"); err != nil {
		return HistorialCompras{}, err
	}
	if _, err := s.store.Get(ctx, id); err != nil {
		return HistorialCompras{}, err
	}
	// One more than asked tells whether a next page exists.
	page := p
	page.Limite++
	compras, err := s.historial.PaginaCompras(ctx, id, page)
	if err != nil {
		return HistorialCompras{}, err
	}
	out := HistorialCompras{ClienteID: id, Compras: compras}
	if len(compras) > p.Limite {
		out.Compras = compras[:p.Limite]
		last := out.Compras[p.Limite-1]
		out.Siguiente = CursorCompras{Fecha: last.Fecha, VentaID: last.VentaID}.Encode()
	}
	return out, nil
}
