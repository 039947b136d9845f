package httpapi

import (
	"context"
	"encoding/csv"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/jea/cliente/handlers"
)

// reporte serves a report as JSON, or as CSV (RFC 4180, a header row) when
// the client prefers text/csv.
func reporte[T any](a *api, fetch func(ctx context.Context, r *http.Request) (T, error), rows func(T) [][]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := call(a, r, func(ctx context.Context) (T, error) { return fetch(ctx, r) })
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Add("Vary", "Accept")
		if !prefersCSV(r.Header.Values("Accept")) {
			writeJSON(w, http.StatusOK, out)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		cw := csv.NewWriter(w)
		cw.UseCRLF = true
		_ = cw.WriteAll(rows(out)) // the status is sent: a failed write only cuts the body
	})
}

// prefersCSV reads Accept: text/csv wins if its quality is above
// application/json's (absent ones count 0, */* and text/* as wildcards).
func prefersCSV(accept []string) bool {
	q := map[string]float64{}
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			v := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					v = f
				}
			}
			q[mt] = max(q[mt], v)
		}
	}
	quality := func(mt string) float64 {
		typ, _, _ := strings.Cut(mt, "/")
		if v, ok := q[mt]; ok {
			return v
		}
		if v, ok := q[typ+"/*"]; ok {
			return v
		}
		return q["*/*"] / 2 // a wildcard never makes CSV win over the default
	}
	return q["text/csv"] > 0 && quality("text/csv") > quality("application/json")
}

func (a *api) reporteAdquisicion() http.Handler {
	return reporte(a, func(ctx context.Context, r *http.Request) (handlers.ReporteAdquisicion, error) {
		p := r.URL.Query()
		return a.o.Clientes.ReporteAdquisicion(ctx, handlers.ConsultaAdquisicion{Periodo: p.Get("periodo"), Desde: p.Get("desde"), Hasta: p.Get("hasta")})
	}, func(rep handlers.ReporteAdquisicion) [][]string {
		rows := [][]string{{"inicio", "nuevos"}}
		for _, p := range rep.Puntos {
			rows = append(rows, []string{p.Inicio, itoa(p.Nuevos)})
		}
		return rows
	})
}

func (a *api) reporteRetencion() http.Handler {
	return reporte(a, func(ctx context.Context, _ *http.Request) (handlers.ReporteRetencion, error) {
		return a.o.Clientes.ReporteRetencion(ctx)
	}, func(rep handlers.ReporteRetencion) [][]string {
		rows := [][]string{{"cohorte", "clientes", "activos", "inactivos", "mes", "compradores"}}
		for _, c := range rep.Cohortes {
			head := []string{c.Cohorte, itoa(c.Clientes), itoa(c.Activos), itoa(c.Inactivos)}
			if len(c.Compras) == 0 {
				rows = append(rows, append(head, "", "0"))
			}
			for _, m := range c.Compras {
				rows = append(rows, append(head[:4:4], m.Mes, itoa(m.Compradores)))
			}
		}
		return rows
	})
}

func (a *api) reporteGeografia() http.Handler {
	return reporte(a, func(ctx context.Context, _ *http.Request) (handlers.ReporteGeografia, error) {
		return a.o.Clientes.ReporteGeografia(ctx)
	}, func(rep handlers.ReporteGeografia) [][]string {
		rows := [][]string{{"departamento", "provincia", "total", "activos"}}
		for _, d := range rep.Departamentos {
			for _, p := range d.Provincias {
				rows = append(rows, []string{d.Departamento, p.Provincia, itoa(p.Total), itoa(p.Activos)})
			}
		}
		return append(rows, []string{handlers.SinUbicar, "", itoa(rep.SinUbicar.Total), itoa(rep.SinUbicar.Activos)})
	})
}

func (a *api) reporteCanales() http.Handler {
	return reporte(a, func(ctx context.Context, _ *http.Request) (handlers.ReporteCanales, error) {
		return a.o.Clientes.ReporteCanales(ctx)
	}, func(rep handlers.ReporteCanales) [][]string {
		return [][]string{{"canal", "clientes"},
			{handlers.CanalSoloEmail, itoa(rep.SoloEmail)}, {handlers.CanalSoloTelefono, itoa(rep.SoloTelefono)},
			{handlers.CanalAmbos, itoa(rep.Ambos)}, {handlers.CanalNinguno, itoa(rep.Ninguno)},
			{handlers.TelefonoMovil, itoa(rep.Telefonos.Movil)}, {handlers.TelefonoFijo, itoa(rep.Telefonos.Fijo)},
			{handlers.TelefonoOtro, itoa(rep.Telefonos.Otro)}}
	})
}

func (a *api) reporteValor() http.Handler {
	return reporte(a, func(ctx context.Context, _ *http.Request) (handlers.ReporteValor, error) {
		return a.o.Clientes.ReporteValor(ctx)
	}, func(rep handlers.ReporteValor) [][]string {
		rows := [][]string{{"moneda", "segmento", "clientes", "gasto"}}
		for _, s := range rep.Segmentos {
			rows = append(rows, []string{s.Moneda, s.Segmento, itoa(s.Clientes), s.Gasto})
		}
		return rows
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
