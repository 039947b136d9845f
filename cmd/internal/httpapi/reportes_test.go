package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

func TestPrefersCSV(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"text/csv"}, true},
		{[]string{"application/json"}, false},
		{[]string{"text/csv, application/json"}, false}, // a tie keeps the default
		{[]string{"application/json;q=0.5, text/csv"}, true},
		{[]string{"text/csv;q=0"}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/*"}, false},
		{[]string{"text/csv;q=0.9", "*/*;q=0.1"}, true},
		{[]string{"garbage;;;, text/csv"}, true},
	} {
		if got := prefersCSV(tc.accept); got != tc.want {
			t.Errorf("prefersCSV(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

// Every report has its CSV: a header row, one row per item, CRLF.
func TestReportsAsCSV(t *testing.T) {
	for _, tc := range []struct {
		path  string
		reply topics.Reply
		want  string
	}{
		{"/cliente/reportes/adquisicion", okReply(topics.TypeReporteAdquisicion, handlers.ReporteAdquisicion{Periodo: "mes",
			Puntos: []handlers.PuntoAdquisicion{{Inicio: "2026-01-01", Nuevos: 3}, {Inicio: "2026-02-01"}}}),
			"inicio,nuevos\r\n2026-01-01,3\r\n2026-02-01,0\r\n"},
		{"/cliente/reportes/retencion", okReply(topics.TypeReporteRetencion, handlers.ReporteRetencion{Cohortes: []handlers.Cohorte{
			{Cohorte: "2026-01", Clientes: 4, Activos: 3, Inactivos: 1, Compras: []handlers.CompradoresMes{{Mes: "2026-01", Compradores: 2}, {Mes: "2026-03", Compradores: 1}}},
			{Cohorte: "2026-02", Clientes: 1, Activos: 1}}}),
			"cohorte,clientes,activos,inactivos,mes,compradores\r\n2026-01,4,3,1,2026-01,2\r\n2026-01,4,3,1,2026-03,1\r\n2026-02,1,1,0,,0\r\n"},
		{"/cliente/reportes/geografia", okReply(topics.TypeReporteGeografia, handlers.ReporteGeografia{
			Departamentos: []handlers.GeoDepartamento{{Departamento: "Junín", ConteoLugar: handlers.ConteoLugar{Total: 3, Activos: 2},
				Provincias: []handlers.GeoProvincia{{Provincia: "Huancayo", ConteoLugar: handlers.ConteoLugar{Total: 2, Activos: 2}},
					{Provincia: handlers.SinUbicar, ConteoLugar: handlers.ConteoLugar{Total: 1}}}}},
			SinUbicar: handlers.ConteoLugar{Total: 5, Activos: 4}}),
			"departamento,provincia,total,activos\r\nJunín,Huancayo,2,2\r\nJunín,sin ubicar,1,0\r\nsin ubicar,,5,4\r\n"},
		{"/cliente/reportes/canales", okReply(topics.TypeReporteCanales, handlers.ReporteCanales{SoloEmail: 3, Ambos: 7, Ninguno: 1,
			Telefonos: handlers.Telefonos{Movil: 5, Fijo: 2}}),
			"canal,clientes\r\nsoloEmail,3\r\nsoloTelefono,0\r\nambos,7\r\nninguno,1\r\nmovil,5\r\nfijo,2\r\notro,0\r\n"},
		{"/cliente/reportes/valor", okReply(topics.TypeReporteValor, handlers.ReporteValor{Segmentos: []handlers.SegmentoValor{
			{Moneda: "PEN", Segmento: "campeones", Clientes: 12, Gasto: "1234.50"}}}),
			"moneda,segmento,clientes,gasto\r\nPEN,campeones,12,1234.50\r\n"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("Accept", "text/csv")
		newTestHandler(&fakeCaller{reply: tc.reply}, prometheus.NewRegistry()).ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" || rec.Body.String() != tc.want ||
			!strings.Contains(rec.Header().Get("Vary"), "Accept") {
			t.Errorf("GET %s as CSV: %d %q %q, want %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.want)
		}
	}
}
