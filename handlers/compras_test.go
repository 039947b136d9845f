package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

func TestParseImporte(t *testing.T) {
	tests := []struct {
		text, moneda string
		minor        int64
		msg          string // substring of the message, "" for valid
	}{
		{"149.90", "PEN", 14990, ""},
		{"149.9", "PEN", 14990, ""},
		{"149", "PEN", 14900, ""},
		{"0", "PEN", 0, ""},
		{"0.00", "USD", 0, ""},
		{"007.05", "PEN", 705, ""},
		{"1500", "CLP", 1500, ""},
		{"1500.5", "CLP", 0, "more decimals than CLP allows (0)"},
		{"1.001", "PEN", 0, "more decimals than PEN allows (2)"},
		{"999999999999999.99", "PEN", 99999999999999999, ""},
		{"1000000000000000", "PEN", 0, "too large"},
		{"-1", "PEN", 0, "non-negative decimal"},
		{"1e3", "PEN", 0, "non-negative decimal"},
		{"1.", "PEN", 0, "non-negative decimal"},
		{".5", "PEN", 0, "non-negative decimal"},
		{"", "PEN", 0, "non-negative decimal"},
		{"١٢", "PEN", 0, "non-negative decimal"}, // non-ASCII digits
		{"10", "XYZ", 0, "no valid currency"},
	}
	for _, tc := range tests {
		got, msg := handlers.ParseImporte(tc.text, tc.moneda)
		if !strings.Contains(msg, tc.msg) || (tc.msg == "") != (msg == "") {
			t.Errorf("ParseImporte(%q, %s) message %q, want %q", tc.text, tc.moneda, msg, tc.msg)
			continue
		}
		if tc.msg == "" && (got.Minor != tc.minor || got.Moneda != tc.moneda) {
			t.Errorf("ParseImporte(%q, %s) = %+v, want %d", tc.text, tc.moneda, got, tc.minor)
		}
	}
}

func TestFormatMinor(t *testing.T) {
	for _, tc := range []struct {
		minor  int64
		moneda string
		want   string
	}{
		{14990, "PEN", "149.90"}, {5, "PEN", "0.05"}, {0, "USD", "0.00"}, {-250, "PEN", "-2.50"},
		{1500, "CLP", "1500"}, {1, "KWD", "0.001"},
	} {
		if got := handlers.FormatMinor(tc.minor, tc.moneda); got != tc.want {
			t.Errorf("FormatMinor(%d, %s) = %q, want %q", tc.minor, tc.moneda, got, tc.want)
		}
	}
}

func TestNormalizeMoneda(t *testing.T) {
	for in, want := range map[string]string{"pen": "PEN", " USD ": "USD", "EUR": "EUR", "SOL": "", "PE": "", "": "", "pén": ""} {
		got, msg := handlers.NormalizeMoneda(in)
		if got != want || (want == "") != (msg != "") {
			t.Errorf("NormalizeMoneda(%q) = %q, %q; want %q", in, got, msg, want)
		}
	}
}

// venta builds a valid "sale registered" payload; edit adjusts it.
func venta(id string, cliente int64, fecha time.Time, total, moneda string, items int) handlers.DatosVenta {
	f := fecha.Format(time.RFC3339Nano)
	n := json.Number(total)
	return handlers.DatosVenta{VentaID: &id, ClienteID: &cliente, Fecha: &f, Total: &n, Moneda: &moneda, Items: &items}
}

func anulacion(id string, cliente int64, fecha time.Time) handlers.DatosAnulacion {
	f := fecha.Format(time.RFC3339Nano)
	return handlers.DatosAnulacion{VentaID: &id, ClienteID: &cliente, Fecha: &f}
}

