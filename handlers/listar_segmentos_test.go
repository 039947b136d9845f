package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// reportesFixture is a service whose reports are folded on demand.
type reportesFixture struct {
	svc  *handlers.Service
	proj *handlers.Projector
	now  time.Time
}

func newReportesFixture(t *testing.T) *reportesFixture {
	f := &reportesFixture{now: time.Date(2026, 6, 15, 15, 0, 0, 0, time.UTC)}
	store, hist, rep := memstore.New(), memstore.NewHistorial(), memstore.NewReportes()
	clock := func() time.Time { return f.now }
	f.svc = memstore.Service(handlers.Deps{Store: store, Historial: hist, Reportes: rep, Now: clock})
	var err error
	f.proj, err = handlers.NewProjector(handlers.Projector{Store: store, Historial: hist, Reportes: rep,
		Analizador: handlers.NewAnalizador(), Now: clock, Batch: 3, Interval: time.Second, Takeover: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reportesFixture) crear(t *testing.T, nombre, direccion, telefono string) handlers.Cliente {
	t.Helper()
	dni := fmt.Sprintf("%08d", 40_000_000+len(nombre)*1000+int(f.now.Unix()%1000))
	f.now = f.now.Add(time.Second)
	email := strings.ToLower(strings.ReplaceAll(nombre, " ", ".")) + "@example.pe"
	c, err := f.svc.Crear(context.Background(), handlers.Datos{DNI: &dni, Nombre: &nombre, Email: &email,
		Direccion: &direccion, Telefono: &telefono}, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *reportesFixture) venta(t *testing.T, id string, cliente int64, fecha time.Time, total, moneda string) {
	t.Helper()
	if _, err := f.svc.RegistrarVenta(context.Background(), venta(id, cliente, fecha, total, moneda, 1)); err != nil {
		t.Fatal(err)
	}
}

func (f *reportesFixture) drain(t *testing.T) {
	t.Helper()
	if err := f.proj.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestListarPorSegmentoYDepartamento(t *testing.T) {
	f := newReportesFixture(t)
	ctx := context.Background()
	ana := f.crear(t, "Ana Cusco", "Jr. Junín 456 - Cusco", "987654321")
	beto := f.crear(t, "Beto Cusco", "Calle Sol 12, Wanchaq, Cusco", "")
	carla := f.crear(t, "Carla Lima", "Av. Arequipa 123, Miraflores, Lima", "014221234")
	dario := f.crear(t, "Dario Nadie", "Av. Siempre Viva 742, Springfield", "")
	mes := f.now.Add(-24 * time.Hour)
	for i := range 5 {
		f.venta(t, fmt.Sprintf("A%d", i), ana.ID, mes, "300", "PEN") // campeones in PEN
	}
	f.venta(t, "B1", beto.ID, mes, "10", "PEN")                    // nuevos
	f.venta(t, "B2", beto.ID, mes, "10", "USD")                    // nuevos in USD
	f.venta(t, "C1", carla.ID, mes.AddDate(0, -8, 0), "10", "PEN") // hibernando
	f.venta(t, "C2", carla.ID, mes.AddDate(0, -7, 0), "10", "PEN") // en_riesgo with C1
	f.venta(t, "D1", dario.ID, mes.AddDate(-2, 0, 0), "10", "PEN") // perdidos
	if _, err := f.svc.Eliminar(ctx, beto.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)

	yes := true
	for _, tc := range []struct {
		name   string
		q      handlers.ConsultaClientes
		want   []int64
		fields []string
	}{
		{"departamento any case and accents", handlers.ConsultaClientes{Departamento: "CUSCO"}, []int64{ana.ID, beto.ID}, nil},
		{"departamento and activo", handlers.ConsultaClientes{Departamento: "cusco", Activo: &yes}, []int64{ana.ID}, nil},
		{"sin ubicar", handlers.ConsultaClientes{Departamento: "Sin Ubicar"}, []int64{dario.ID}, nil},
		{"campeones", handlers.ConsultaClientes{Segmento: "campeones"}, []int64{ana.ID}, nil},
		{"nuevos in PEN by default", handlers.ConsultaClientes{Segmento: "nuevos"}, []int64{beto.ID}, nil},
		{"nuevos in USD", handlers.ConsultaClientes{Segmento: "nuevos", Moneda: "usd"}, []int64{beto.ID}, nil},
		{"campeones in USD", handlers.ConsultaClientes{Segmento: "campeones", Moneda: "USD"}, nil, nil},
		{"en riesgo", handlers.ConsultaClientes{Segmento: "en_riesgo"}, []int64{carla.ID}, nil},
		{"perdidos", handlers.ConsultaClientes{Segmento: "perdidos"}, []int64{dario.ID}, nil},
		{"segment and departamento", handlers.ConsultaClientes{Segmento: "nuevos", Departamento: "Lima"}, nil, nil},
		{"segment and search", handlers.ConsultaClientes{Segmento: "campeones", Q: "ana"}, []int64{ana.ID}, nil},
		{"segment and search, no match", handlers.ConsultaClientes{Segmento: "campeones", Q: "beto"}, nil, nil},
		{"bad values", handlers.ConsultaClientes{Segmento: "vip", Moneda: "XX", Departamento: "Springfield"}, nil,
			[]string{"departamento", "moneda", "segmento"}},
		{"moneda alone", handlers.ConsultaClientes{Moneda: "PEN"}, nil, []string{"moneda"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := f.svc.Listar
			if tc.q.Q != "" {
				op = f.svc.Buscar
			}
			page, err := op(ctx, tc.q)
			if tc.fields != nil {
				var got []string
				for _, fe := range handlers.AsError(err).Fields {
					got = append(got, fe.Field)
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.fields) {
					t.Fatalf("error %v, want fields %v", err, tc.fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range page.Clientes {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Paging one by one through a filtered listing reaches every customer.
	var got []int64
	q := handlers.ConsultaClientes{Departamento: "Cusco", Limite: ptr(1)}
	for {
		page, err := f.svc.Listar(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Clientes {
			got = append(got, c.ID)
		}
		if page.Siguiente == "" {
			break
		}
		q.Cursor = page.Siguiente
	}
	if !slices.Equal(got, []int64{ana.ID, beto.ID}) {
		t.Fatalf("paged %v", got)
	}

	// The reports count the same customers.
	g, err := f.svc.ReporteGeografia(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(g)
	if !strings.Contains(string(raw), `{"departamento":"Cusco","total":2,"activos":1,"provincias":[{"provincia":"Cusco","total":2,"activos":1}]}`) ||
		!strings.Contains(string(raw), `"sinUbicar":{"total":1,"activos":1}`) {
		t.Fatalf("geografia %s", raw)
	}
}
