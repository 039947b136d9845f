package handlers

import (
	"context"
	"slices"
	"strings"
)

// seleccionChunk is how many ids of a segment one round of a filtered
// listing asks the reports store for.
const seleccionChunk = 500

// consulta checks a listing request: the store filter (filtroDe) and the
// selection by report segment, if any, with every wrong field named at
// once.
func (s *Service) consulta(c ConsultaClientes, search bool) (Filtro, *Seleccion, error) {
	var v fieldErrors
	f, err := filtroDe(c, search)
	v.addFrom(err)
	var sel *Seleccion
	if c.Departamento != "" {
		sel = &Seleccion{}
		dep, ok := s.analizador.Departamento(c.Departamento)
		if !ok {
			v.add("departamento", "must be a departamento of Peru, or "+SinUbicar)
		}
		sel.Departamento = &dep
	}
	switch {
	case c.Segmento != "":
		if sel == nil {
			sel = &Seleccion{}
		}
		moneda := "PEN"
		if c.Moneda != "" {
			m, msg := NormalizeMoneda(c.Moneda)
			if msg != "" {
				v.add("moneda", msg)
			}
			moneda = m
		}
		if !slices.Contains(Segmentos, c.Segmento) {
			v.add("segmento", "must be one of "+strings.Join(Segmentos, ", "))
		}
		sel.Valor = RangosSegmento(c.Segmento, moneda, s.analizador.Mes(s.now()))
	case c.Moneda != "":
		v.add("moneda", "is only used with segmento")
	}
	if err := v.err("the listing parameters are not valid"); err != nil {
		return Filtro{}, nil, err
	}
	return f, sel, nil
}

// listarSeleccion lists what f selects, and sel if set: the customers of
// sel come from the reports store (their applied contributions, the ones
// the reports count), chunk by chunk in id order, and the store filters
// each chunk by f.
func (s *Service) listarSeleccion(ctx context.Context, f Filtro, sel *Seleccion) ([]Cliente, error) {
	if sel == nil {
		return s.store.List(ctx, f)
	}
	out := []Cliente{}
	after := f.DespuesDeID
	for len(out) < f.Limite {
		chunk, err := s.reportes.Seleccionar(ctx, *sel, after, seleccionChunk)
		if err != nil {
			return nil, err
		}
		ids := chunk
		if f.IDs != nil {
			ids = slices.DeleteFunc(slices.Clone(chunk), func(id int64) bool { return !slices.Contains(f.IDs, id) })
		}
		if len(ids) > 0 {
			g := f
			g.IDs, g.DespuesDeID, g.Limite = ids, after, f.Limite-len(out)
			list, err := s.store.List(ctx, g)
			if err != nil {
				return nil, err
			}
			out = append(out, list...)
		}
		if len(chunk) < seleccionChunk {
			break
		}
		after = chunk[len(chunk)-1]
	}
	return out, nil
}