func TestValidarVenta(t *testing.T) {
	base := clock.Add(-time.Hour)
	tests := []struct {
		name   string
		edit   func(d *handlers.DatosVenta)
		fields string
	}{
		{"valid", func(d *handlers.DatosVenta) {}, ""},
		{"everything missing", func(d *handlers.DatosVenta) { *d = handlers.DatosVenta{} }, "ventaId,clienteId,fecha,moneda,total,items"},
		{"bad values", func(d *handlers.DatosVenta) {
			d.VentaID, d.ClienteID, d.Fecha = ptr(" V-1"), ptr(int64(0)), ptr("2026-11-25 10:00")
			d.Moneda, d.Items = ptr("SOLES"), ptr(0)
		}, "ventaId,clienteId,fecha,moneda,items"},
		{"sale id too long", func(d *handlers.DatosVenta) { d.VentaID = ptr(strings.Repeat("x", 65)) }, "ventaId"},
		{"sale id with control characters", func(d *handlers.DatosVenta) { d.VentaID = ptr("V\n1") }, "ventaId"},
		{"date without zone", func(d *handlers.DatosVenta) { d.Fecha = ptr("2026-11-25T10:00:00") }, "fecha"},
		{"date in the future", func(d *handlers.DatosVenta) { d.Fecha = ptr(clock.Add(25 * time.Hour).Format(time.RFC3339)) }, "fecha"},
		{"date last century", func(d *handlers.DatosVenta) { d.Fecha = ptr("1999-12-31T23:59:59Z") }, "fecha"},
		{"negative total", func(d *handlers.DatosVenta) { d.Total = ptr(json.Number("-5")) }, "total"},
		{"too many decimals", func(d *handlers.DatosVenta) { d.Total = ptr(json.Number("5.555")) }, "total"},
		{"too many items", func(d *handlers.DatosVenta) { d.Items = ptr(100_001) }, "items"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := venta("V-1", 7, base, "10.50", "pen", 2)
			tc.edit(&d)
			c, err := handlers.ValidarVenta(d, clock)
			if got := joined(fieldsOf(err)); got != tc.fields {
				t.Fatalf("fields %q, want %q (%v)", got, tc.fields, err)
			}
			if tc.fields == "" && (c.Total != handlers.Importe{Minor: 1050, Moneda: "PEN"} || !c.Fecha.Equal(base.Truncate(time.Millisecond)) || !c.Registrada) {
				t.Fatalf("compra %+v", c)
			}
		})
	}
}

func TestNewResumen(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	compras := []handlers.Compra{
		{VentaID: "a", Fecha: day, Total: handlers.Importe{Minor: 10000, Moneda: "PEN"}, Items: 1, Registrada: true},
		{VentaID: "b", Fecha: day.Add(10 * 24 * time.Hour), Total: handlers.Importe{Minor: 5001, Moneda: "PEN"}, Items: 2, Registrada: true},
		{VentaID: "c", Fecha: day.Add(20 * 24 * time.Hour), Total: handlers.Importe{Minor: 999, Moneda: "USD"}, Items: 3, Registrada: true},
		{VentaID: "d", Fecha: day.Add(30 * 24 * time.Hour), Total: handlers.Importe{Minor: 77777, Moneda: "PEN"}, Items: 4, Registrada: true, Anulada: true},
		{VentaID: "e", Anulada: true}, // a cancellation whose sale never came
	}
	a := handlers.Agregar(7, compras)
	now := day.Add(60 * 24 * time.Hour)
	r := handlers.NewResumen(a, true, now)
	raw, _ := json.Marshal(r)
	want := `{"clienteId":7,"compras":3,"anuladas":1,"items":6,"primeraCompra":"2026-01-01T00:00:00.000Z","ultimaCompra":"2026-01-21T00:00:00.000Z","diasEntreCompras":10,` +
		`"porMoneda":[{"moneda":"PEN","compras":2,"totalGastado":"150.01","ticketPromedio":"75.00","gastoMensual":"75.00","valorVida":"1050.01"},` +
		`{"moneda":"USD","compras":1,"totalGastado":"9.99","ticketPromedio":"9.99","gastoMensual":"5.00","valorVida":"69.99"}]}`
	if string(raw) != want {
		t.Fatalf("resumen\n got %s\nwant %s", raw, want)
	}
	// 150.01 over 60 days is 75.005 a month: half-even rounding gives 75.00;
	// an inactive customer is expected to spend nothing more.
	if off := handlers.NewResumen(a, false, now); off.PorMoneda[0].ValorVida != "150.01" {
		t.Fatalf("inactive: %+v", off.PorMoneda)
	}
	// A first purchase a week ago counts as one month, not extrapolated ×4.
	recent := handlers.NewResumen(handlers.Agregar(7, compras[:1]), true, day.Add(7*24*time.Hour))
	if recent.PorMoneda[0].GastoMensual != "100.00" || recent.DiasEntreCompras != nil {
		t.Fatalf("recent: %+v", recent)
	}
	empty, _ := json.Marshal(handlers.NewResumen(handlers.Agregados{ClienteID: 7}, true, now))
	if string(empty) != `{"clienteId":7,"compras":0,"anuladas":0,"items":0,"primeraCompra":null,"ultimaCompra":null,"diasEntreCompras":null,"porMoneda":[]}` {
		t.Fatalf("empty resumen %s", empty)
	}
}

