package faults

// The reports after a kill -9: once the worker that replaced a killed one
// has folded every notice, each report must be exactly what rebuilding it
// from the customers and the planned sales gives.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// direccionesFault and telefonosFault vary the customers of the fault
// tests over places and phone kinds, so that every report has content.
var (
	direccionesFault = []string{"Av. Arequipa 123, Miraflores, Lima", "Jr. Junín 456 - Cusco", "Calle Real 12, Huancayo, Junín",
		"Av. Siempre Viva 742, Springfield", "", "Calle Principal s/n, Áncash"}
	telefonosFault = []string{"987654321", "", "014221234"}
)

// comprasPlaneadas are the purchases the planned sales leave, as the
// history stores them.
func comprasPlaneadas(sales []*plannedSale) []handlers.Compra {
	var out []handlers.Compra
	for _, s := range sales {
		if s.registered {
			out = append(out, handlers.Compra{VentaID: s.id, ClienteID: s.cliente, Fecha: s.fecha, Registrada: true,
				Anulada: s.cancelled, Total: handlers.Importe{Minor: s.minor, Moneda: s.moneda}, Items: s.items})
		}
	}
	return out
}

// reportesEsperados reads every customer through the edge and builds every
// report from them and the planned sales: the paths to read and the JSON
// each must answer.
func reportesEsperados(ctx context.Context, base string, plan map[int64][]*plannedSale) (map[string]string, error) {
	clientes, err := getAllPages[handlers.Cliente](ctx, base, "/cliente", 90*time.Second)
	if err != nil {
		return nil, err
	}
	a := handlers.NewAnalizador()
	n := a.Reconstruir(clientes, func(id int64) []handlers.Compra { return comprasPlaneadas(plan[id]) })
	familia := func(f string) map[string]int64 {
		out := map[string]int64{}
		for k, v := range n {
			if handlers.FamiliaDe(k) == f {
				out[k] = v
			}
		}
		return out
	}
	now := time.Now()
	hasta := a.Hoy(now)
	desde := hasta.AddDate(0, 0, -30)
	js := func(v any) string { raw, _ := json.Marshal(v); return string(raw) }
	return map[string]string{
		fmt.Sprintf("/cliente/reportes/adquisicion?periodo=dia&desde=%s&hasta=%s", desde.Format(time.DateOnly), hasta.Format(time.DateOnly)): js(handlers.AdquisicionDe(familia(handlers.FamiliaAdquisicion), handlers.PeriodoDia, desde, hasta)),
		"/cliente/reportes/retencion": js(handlers.RetencionDe(familia(handlers.FamiliaRetencion))),
		"/cliente/reportes/geografia": js(handlers.GeografiaDe(familia(handlers.FamiliaGeografia))),
		"/cliente/reportes/canales":   js(handlers.CanalesDe(familia(handlers.FamiliaCanales))),
		"/cliente/reportes/valor":     js(handlers.ValorDe(familia(handlers.FamiliaValor), a.Mes(now))),
	}, nil
}

// checkReportsConverge waits up to bound for every report to equal its
// rebuild, and says how long that took.
func checkReportsConverge(ctx context.Context, t *testing.T, base string, plan map[int64][]*plannedSale, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want, err := reportesEsperados(ctx, base, plan)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for deadline := start.Add(bound); ; time.Sleep(500 * time.Millisecond) {
		for path := range maps.Keys(want) {
			var raw json.RawMessage
			if err := getJSON(ctx, base, path, &raw, 10*time.Second); err != nil {
				got[path] = err.Error()
				continue
			}
			got[path] = string(raw)
		}
		if maps.Equal(got, want) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			for path := range want {
				if got[path] != want[path] {
					t.Errorf("GET %s:\n\tgot  %s\n\twant %s", path, got[path], want[path])
				}
			}
			t.Fatalf("reports not exact %v after the totals were", bound)
		}
	}
}
