package handlers

import (
	"context"
	"slices"
	"strings"
)

// CompradoresMes is how many customers of a cohort bought in a month.
type CompradoresMes struct {
	Mes         string `json:"mes"`
	Compradores int64  `json:"compradores"`
}

// Cohorte is the customers registered in one Lima month: how many, how
// many are active and inactive now, and for the cohort's month and each
// later one with purchases, how many of them bought in it.
type Cohorte struct {
	Cohorte   string           `json:"cohorte"`
	Clientes  int64            `json:"clientes"`
	Activos   int64            `json:"activos"`
	Inactivos int64            `json:"inactivos"`
	Compras   []CompradoresMes `json:"compras"`
}

// ReporteRetencion lists the cohorts, oldest first.
type ReporteRetencion struct {
	Cohortes []Cohorte `json:"cohortes"`
}

// ReporteRetencion returns the retention of every registration cohort.
func (s *Service) ReporteRetencion(ctx context.Context) (ReporteRetencion, error) {
	n, err := s.reportes.Contadores(ctx, FamiliaRetencion)
	if err != nil {
		return ReporteRetencion{}, err
	}
	return RetencionDe(n), nil
}

// RetencionDe builds the report from the retention counters.
func RetencionDe(n map[string]int64) ReporteRetencion {
	byCohort := map[string]*Cohorte{}
	for key, v := range n {
		// ret|2026-01|clientes, ret|2026-01|activos, ret|2026-01|2026-03
		p := strings.Split(key, "|")
		if len(p) != 3 || v == 0 {
			continue
		}
		c := byCohort[p[1]]
		if c == nil {
			c = &Cohorte{Cohorte: p[1], Compras: []CompradoresMes{}}
			byCohort[p[1]] = c
		}
		switch p[2] {
		case "clientes":
			c.Clientes = v
		case "activos":
			c.Activos = v
		default:
			c.Compras = append(c.Compras, CompradoresMes{Mes: p[2], Compradores: v})
		}
	}
	out := ReporteRetencion{Cohortes: []Cohorte{}}
	for _, c := range byCohort {
		if c.Clientes == 0 {
			continue
		}
		c.Inactivos = c.Clientes - c.Activos
		slices.SortFunc(c.Compras, func(a, b CompradoresMes) int { return strings.Compare(a.Mes, b.Mes) })
		out.Cohortes = append(out.Cohortes, *c)
	}
	slices.SortFunc(out.Cohortes, func(a, b Cohorte) int { return strings.Compare(a.Cohorte, b.Cohorte) })
	return out
}
