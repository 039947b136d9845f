package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// ReportesStores are the stores the reports are kept in and read from.
type ReportesStores struct {
	Store     handlers.Store
	Historial handlers.Historial
	Reportes  handlers.ReportesStore
	// CrashAfter, if set, makes the next CompletarLote stop at its n-th
	// write, as a process killed there would. Without it, the suite stops
	// CompletarLote with contexts that run out at random moments.
	CrashAfter func(n int)
}

// ReportesOptions size the randomised stream.
type ReportesOptions struct {
	Seeds      []uint64
	Operations int
}

// RunReportes checks that the maintained report counters equal the ones
// rebuilt from scratch from the customers and purchases, after a
// randomised stream of customer changes and sales events (duplicates,
// cancellations before their sale, events delivered out of order), with
// projector rounds of two projectors interleaved at random and stopped
// half way at random. newStores must return empty stores each time.
func RunReportes(t *testing.T, o ReportesOptions, newStores func(t *testing.T) ReportesStores) {
	t.Run("LoteOnce", func(t *testing.T) { testLoteOnce(t, newStores(t).Reportes) })
	t.Run("ProjectorRace", func(t *testing.T) { testProjectorRace(t, newStores(t)) })
	t.Run("LoteRecordado", func(t *testing.T) { testLoteRecordado(t, newStores(t)) })
	for _, seed := range o.Seeds {
		t.Run("seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			runReportesSeed(t, seed, o.Operations, newStores(t))
		})
	}
}

var direcciones = []string{
	"Av. Arequipa 123, Miraflores, Lima", "Jr. Junín 456 - Cusco", "Calle Real 12, Huancayo, Junín",
	"Av. Ejército 101, Cayma, Arequipa", "Av. Larco 1150, Trujillo, La Libertad", "Jr. Lima 300, Puno",
	"Calle Los Pinos 45, San Juan", "Av. Siempre Viva 742, Springfield", "", "Calle Principal s/n, Áncash",
	"Av. Javier Prado Este 4200, Santiago de Surco", "Psje. Las Flores 3, Chiclayo - Lambayeque",
}

var telefonos = []string{"", "987654321", "912345678", "014221234", "+14155552671", "064231234"}

type reportesRun struct {
	t     *testing.T
	r     *rand.Rand
	s     ReportesStores
	svc   *handlers.Service
	now   time.Time
	ids   []int64
	sales []salesEvent // every event produced, for redelivery
	queue []salesEvent // produced, not yet delivered (delivered out of order)
	ps    []*handlers.Projector
	a     *handlers.Analizador
}

type salesEvent struct {
	venta    *handlers.DatosVenta
	anulada  *handlers.DatosAnulacion
	customer int64
}

