package handlers

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// ConteoLugar counts the customers of one place.
type ConteoLugar struct {
	Total   int64 `json:"total"`
	Activos int64 `json:"activos"`
}

// GeoProvincia is one provincia of a departamento; SinUbicar when the
// address names the departamento only.
type GeoProvincia struct {
	Provincia string `json:"provincia"`
	ConteoLugar
}

// GeoDepartamento is one departamento and its provincias, most customers
// first.
type GeoDepartamento struct {
	Departamento string `json:"departamento"`
	ConteoLugar
	Provincias []GeoProvincia `json:"provincias"`
}

// ReporteGeografia places customers by the address they gave.
type ReporteGeografia struct {
	Departamentos []GeoDepartamento `json:"departamentos"`
	SinUbicar     ConteoLugar       `json:"sinUbicar"`
}

// ReporteGeografia returns the customers (total and active) per
// departamento and provincia; addresses that cannot be placed count as
// sinUbicar.
func (s *Service) ReporteGeografia(ctx context.Context) (ReporteGeografia, error) {
	n, err := s.reportes.Contadores(ctx, FamiliaGeografia)
	if err != nil {
		return ReporteGeografia{}, err
	}
	return GeografiaDe(n), nil
}

// GeografiaDe builds the report from the geography counters.
func GeografiaDe(n map[string]int64) ReporteGeografia {
	out := ReporteGeografia{Departamentos: []GeoDepartamento{}}
	deps := map[string]*GeoDepartamento{}
	provs := map[[2]string]*GeoProvincia{}
	for key, v := range n {
		// geo|Lima|Lima|total; geo|||activos is sin ubicar
		p := strings.Split(key, "|")
		if len(p) != 4 || v == 0 {
			continue
		}
		add := func(c *ConteoLugar) {
			if p[3] == "total" {
				c.Total += v
			} else {
				c.Activos += v
			}
		}
		if p[1] == "" {
			add(&out.SinUbicar)
			continue
		}
		d := deps[p[1]]
		if d == nil {
			d = &GeoDepartamento{Departamento: p[1]}
			deps[p[1]] = d
		}
		add(&d.ConteoLugar)
		prov := cmp.Or(p[2], SinUbicar)
		pr := provs[[2]string{p[1], prov}]
		if pr == nil {
			pr = &GeoProvincia{Provincia: prov}
			provs[[2]string{p[1], prov}] = pr
		}
		add(&pr.ConteoLugar)
	}
	for k, pr := range provs {
		deps[k[0]].Provincias = append(deps[k[0]].Provincias, *pr)
	}
	byTotal := func(a, b ConteoLugar, an, bn string) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(an, bn))
	}
	for _, d := range deps {
		if d.Total == 0 {
			continue
		}
		d.Provincias = slices.DeleteFunc(d.Provincias, func(p GeoProvincia) bool { return p.Total == 0 })
		slices.SortFunc(d.Provincias, func(a, b GeoProvincia) int { return byTotal(a.ConteoLugar, b.ConteoLugar, a.Provincia, b.Provincia) })
		out.Departamentos = append(out.Departamentos, *d)
	}
	slices.SortFunc(out.Departamentos, func(a, b GeoDepartamento) int {
		return byTotal(a.ConteoLugar, b.ConteoLugar, a.Departamento, b.Departamento)
	})
	return out
}