type historialFixture struct {
	svc   *handlers.Service
	store *memstore.Store
	hist  handlers.Historial
	ana   handlers.Cliente
	luis  handlers.Cliente // inactive
}

func newHistorial(t *testing.T, wrap func(handlers.Historial) handlers.Historial) *historialFixture {
	f := &historialFixture{store: memstore.New(), hist: memstore.NewHistorial()}
	if wrap != nil {
		f.hist = wrap(f.hist)
	}
	f.svc = memstore.Service(handlers.Deps{Store: f.store, Now: func() time.Time { return clock }, Historial: f.hist})
	ctx := context.Background()
	var err error
	if f.ana, err = f.svc.Crear(ctx, valid(), handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	other := handlers.Datos{DNI: ptr("20117410"), Nombre: ptr("Luis"), Email: ptr("luis@example.pe")}
	if f.luis, err = f.svc.Crear(ctx, other, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Eliminar(ctx, f.luis.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// evento is one sales event for a test sequence.
type evento struct {
	venta    *handlers.DatosVenta
	anulada  *handlers.DatosAnulacion
	want     string // Resultado
	motivo   string
	wantCode handlers.Code
}

func (f *historialFixture) apply(ctx context.Context, e evento) (handlers.ResultadoVenta, error) {
	if e.venta != nil {
		return f.svc.RegistrarVenta(ctx, *e.venta)
	}
	return f.svc.AnularVenta(ctx, *e.anulada)
}

func TestSalesEventsInAnyOrder(t *testing.T) {
	ctx := context.Background()
	day := clock.Add(-10 * 24 * time.Hour)
	f := newHistorial(t, nil)
	ana, luis := f.ana.ID, f.luis.ID
	v := func(id string, c int64, d int, total string) *handlers.DatosVenta {
		x := venta(id, c, day.Add(time.Duration(d)*24*time.Hour), total, "PEN", d+1)
		return &x
	}
	a := func(id string, c int64) *handlers.DatosAnulacion {
		x := anulacion(id, c, day.Add(9*24*time.Hour))
		return &x
	}
	steps := []evento{
		{venta: v("V1", ana, 0, "100"), want: handlers.VentaAplicada},
		{venta: v("V1", ana, 0, "100"), want: handlers.VentaDuplicada},
		{anulada: a("V2", ana), want: handlers.VentaAplicada}, // before its sale
		{venta: v("V2", ana, 1, "30.50"), want: handlers.VentaAplicada},
		{venta: v("V3", ana, 2, "19.50"), want: handlers.VentaAplicada},
		{anulada: a("V3", ana), want: handlers.VentaAplicada},
		{anulada: a("V3", ana), want: handlers.VentaAplicada}, // again
		{venta: v("V4", ana, 3, "5"), want: handlers.VentaAplicada},
		{venta: v("V4", ana, 3, "6"), want: handlers.VentaRechazada, motivo: handlers.MotivoConflicto},
		{venta: v("V5", luis, 1, "8"), want: handlers.VentaAplicada, motivo: handlers.MotivoInactivo},
		{venta: v("V6", 999, 1, "8"), want: handlers.VentaRechazada, motivo: handlers.MotivoNoEncontrado},
		{venta: v("V7", ana, 50, "8"), wantCode: handlers.CodeInvalid}, // in the future
		{anulada: &handlers.DatosAnulacion{}, wantCode: handlers.CodeInvalid},
	}
	for i, st := range steps {
		res, err := f.apply(ctx, st)
		if handlers.ErrorCode(err) != st.wantCode || res.Resultado != st.want || res.Motivo != st.motivo {
			t.Fatalf("step %d: %+v, %v; want %q %q %q", i, res, err, st.want, st.motivo, st.wantCode)
		}
	}
	r, err := f.svc.Resumen(ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	if r.Compras != 2 || r.Anuladas != 2 || r.Items != 5 || r.PorMoneda[0].TotalGastado != "105.00" {
		t.Fatalf("ana's resumen %+v %+v", r, r.PorMoneda)
	}
	if r, _ := f.svc.Resumen(ctx, luis); r.Compras != 1 {
		t.Fatalf("the inactive customer's sale is attached: %+v", r)
	}
	page, err := f.svc.Compras(ctx, luis, nil, "")
	if err != nil || len(page.Compras) != 1 || !page.Compras[0].ClienteInactivo {
		t.Fatalf("luis' history %+v, %v", page, err)
	}
	if _, err := f.svc.Resumen(ctx, 999); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("unknown customer's resumen: %v", err)
	}
}

// failSaveOnce loses the first save of totals, as a crash between storing
// a sale and storing the totals would.
type failSaveOnce struct {
	handlers.Historial
	failed bool
}

func (f *failSaveOnce) GuardarAgregados(ctx context.Context, a handlers.Agregados, rev int64) error {
	if !f.failed {
		f.failed = true
		return handlers.Errorf(handlers.CodeUnavailable, "crashed")
	}
	return f.Historial.GuardarAgregados(ctx, a, rev)
}

func TestCrashBetweenSaleAndTotalsHealsOnRedelivery(t *testing.T) {
	ctx := context.Background()
	f := newHistorial(t, func(h handlers.Historial) handlers.Historial { return &failSaveOnce{Historial: h} })
	e := venta("V1", f.ana.ID, clock.Add(-time.Hour), "42.10", "PEN", 1)
	if _, err := f.svc.RegistrarVenta(ctx, e); handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("first try: %v, want the crash", err)
	}
	if r, _ := f.svc.Resumen(ctx, f.ana.ID); r.Compras != 0 {
		t.Fatalf("totals saved despite the crash: %+v", r)
	}
	// Kafka delivers the event again: the sale is a duplicate, the totals
	// are recomputed from what is stored.
	res, err := f.svc.RegistrarVenta(ctx, e)
	if err != nil || res.Resultado != handlers.VentaDuplicada {
		t.Fatalf("redelivery: %+v, %v", res, err)
	}
	if r, _ := f.svc.Resumen(ctx, f.ana.ID); r.Compras != 1 || r.PorMoneda[0].TotalGastado != "42.10" {
		t.Fatalf("totals after redelivery %+v", r)
	}
}

// racingSave has another recomputation store stale totals between this
// one's read and its save, the first times.
type racingSave struct {
	handlers.Historial
	races int
}

func (r *racingSave) GuardarAgregados(ctx context.Context, a handlers.Agregados, rev int64) error {
	if r.races > 0 {
		r.races--
		if err := r.Historial.GuardarAgregados(ctx, handlers.Agregados{ClienteID: a.ClienteID}, rev); err != nil {
			return err
		}
	}
	return r.Historial.GuardarAgregados(ctx, a, rev)
}

func TestRecomputationRetriesAfterAConcurrentSave(t *testing.T) {
	ctx := context.Background()
	race := &racingSave{races: 2}
	f := newHistorial(t, func(h handlers.Historial) handlers.Historial { race.Historial = h; return race })
	if _, err := f.svc.RegistrarVenta(ctx, venta("V1", f.ana.ID, clock.Add(-time.Hour), "1", "PEN", 1)); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.svc.Resumen(ctx, f.ana.ID); r.Compras != 1 {
		t.Fatalf("stale totals won: %+v", r)
	}
	race.races = 100
	_, err := f.svc.RegistrarVenta(ctx, venta("V2", f.ana.ID, clock.Add(-time.Hour), "1", "PEN", 1))
	if handlers.ErrorCode(err) != handlers.CodeUnavailable {
		t.Fatalf("endless races: %v, want unavailable (retried later)", err)
	}
}

func TestComprasPaging(t *testing.T) {
	ctx := context.Background()
	f := newHistorial(t, nil)
	for i := range 25 {
		e := venta(fmt.Sprintf("V%02d", i), f.ana.ID, clock.Add(-time.Duration(i)*time.Hour), "1", "PEN", 1)
		if _, err := f.svc.RegistrarVenta(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for pages := 1; ; pages++ {
		p, err := f.svc.Compras(ctx, f.ana.ID, nil, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Compras {
			seen = append(seen, c.VentaID)
		}
		if p.Siguiente == "" {
			if pages != 2 {
				t.Fatalf("%d pages of the default 20, want 2", pages)
			}
			break
		}
		cursor = p.Siguiente
	}
	if len(seen) != 25 || seen[0] != "V00" || seen[24] != "V24" {
		t.Fatalf("history %v", seen)
	}
	// Exactly a page's worth leaves no empty next page.
	if p, _ := f.svc.Compras(ctx, f.ana.ID, ptr(25), ""); len(p.Compras) != 25 || p.Siguiente != "" {
		t.Fatalf("limit 25: %d, next %q", len(p.Compras), p.Siguiente)
	}
	for _, tc := range []struct {
		id     int64
		limite *int
		cursor string
		fields string
	}{
		{0, nil, "", "id"},
		{f.ana.ID, ptr(101), "", "limite"},
		{f.ana.ID, ptr(-1), "%%%", "limite,cursor"},
		{f.ana.ID, nil, "e30", "cursor"}, // "{}"
	} {
		_, err := f.svc.Compras(ctx, tc.id, tc.limite, tc.cursor)
		if joined(fieldsOf(err)) != tc.fields {
			t.Errorf("Compras(%d, %v, %q) = %v, want fields %s", tc.id, tc.limite, tc.cursor, err, tc.fields)
		}
	}
	if _, err := f.svc.Compras(ctx, 999, nil, ""); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("unknown customer's history: %v", err)
	}
}

// A service is never built without a dependency it would discover
// missing only when the first command needs it.
func TestNewServiceRefusesMissingDependencies(t *testing.T) {
	full := handlers.Deps{Store: memstore.New(), Historial: memstore.NewHistorial(), Outbox: memstore.NewOutbox(),
		Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour, Now: time.Now, Reportes: memstore.NewReportes()}
	if _, err := handlers.NewService(full); err != nil {
		t.Fatalf("all dependencies given: %v", err)
	}
	for name, drop := range map[string]func(*handlers.Deps){
		"Store": func(d *handlers.Deps) { d.Store = nil }, "Historial": func(d *handlers.Deps) { d.Historial = nil },
		"Outbox": func(d *handlers.Deps) { d.Outbox = nil }, "Idempotency": func(d *handlers.Deps) { d.Idempotency = nil },
		"IdempotencyTTL": func(d *handlers.Deps) { d.IdempotencyTTL = 0 }, "Now": func(d *handlers.Deps) { d.Now = nil },
		"Reportes": func(d *handlers.Deps) { d.Reportes = nil },
	} {
		d := full
		drop(&d)
		svc, err := handlers.NewService(d)
		if svc != nil || err == nil || !strings.Contains(err.Error(), name+" is required") {
			t.Errorf("without %s: %v, %v; want an error naming it", name, svc, err)
		}
	}
}

func FuzzValidarVenta(f *testing.F) {
	f.Add("V-1", int64(7), "2026-11-25T10:00:00Z", "149.90", "PEN", 2)
	f.Add("", int64(-1), "2026-11-25T10:00:00+25:00", "1e9", "pen", 0)
	f.Add("V 2", int64(1), "2026-02-30T10:00:00Z", "00000000000000000000001.5", "CLP", 100000)
	f.Fuzz(func(t *testing.T, id string, cliente int64, fecha, total, moneda string, items int) {
		n := json.Number(total)
		c, err := handlers.ValidarVenta(handlers.DatosVenta{VentaID: &id, ClienteID: &cliente, Fecha: &fecha, Total: &n, Moneda: &moneda, Items: &items}, clock)
		if err != nil {
			if handlers.ErrorCode(err) != handlers.CodeInvalid || len(fieldsOf(err)) == 0 {
				t.Fatalf("error %v is not an invalid-field error", err)
			}
			return
		}
		// A valid sale round-trips through its text form exactly.
		back, msg := handlers.ParseImporte(c.Total.String(), c.Total.Moneda)
		if msg != "" || back != c.Total || c.Total.Minor < 0 || c.ClienteID <= 0 || c.Items < 1 || c.VentaID != id {
			t.Fatalf("accepted %+v from %q %q (%v %q)", c, total, moneda, back, msg)
		}
	})
}

// A history page survives the trip through JSON that a client makes.
func TestCompraJSONRoundTrip(t *testing.T) {
	total, _ := handlers.ParseImporte("149.90", "PEN")
	fecha := time.Date(2026, 11, 1, 10, 0, 0, 123_000_000, time.UTC)
	for _, c := range []handlers.Compra{
		{VentaID: "V1", ClienteID: 7, Fecha: fecha, Total: total, Items: 2, Registrada: true},
		{VentaID: "V2", ClienteID: 7, Fecha: fecha, Total: total, Items: 1, Registrada: true, Anulada: true,
			FechaAnulacion: fecha.Add(time.Hour), ClienteInactivo: true},
	} {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back handlers.Compra
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !back.MismaVenta(c) || back.Anulada != c.Anulada || !back.FechaAnulacion.Equal(c.FechaAnulacion) ||
			back.ClienteInactivo != c.ClienteInactivo || !back.Registrada {
			t.Fatalf("%s became %+v, was %+v", raw, back, c)
		}
	}
	var bad handlers.Compra
	if err := json.Unmarshal([]byte(`{"ventaId":"V","total":"x","moneda":"PEN","fecha":"2026-11-01T10:00:00Z"}`), &bad); err == nil {
		t.Fatal("a purchase with a malformed total decoded")
	}
}