func runReportesSeed(t *testing.T, seed uint64, ops int, s ReportesStores) {
	run := &reportesRun{t: t, r: rand.New(rand.NewPCG(seed, 12)), s: s,
		now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), a: handlers.NewAnalizador()}
	run.svc = memstore.Service(handlers.Deps{Store: s.Store, Historial: s.Historial, Reportes: s.Reportes,
		Now: func() time.Time { return run.now }})
	for i := range 2 {
		p, err := handlers.NewProjector(handlers.Projector{Store: s.Store, Historial: s.Historial, Reportes: s.Reportes,
			Analizador: run.a, Now: func() time.Time { return run.now }, Batch: 1 + i*7, Interval: time.Second,
			Takeover: time.Duration(1 + i*int(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		run.ps = append(run.ps, p)
	}
	for i := range ops {
		run.now = run.now.Add(time.Duration(run.r.IntN(72)) * time.Hour)
		run.step(i)
	}
	// Deliver what is left, then fold everything.
	for len(run.queue) > 0 {
		run.deliver()
	}
	// Past every takeover: a lote a stopped projector left is anyone's.
	run.now = run.now.Add(2 * time.Hour)
	// Draining folds what is left in one go: a loaded machine needs more
	// than one operation's 30 s.
	drainCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, p := range run.ps {
		if err := p.Drain(drainCtx); err != nil {
			t.Fatalf("projector %d: drain: %v", i, err)
		}
	}
	run.compare()
}

func (run *reportesRun) step(i int) {
	t, r, c := run.t, run.r, ctx(run.t)
	switch k := r.IntN(100); {
	case k < 20 || len(run.ids) == 0:
		d := handlers.Datos{DNI: ptr(fmt.Sprintf("%08d", 10_000_000+i)), Nombre: ptr("Cliente"), Apellido: ptr(strconv.Itoa(i)),
			Email: ptr(fmt.Sprintf("c%d@example.pe", i)), Telefono: ptr(telefonos[r.IntN(len(telefonos))]),
			Direccion: ptr(direcciones[r.IntN(len(direcciones))])}
		cl, err := run.svc.Crear(c, d, handlers.Cambio{})
		if err != nil {
			t.Fatalf("crear: %v", err)
		}
		run.ids = append(run.ids, cl.ID)
	case k < 30:
		id := run.ids[r.IntN(len(run.ids))]
		cl, err := run.s.Store.Get(c, id)
		if err != nil {
			t.Fatal(err)
		}
		d := handlers.Datos{DNI: &cl.DNI, Nombre: &cl.Nombre, Apellido: &cl.Apellido, Email: &cl.Email,
			Telefono: ptr(telefonos[r.IntN(len(telefonos))]), Direccion: ptr(direcciones[r.IntN(len(direcciones))])}
		if r.IntN(3) == 0 {
			d.Activo = ptr(r.IntN(2) == 0)
		}
		if _, err := run.svc.Actualizar(c, id, d, handlers.Cambio{}); err != nil {
			t.Fatalf("actualizar %d: %v", id, err)
		}
	case k < 35:
		if _, err := run.svc.Eliminar(c, run.ids[r.IntN(len(run.ids))], handlers.Cambio{}); err != nil {
			t.Fatalf("eliminar: %v", err)
		}
	case k < 60:
		id := run.ids[r.IntN(len(run.ids))]
		moneda, total := "PEN", fmt.Sprintf("%d.%02d", r.IntN(900), r.IntN(100))
		if r.IntN(4) == 0 {
			moneda = "USD"
		}
		fecha := run.now.Add(-time.Duration(r.IntN(24*400)) * time.Hour).Format(time.RFC3339)
		v := handlers.DatosVenta{VentaID: ptr(fmt.Sprintf("V%d", i)), ClienteID: &id, Fecha: &fecha,
			Total: ptr(json.Number(total)), Moneda: &moneda, Items: ptr(1 + r.IntN(3))}
		run.produce(salesEvent{venta: &v, customer: id})
	case k < 70 && len(run.sales) > 0:
		// Cancel a sale produced (maybe not delivered yet) or one to come.
		e := run.sales[r.IntN(len(run.sales))]
		if e.venta == nil {
			return
		}
		fecha := run.now.Format(time.RFC3339)
		run.produce(salesEvent{anulada: &handlers.DatosAnulacion{VentaID: e.venta.VentaID, ClienteID: e.venta.ClienteID, Fecha: &fecha},
			customer: e.customer})
	case k < 80 && len(run.sales) > 0:
		run.queue = append(run.queue, run.sales[r.IntN(len(run.sales))]) // a duplicate
	case k < 90:
		run.deliver()
	default:
		run.round()
	}
}

func (run *reportesRun) produce(e salesEvent) {
	run.sales = append(run.sales, e)
	run.queue = append(run.queue, e)
}

// deliver applies a random queued event: out of order.
func (run *reportesRun) deliver() {
	if len(run.queue) == 0 {
		return
	}
	i := run.r.IntN(len(run.queue))
	e := run.queue[i]
	run.queue = slices.Delete(run.queue, i, i+1)
	var err error
	if e.venta != nil {
		_, err = run.svc.RegistrarVenta(ctx(run.t), *e.venta)
	} else {
		_, err = run.svc.AnularVenta(ctx(run.t), *e.anulada)
	}
	if err != nil {
		run.t.Fatalf("sales event: %v", err)
	}
}

// round runs a round of a random projector, maybe stopped half way.
func (run *reportesRun) round() {
	c := ctx(run.t)
	p := run.ps[run.r.IntN(len(run.ps))]
	if run.r.IntN(3) == 0 {
		if run.s.CrashAfter != nil {
			run.s.CrashAfter(1 + run.r.IntN(12))
		} else {
			var cancel context.CancelFunc
			c, cancel = context.WithTimeout(c, time.Duration(run.r.IntN(20_000))*time.Microsecond)
			defer cancel()
		}
	}
	_, _ = p.RunOnce(c) // a stopped round fails; the next ones repair it
	if run.s.CrashAfter != nil {
		run.s.CrashAfter(0)
	}
}

func (run *reportesRun) compare() {
	t, c := run.t, ctx(run.t)
	clientes, err := run.s.Store.List(c, handlers.Filtro{})
	if err != nil {
		t.Fatal(err)
	}
	compras := map[int64][]handlers.Compra{}
	for _, cl := range clientes {
		if compras[cl.ID], err = run.s.Historial.ComprasDe(c, cl.ID); err != nil {
			t.Fatal(err)
		}
	}
	rebuilt := run.a.Reconstruir(clientes, func(id int64) []handlers.Compra { return compras[id] })
	maintained, err := handlers.TodosLosContadores(c, run.s.Reportes)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := handlers.DiferenciasContadores(maintained, rebuilt); len(diffs) > 0 {
		for _, d := range diffs {
			t.Error(d)
		}
		t.FailNow()
	}
	if left, err := run.s.Reportes.Avisos(c, 10); err != nil || len(left) > 0 {
		t.Fatalf("notices left after draining: %v, %v", left, err)
	}
	// The applied contributions select what the rebuilt ones would.
	mes := run.a.Mes(run.now)
	for _, sel := range []handlers.Seleccion{
		{Departamento: ptr("Lima")}, {Departamento: ptr(handlers.SinUbicar)},
		{Valor: handlers.RangosSegmento(handlers.SegmentoLeales, "PEN", mes)},
		{Valor: handlers.RangosSegmento(handlers.SegmentoPerdidos, "PEN", mes), Departamento: ptr("Cusco")},
	} {
		var want []int64
		for _, cl := range clientes {
			if sel.Selecciona(run.a.Contribucion(cl, handlers.Agregar(cl.ID, compras[cl.ID]))) {
				want = append(want, cl.ID)
			}
		}
		var got []int64
		for after := int64(0); ; {
			page, err := run.s.Reportes.Seleccionar(c, sel, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got, after = append(got, page...), page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("Seleccionar(%+v) = %v, want %v", sel, got, want)
		}
	}
	t.Logf("%d customers, %d sales events, %d buckets", len(clientes), len(run.sales), len(rebuilt))
}

func ptr[T any](v T) *T { return &v }

// A lote number is taken once, and completing a lote again changes
// nothing.
func testLoteOnce(t *testing.T, r handlers.ReportesStore) {
	c := ctx(t)
	if err := r.Avisar(c, handlers.Aviso{ID: "c1-1", ClienteID: 1}, handlers.Aviso{ID: "c1-1", ClienteID: 1}, handlers.Aviso{ID: "c2-1", ClienteID: 2}); err != nil {
		t.Fatal(err)
	}
	if av, err := r.Avisos(c, 10); err != nil || len(av) != 2 {
		t.Fatalf("Avisos = %v, %v; want the two distinct notices", av, err)
	}
	contrib := handlers.Contribucion{Dia: "2026-01-05", Activo: true, Departamento: "Cusco", Provincia: "Cusco", Canal: handlers.CanalAmbos}
	l := handlers.Lote{Numero: 1, Owner: "a", Creado: fecha, Delta: handlers.Delta(handlers.Contribucion{}, contrib),
		Contribuciones: map[int64]handlers.Contribucion{1: contrib}, Avisos: []handlers.Aviso{{ID: "c1-1", ClienteID: 1}}}
	if err := r.IniciarLote(c, l); err != nil {
		t.Fatal(err)
	}
	if err := r.IniciarLote(c, handlers.Lote{Numero: 1, Owner: "b", Creado: fecha}); !errors.Is(err, handlers.ErrLoteOcupado) {
		t.Fatalf("second lote 1: %v, want ErrLoteOcupado", err)
	}
	if last, err := r.UltimoLote(c); err != nil || last == nil || last.Numero != 1 || last.Hecho || last.Owner != "a" || len(last.Delta) != len(l.Delta) {
		t.Fatalf("UltimoLote = %+v, %v", last, err)
	}
	for range 2 {
		if err := r.CompletarLote(c, l); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.Contadores(c, handlers.FamiliaGeografia)
	if err != nil || n["geo|Cusco|Cusco|total"] != 1 || n["geo|Cusco|Cusco|activos"] != 1 || len(n) != 2 {
		t.Fatalf("geografia counters %v, %v; want one customer once", n, err)
	}
	if ap, err := r.Aplicadas(c, []int64{1, 2}); err != nil || len(ap) != 1 || !ap[1].Equal(contrib) {
		t.Fatalf("Aplicadas = %v, %v", ap, err)
	}
	if av, err := r.Avisos(c, 10); err != nil || len(av) != 1 || av[0].ID != "c2-1" {
		t.Fatalf("Avisos after the lote = %v, %v; want c2-1 only", av, err)
	}
	if last, err := r.UltimoLote(c); err != nil || !last.Hecho {
		t.Fatalf("lote 1 not done: %+v, %v", last, err)
	}
	if err := r.Podar(c, fecha.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, err := r.UltimoLote(c); err != nil || last == nil || last.Numero != 1 {
		t.Fatalf("Podar dropped the last lote: %+v, %v", last, err)
	}
}

// racingReportes runs another projector's round in the middle of a
// round, right after it read the applied contributions.
type racingReportes struct {
	handlers.ReportesStore
	other func()
}

func (r *racingReportes) Aplicadas(ctx context.Context, ids []int64) (map[int64]handlers.Contribucion, error) {
	out, err := r.ReportesStore.Aplicadas(ctx, ids)
	if r.other != nil {
		other := r.other
		r.other = nil
		other()
	}
	return out, err
}

// fijos returns a service on s and a maker of projectors on s with the
// reports store given, whose clock stands still.
func fijos(t *testing.T, s ReportesStores) (*handlers.Service, func(handlers.ReportesStore, int) *handlers.Projector) {
	now := fecha
	return enHora(t, s, &now)
}

// enHora is fijos with the clock *now.
func enHora(t *testing.T, s ReportesStores, now *time.Time) (*handlers.Service, func(handlers.ReportesStore, int) *handlers.Projector) {
	clock := func() time.Time { return *now }
	a := handlers.NewAnalizador()
	svc := memstore.Service(handlers.Deps{Store: s.Store, Historial: s.Historial, Reportes: s.Reportes, Now: clock})
	return svc, func(r handlers.ReportesStore, batch int) *handlers.Projector {
		p, err := handlers.NewProjector(handlers.Projector{Store: s.Store, Historial: s.Historial, Reportes: r, Analizador: a,
			Now: clock, Batch: batch, Interval: time.Second, Takeover: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// Two projectors folding the same notices at once count them once.
func testProjectorRace(t *testing.T, s ReportesStores) {
	c := ctx(t)
	svc, newProjector := fijos(t, s)
	racing := &racingReportes{ReportesStore: s.Reportes}
	// The second folds one notice while the first has read both.
	first, second := newProjector(racing, 10), newProjector(s.Reportes, 1)
	var clientes []handlers.Cliente
	for i, dir := range []string{"Jr. Junín 456 - Cusco", "Calle Real 12, Huancayo, Junín"} {
		cl, err := svc.Crear(c, handlers.Datos{DNI: ptr(fmt.Sprintf("1011741%d", i)), Nombre: ptr("Ana"), Email: ptr(fmt.Sprintf("ana%d@example.pe", i)),
			Direccion: ptr(dir)}, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		clientes = append(clientes, cl)
	}
	racing.other = func() {
		if n, err := second.RunOnce(c); err != nil || n != 1 {
			t.Errorf("second projector: %d, %v", n, err)
		}
	}
	if n, err := first.RunOnce(c); err != nil || n != 0 {
		t.Fatalf("first projector, overtaken: %d, %v; want nothing folded", n, err)
	}
	if err := first.Drain(c); err != nil {
		t.Fatal(err)
	}
	CheckContadoresSinCompras(t, s.Reportes, clientes)
}

// countingReportes counts the reads of the last lote.
type countingReportes struct {
	handlers.ReportesStore
	ultimo int
}

func (r *countingReportes) UltimoLote(ctx context.Context) (*handlers.Lote, error) {
	r.ultimo++
	return r.ReportesStore.UltimoLote(ctx)
}

// A projector starts the lote after the one it completed a moment ago
// without reading the last lote; when another projector recorded that
// one since, it folds nothing, and its next round reads the last lote.
func testLoteRecordado(t *testing.T, s ReportesStores) {
	c := ctx(t)
	now := fecha
	svc, newProjector := enHora(t, s, &now)
	counting := &countingReportes{ReportesStore: s.Reportes}
	ps := []*handlers.Projector{newProjector(counting, 10), newProjector(s.Reportes, 10)}
	var clientes []handlers.Cliente
	crear := func() {
		i := len(clientes)
		cl, err := svc.Crear(c, handlers.Datos{DNI: ptr(fmt.Sprintf("1011742%d", i)), Nombre: ptr("Ana"), Email: ptr(fmt.Sprintf("ana%d@example.pe", i)),
			Direccion: ptr(direcciones[i%len(direcciones)])}, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		clientes = append(clientes, cl)
	}
	round := func(p int, want int) {
		t.Helper()
		if n, err := ps[p].RunOnce(c); err != nil || n != want {
			t.Fatalf("projector %d: folded %d, %v; want %d", p, n, err, want)
		}
	}
	crear()
	round(0, 1) // lote 1
	crear()
	round(1, 1) // lote 2
	crear()
	round(1, 1) // lote 3
	crear()
	counting.ultimo = 0
	round(0, 0) // lote 2 again: taken
	if counting.ultimo != 0 {
		t.Errorf("the round after its own lote read the last lote %d times, want none", counting.ultimo)
	}
	round(0, 1) // lote 4, the last lote read
	if counting.ultimo != 1 {
		t.Errorf("the round after a taken lote read the last lote %d times, want once", counting.ultimo)
	}
	if last, err := s.Reportes.UltimoLote(c); err != nil || last == nil || last.Numero != 4 || !last.Hecho {
		t.Fatalf("last lote %+v, %v; want 4, done", last, err)
	}
	// Later than a minute, it reads the last lote again.
	crear()
	now = now.Add(2 * time.Minute)
	round(0, 1)
	if counting.ultimo != 2 {
		t.Errorf("a round a while after its lote read the last lote %d times in all, want twice", counting.ultimo)
	}
	CheckContadoresSinCompras(t, s.Reportes, clientes)
}

// CheckContadoresSinCompras fails t unless r's counters equal a rebuild
// from clientes, who have no purchases.
func CheckContadoresSinCompras(t testing.TB, r handlers.ReportesStore, clientes []handlers.Cliente) {
	t.Helper()
	want := handlers.NewAnalizador().Reconstruir(clientes, func(int64) []handlers.Compra { return nil })
	got, err := handlers.TodosLosContadores(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := handlers.DiferenciasContadores(got, want); len(diffs) > 0 {
		t.Fatalf("counters differ from a rebuild: %v", diffs)
	}
}
