package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Paging of customer listings.
const (
	DefaultLimiteClientes = 100
	MaxLimiteClientes     = 1000
	// maxPaginaBytes bounds the JSON of one page, whatever its customers
	// hold, so that a reply always fits in a broker record; a page cut short
	// by it still has its next cursor.
	maxPaginaBytes = 512 << 10
	maxConsulta    = 100 // characters of a search
	maxPalabras    = 5   // words of a search
)

// ConsultaClientes asks for one page of customers, as callers send it.
// Every field is optional.
type ConsultaClientes struct {
	// Q searches nombre and apellido: each of its words must begin a word
	// of them, ignoring letter case and accents ("maria qui" finds "María
	// Quispe").
	Q      string `json:"q,omitempty"`
	Activo *bool  `json:"activo,omitempty"`
	// RegistradoDesde and RegistradoHasta are UTC dates (YYYY-MM-DD), both
	// included.
	RegistradoDesde string `json:"registradoDesde,omitempty"`
	RegistradoHasta string `json:"registradoHasta,omitempty"`
	// Limite is the page size, 1 to MaxLimiteClientes, default
	// DefaultLimiteClientes.
	Limite *int `json:"limite,omitempty"`
	// Cursor is the previous page's Siguiente; "" for the first page.
	Cursor string `json:"cursor,omitempty"`
	// DespuesDeID starts after that id, as Cursor does; for callers of the
	// first version of the contract.
	DespuesDeID int64 `json:"despuesDeId,omitempty"`
	// Segmento, Moneda (default PEN) and Departamento select by report
	// segment (listar_segmentos.go).
	Segmento     string `json:"segmento,omitempty"`
	Moneda       string `json:"moneda,omitempty"`
	Departamento string `json:"departamento,omitempty"`
}

// PaginaClientes is one page of a listing, in ascending id order.
// Siguiente is the cursor of the next page, empty on the last one.
type PaginaClientes struct {
	Clientes  []Cliente `json:"clientes"`
	Siguiente string    `json:"siguiente,omitempty"`
}

type cursorClientes struct {
	D int64 `json:"d"` // the last id of the page
}

// Listar returns a page of the customers that c selects.
func (s *Service) Listar(ctx context.Context, c ConsultaClientes) (PaginaClientes, error) {
	f, sel, err := s.consulta(c, false)
	if err != nil {
		return PaginaClientes{}, err
	}
	return s.pagina(ctx, f, sel)
}

// Buscar is Listar for a search: c.Q is required.
func (s *Service) Buscar(ctx context.Context, c ConsultaClientes) (PaginaClientes, error) {
	f, sel, err := s.consulta(c, true)
	if err != nil {
		return PaginaClientes{}, err
	}
	return s.pagina(ctx, f, sel)
}

// filtroDe checks c and turns it into a store filter.
func filtroDe(c ConsultaClientes, search bool) (Filtro, error) {
	var v fieldErrors
	f := Filtro{Activo: c.Activo, DespuesDeID: c.DespuesDeID, Limite: DefaultLimiteClientes}
	switch {
	case utf8.RuneCountInString(c.Q) > maxConsulta || !utf8.ValidString(c.Q):
		v.add("q", fmt.Sprintf("must be valid text of at most %d characters", maxConsulta))
	default:
		f.Palabras = Palabras(c.Q)
		if len(f.Palabras) > maxPalabras {
			v.add("q", fmt.Sprintf("must have at most %d words", maxPalabras))
		} else if search && len(f.Palabras) == 0 {
			v.add("q", "must have a word to search for")
		}
	}
	f.RegistradoDesde = v.fechaDia("registradoDesde", c.RegistradoDesde, 0)
	f.RegistradoHasta = v.fechaDia("registradoHasta", c.RegistradoHasta, 24*time.Hour)
	if !f.RegistradoDesde.IsZero() && !f.RegistradoHasta.IsZero() && !f.RegistradoDesde.Before(f.RegistradoHasta) {
		v.add("registradoHasta", "must not be before registradoDesde")
	}
	if c.DespuesDeID < 0 {
		v.add("despuesDeId", "must not be negative")
	}
	if c.Limite != nil {
		if *c.Limite < 1 || *c.Limite > MaxLimiteClientes {
			v.add("limite", fmt.Sprintf("must be between 1 and %d", MaxLimiteClientes))
		}
		f.Limite = *c.Limite
	}
	if c.Cursor != "" {
		var cur cursorClientes
		if err := decodeCursor(c.Cursor, &cur, func() bool { return cur.D > 0 }); err != nil {
			v.addFrom(err)
		}
		f.DespuesDeID = max(f.DespuesDeID, cur.D)
	}
	return f, v.err("the listing parameters are not valid")
}

// fechaDia reads a YYYY-MM-DD date as its UTC midnight, plus shift.
func (v *fieldErrors) fechaDia(field, s string, shift time.Duration) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		v.add(field, "must be a date, YYYY-MM-DD")
		return time.Time{}
	}
	return t.Add(shift)
}

// pagina reads one page of f (and sel, if set), cut short if its JSON would pass
// maxPaginaBytes, and the cursor of the next one.
func (s *Service) pagina(ctx context.Context, f Filtro, sel *Seleccion) (PaginaClientes, error) {
	limite := f.Limite
	f.Limite++ // one more tells whether a next page exists
	list, err := s.listarSeleccion(ctx, f, sel)
	if err != nil {
		return PaginaClientes{}, err
	}
	out := PaginaClientes{Clientes: list[:min(len(list), limite)]}
	size := 0
	for i, c := range out.Clientes {
		raw, _ := json.Marshal(c) // plain data: cannot fail
		if size += len(raw) + 1; size > maxPaginaBytes && i > 0 {
			out.Clientes = out.Clientes[:i]
			break
		}
	}
	if len(out.Clientes) < len(list) {
		out.Siguiente = encodeCursor(cursorClientes{D: out.Clientes[len(out.Clientes)-1].ID})
	}
	return out, nil
}
