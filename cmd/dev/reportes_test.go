package main

// End-to-end test of the reports: customers created over HTTP and sales
// sent to the broker show in the reports, kept up to date by the worker's
// projector, as JSON and as CSV. Other tests create customers at the same
// time, so it checks what its own customers add: places and a currency no
// other test uses.

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

func geografia(t *testing.T) handlers.ReporteGeografia {
	t.Helper()
	r := do(t, "GET", "/cliente/reportes/geografia", nil)
	if r.status != http.StatusOK {
		t.Fatalf("geografia: %d %s", r.status, r.body)
	}
	var out handlers.ReporteGeografia
	r.json(t, &out)
	return out
}

func provincia(g handlers.ReporteGeografia, dep, prov string) handlers.ConteoLugar {
	for _, d := range g.Departamentos {
		for _, p := range d.Provincias {
			if d.Departamento == dep && p.Provincia == prov {
				return p.ConteoLugar
			}
		}
	}
	return handlers.ConteoLugar{}
}

func valorCLP(t *testing.T) map[string]handlers.SegmentoValor {
	t.Helper()
	r := do(t, "GET", "/cliente/reportes/valor", nil)
	if r.status != http.StatusOK {
		t.Fatalf("valor: %d %s", r.status, r.body)
	}
	var out handlers.ReporteValor
	r.json(t, &out)
	segs := map[string]handlers.SegmentoValor{}
	for _, s := range out.Segmentos {
		if s.Moneda == "CLP" {
			segs[s.Segmento] = s
		}
	}
	return segs
}

func TestReports(t *testing.T) {
	before := geografia(t)
	beforeValor := valorCLP(t)
	var ids []int64
	for i, dir := range []string{"Jr. Junín 456 - Cusco", "Calle Sol 12, Wanchaq, Cusco", "Av. Ejército 101, Cayma, Arequipa"} {
		body := newCliente(t)
		body["direccion"] = dir
		c := create(t, body)
		ids = append(ids, c.ID)
		if i == 1 {
			if r := do(t, "DELETE", fmt.Sprintf("/cliente/%d", c.ID), nil); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	id := func(s string) string { return fmt.Sprintf("rep-%d-%d-%s", runID, ids[0], s) }
	if err := salesWriter(t).Write(ctx,
		sale(id("a"), ids[0], now, "1500", "CLP", 1),
		sale(id("b"), ids[0], now, "2500", "CLP", 1),
		sale(id("b"), ids[0], now, "2500", "CLP", 1), // a duplicate
		sale(id("c"), ids[2], now, "700", "CLP", 1),
		cancellation(id("c"), ids[2], now),
	); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		g := geografia(t)
		cusco, was := provincia(g, "Cusco", "Cusco"), provincia(before, "Cusco", "Cusco")
		if cusco.Total != was.Total+2 || cusco.Activos != was.Activos+1 {
			return fmt.Errorf("Cusco/Cusco %+v, was %+v: want 2 more, 1 more active", cusco, was)
		}
		v, was2 := valorCLP(t)[handlers.SegmentoLeales], beforeValor[handlers.SegmentoLeales]
		if v.Clientes != was2.Clientes+1 {
			return fmt.Errorf("CLP leales %+v, was %+v: want one more", v, was2)
		}
		return nil
	})

	r := doWith(t, "GET", "/cliente/reportes/geografia", nil, map[string]string{"Accept": "text/csv"})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("geografia as CSV: %d %q", r.status, r.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || !slices.Equal(rows[0], []string{"departamento", "provincia", "total", "activos"}) || rows[len(rows)-1][0] != handlers.SinUbicar {
		t.Fatalf("CSV %q: %v", r.body, err)
	}
	if !slices.ContainsFunc(rows, func(row []string) bool { return row[0] == "Cusco" && row[1] == "Cusco" }) {
		t.Fatalf("CSV has no Cusco row: %q", r.body)
	}

	for _, path := range []string{"/cliente/reportes/adquisicion?periodo=semana", "/cliente/reportes/retencion", "/cliente/reportes/canales"} {
		if r := do(t, "GET", path, nil); r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	wantProblem(t, do(t, "GET", "/cliente/reportes/adquisicion?periodo=anio", nil), http.StatusBadRequest, "invalid", "periodo")
	wantProblem(t, do(t, "GET", "/cliente/reportes/adquisicion?periodo=dia&desde=2000-01-01", nil), http.StatusBadRequest, "invalid", "desde")
}
