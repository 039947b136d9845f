// Command benchreportes measures the five reports on a real database with
// many customers and sales, in four phases:
//
//  1. seed -clientes customers and -ventas sales: with -seed bulk (the
//     default) through repository.Importar, large batches with every
//     derived document and one report notice per customer; with -seed
//     casos through the service's own use cases (Crear, RegistrarVenta),
//     -concurrency at a time, the projector folding as it goes (hours for
//     a million sales on FerretDB);
//  2. fold every notice left with the projector, as a worker's does, and
//     read each report -n times on the quiet store;
//  3. for -live, a stream of customers and sales through the use cases,
//     -live-concurrency at a time, with the projector running, while the
//     reports are read over and over: the latency while folding;
//  4. fold what is left and check exactness at scale: every counter must
//     equal the one rebuilt from scratch from the stored customers and
//     purchase history (handlers.Analizador.Reconstruir, as the reports'
//     tests rebuild them).
//
// It prints the seeding rates, the fold rate, p50, p99 and max of each
// report in both phases, and the exactness result; it fails if the
// reports are not exact. It only connects to a loopback database.
//
//	make bench-reportes   # the real infrastructure, 100,000 customers, 1,000,000 sales
//	go run ./cmd/benchreportes -mongodb mongodb://127.0.0.1:27018/ -clientes 10000 -ventas 100000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // report dates are Lima dates

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/edgehttp"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/repository"
)

func main() {
	app.Main("benchreportes", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

var (
	direcciones = []string{"Av. Arequipa 123, Miraflores, Lima", "Jr. Junín 456 - Cusco", "Calle Real 12, Huancayo, Junín",
		"Av. Ejército 101, Cayma, Arequipa", "Av. Larco 1150, Trujillo, La Libertad", "Jr. Lima 300, Puno",
		"Psje. Las Flores 3, Chiclayo - Lambayeque", "Av. Grau 800, Iquitos, Maynas, Loreto", "Calle Los Pinos 45, San Juan", ""}
	telefonos = []string{"987654321", "", "014221234", "912345678"}
)

type config struct {
	uri, database, seed           string
	clientes, ventas, concurrency int
	importers, batch, n           int
	liveConcurrency               int
	seedTimeout, live             time.Duration
	cpuProfile                    string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("benchreportes", flag.ContinueOnError)
	fs.StringVar(&cfg.uri, "mongodb", "mongodb://127.0.0.1:27018/", "MongoDB or FerretDB URI (loopback only)")
	fs.StringVar(&cfg.database, "database", "", "database to seed and read (default: a new one per run)")
	fs.StringVar(&cfg.seed, "seed", "bulk", "how to seed: bulk (repository.Importar) or casos (the use cases)")
	fs.IntVar(&cfg.clientes, "clientes", 100_000, "customers to seed")
	fs.IntVar(&cfg.ventas, "ventas", 1_000_000, "sales to seed")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "use case calls in flight while seeding with -seed casos")
	fs.IntVar(&cfg.importers, "importers", 2, "Importar calls in flight while seeding in bulk")
	fs.IntVar(&cfg.batch, "batch", app.ProjectorBatch, "the projector's lote size (notices per lote; default the worker's)")
	fs.IntVar(&cfg.liveConcurrency, "live-concurrency", 4, "use case calls in flight in the live phase")
	fs.IntVar(&cfg.n, "n", 1000, "reads of each report on the quiet store")
	fs.DurationVar(&cfg.seedTimeout, "seed-timeout", 30*time.Minute, "stop seeding after this long")
	fs.DurationVar(&cfg.live, "live", time.Minute, "how long the live phase streams customers and sales (0: none)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the fold phase to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if u, err := url.Parse(cfg.uri); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		return fmt.Errorf("-mongodb %q: only a loopback database", cfg.uri)
	}
	if cfg.seed != "bulk" && cfg.seed != "casos" {
		return fmt.Errorf("-seed %q: bulk or casos", cfg.seed)
	}
	if cfg.database == "" {
		cfg.database = "bench_reportes_" + time.Now().UTC().Format("20060102150405")
	}
	store, err := repository.Connect(ctx, cfg.uri, cfg.database)
	if err != nil {
		return err
	}
	defer store.Close(context.WithoutCancel(ctx))
	b := &bench{cfg: cfg, out: stdout, store: store, analizador: handlers.NewAnalizador(), run: time.Now().UnixNano() % 1_000_000}
	b.projector, err = handlers.NewProjector(handlers.Projector{Store: store, Historial: store.Historial(), Reportes: store.Reportes(),
		Analizador: b.analizador, Now: time.Now, Batch: cfg.batch, Interval: time.Second, Takeover: 30 * time.Second})
	if err != nil {
		return err
	}
	deps := store.Deps(handlers.DefaultIdempotencyTTL, time.Now)
	deps.Reportes = b.projector.NotifyingReportes()
	if b.svc, err = handlers.NewService(deps); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "benchreportes: database %s, seeding %d customers and %d sales (%s)\n", cfg.database, cfg.clientes, cfg.ventas, cfg.seed)

	seedCtx, cancel := context.WithTimeout(ctx, cfg.seedTimeout)
	defer cancel()
	if cfg.seed == "bulk" {
		err = b.seedBulk(seedCtx)
	} else {
		err = b.seedCasos(seedCtx, deps)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := b.fold(ctx, "seeding"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reports on the quiet store (load average %s):\n", edgehttp.LoadAverage())
	for _, rep := range b.reports() {
		lat := make([]time.Duration, 0, cfg.n)
		for range cfg.n {
			t0 := time.Now()
			if _, err := rep.read(ctx); err != nil {
				return fmt.Errorf("%s: %w", rep.name, err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.printLatencies(rep, lat)
	}
	if cfg.live > 0 {
		if err := b.livePhase(ctx); err != nil {
			return err
		}
		if err := b.fold(ctx, "the live phase"); err != nil {
			return err
		}
	}
	return b.checkExact(ctx)
}

type bench struct {
	cfg        config
	out        io.Writer
	store      *repository.Mongo
	analizador *handlers.Analizador
	projector  *handlers.Projector
	svc        *handlers.Service
	// run tells this run's dni, emails and sale ids from other runs'.
	run int64
	ids []int64
}

// datos are the fields of the i-th seeded customer.
func (b *bench) datos(i int) handlers.Datos {
	dni := fmt.Sprintf("%08d", (b.run*100_000+int64(i))%100_000_000)
	nombre, email := "Cliente "+strconv.Itoa(i), fmt.Sprintf("c%d.%d@example.pe", b.run, i)
	return handlers.Datos{DNI: &dni, Nombre: &nombre, Email: &email,
		Direccion: &direcciones[i%len(direcciones)], Telefono: &telefonos[i%len(telefonos)]}
}

// venta is the i-th seeded sale, of customer id: dated over the last 400
// days, one in five in dollars.
func (b *bench) venta(i int, id int64, r *rand.Rand) handlers.DatosVenta {
	ventaID := fmt.Sprintf("B%d-%d", b.run, i)
	fecha := time.Now().Add(-time.Duration(r.Int64N(400*24)) * time.Hour).UTC().Format(time.RFC3339)
	total := json.Number(fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)))
	moneda := "PEN"
	if r.IntN(5) == 0 {
		moneda = "USD"
	}
	items := 1 + r.IntN(5)
	return handlers.DatosVenta{VentaID: &ventaID, ClienteID: &id, Fecha: &fecha, Total: &total, Moneda: &moneda, Items: &items}
}

// saleRand is sale i's random source; its first draw picks the customer.
func (b *bench) saleRand(i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(b.run), uint64(i))) }

// seedBulk imports the customers, registered over the last two years, and
// the sales, each of a random customer, in batches of bulkClientes
// customers with all their sales, -importers batches at a time.
func (b *bench) seedBulk(ctx context.Context) error {
	const bulkClientes = 1000
	n := b.cfg.clientes
	if n == 0 {
		return nil
	}
	first, err := b.store.ReservarIDs(ctx, n)
	if err != nil {
		return err
	}
	// Which customer each sale is of, grouped by batch.
	owner := make([]int32, b.cfg.ventas)
	porLote := make([][]int32, (n+bulkClientes-1)/bulkClientes)
	for i := range owner {
		owner[i] = int32(b.saleRand(i).IntN(n))
		porLote[int(owner[i])/bulkClientes] = append(porLote[int(owner[i])/bulkClientes], int32(i))
	}
	from, step := time.Now().AddDate(-2, 0, 0), 2*365*24*time.Hour/time.Duration(n)
	var clientesDone, ventasDone atomic.Int64
	start := time.Now()
	_, err = parallel(ctx, len(porLote), b.cfg.importers, func(ctx context.Context, k int) error {
		var lote repository.Importacion
		for i := k * bulkClientes; i < min(n, (k+1)*bulkClientes); i++ {
			c, err := handlers.Registrado(first+int64(i), b.datos(i), from.Add(time.Duration(i)*step))
			if err != nil {
				return err
			}
			lote.Clientes = append(lote.Clientes, c)
		}
		for _, i := range porLote[k] {
			r := b.saleRand(int(i))
			r.IntN(n) // the customer, drawn above
			compra, err := handlers.ValidarVenta(b.venta(int(i), first+int64(owner[i]), r), time.Now())
			if err != nil {
				return err
			}
			lote.Compras = append(lote.Compras, compra)
		}
		if err := b.store.Importar(ctx, lote); err != nil {
			return err
		}
		c, v := clientesDone.Add(int64(len(lote.Clientes))), ventasDone.Add(int64(len(lote.Compras)))
		if k%20 == 19 {
			fmt.Fprintf(b.out, "  imported %d customers, %d sales (%.0f sales/s)\n", c, v, float64(v)/time.Since(start).Seconds())
		}
		return nil
	})
	took := time.Since(start)
	fmt.Fprintf(b.out, "seeded in bulk %d customers and %d sales in %v (%.0f customers/s, %.0f sales/s, %.0f documents/s)\n",
		clientesDone.Load(), ventasDone.Load(), took.Round(time.Second), float64(clientesDone.Load())/took.Seconds(),
		float64(ventasDone.Load())/took.Seconds(), float64(3*clientesDone.Load()+ventasDone.Load())/took.Seconds())
	for i := range clientesDone.Load() {
		b.ids = append(b.ids, first+i)
	}
	return err
}

// seedCasos seeds through the use cases, the projector folding as it goes.
func (b *bench) seedCasos(ctx context.Context, deps handlers.Deps) error {
	// Customers are registered over the last year or two: the seeding
	// service's clock moves from two years ago towards now, a step per
	// reading (Crear reads it about twice).
	var tick atomic.Int64
	from, step := time.Now().AddDate(-2, 0, 0), 2*365*24*time.Hour/time.Duration(3*max(b.cfg.clientes, 1))
	deps.Now = func() time.Time { return from.Add(time.Duration(tick.Add(1)) * step) }
	registro, err := handlers.NewService(deps)
	if err != nil {
		return err
	}
	projCtx, stopProjector := context.WithCancel(ctx)
	defer stopProjector()
	projDone := make(chan struct{})
	go func() { defer close(projDone); b.projector.Run(projCtx) }()
	defer func() { stopProjector(); <-projDone }()

	start := time.Now()
	ids := make([]int64, b.cfg.clientes)
	created, err := parallel(ctx, b.cfg.clientes, b.cfg.concurrency, func(ctx context.Context, i int) error {
		c, err := registro.Crear(ctx, b.datos(i), handlers.Cambio{})
		ids[i] = c.ID
		return err
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	b.ids = slices.DeleteFunc(ids, func(id int64) bool { return id == 0 })
	fmt.Fprintf(b.out, "seeded %d customers in %v (%.0f/s)\n", created, took.Round(time.Second), float64(created)/took.Seconds())
	start = time.Now()
	sold, err := parallel(ctx, b.cfg.ventas, b.cfg.concurrency, func(ctx context.Context, i int) error {
		r := b.saleRand(i)
		_, err := b.svc.RegistrarVenta(ctx, b.venta(i, b.ids[r.IntN(len(b.ids))], r))
		return err
	})
	took = time.Since(start)
	fmt.Fprintf(b.out, "seeded %d sales in %v (%.0f/s)\n", sold, took.Round(time.Second), float64(sold)/took.Seconds())
	return err
}

// fold folds every notice left, timed; with -cpuprofile, profiled.
func (b *bench) fold(ctx context.Context, after string) error {
	if b.cfg.cpuProfile != "" {
		f, err := os.Create(b.cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	start, folded, lotes := time.Now(), 0, 0
	for {
		n, err := b.projector.RunOnce(ctx)
		if err != nil {
			return fmt.Errorf("folding the notices left after %s: %w", after, err)
		}
		if n == 0 {
			break
		}
		folded, lotes = folded+n, lotes+1
		if lotes%25 == 0 {
			fmt.Fprintf(b.out, "  folded %d notices (%.0f/s)\n", folded, float64(folded)/time.Since(start).Seconds())
		}
	}
	took := time.Since(start)
	fmt.Fprintf(b.out, "folded the %d notices left after %s in %v: %d lotes, %.0f notices/s\n", folded, after,
		took.Round(time.Millisecond), lotes, float64(folded)/took.Seconds())
	return nil
}

type report struct {
	name string
	read func(context.Context) (any, error)
}

func (b *bench) reports() []report {
	svc := b.svc
	return []report{
		{"adquisicion (mes, 12 months)", func(ctx context.Context) (any, error) {
			return svc.ReporteAdquisicion(ctx, handlers.ConsultaAdquisicion{})
		}},
		{"adquisicion (dia, 400 days)", func(ctx context.Context) (any, error) {
			hoy := time.Now().Format(time.DateOnly)
			return svc.ReporteAdquisicion(ctx, handlers.ConsultaAdquisicion{Periodo: handlers.PeriodoDia,
				Desde: time.Now().AddDate(0, 0, -400).Format(time.DateOnly), Hasta: hoy})
		}},
		{"retencion", func(ctx context.Context) (any, error) { return svc.ReporteRetencion(ctx) }},
		{"geografia", func(ctx context.Context) (any, error) { return svc.ReporteGeografia(ctx) }},
		{"canales", func(ctx context.Context) (any, error) { return svc.ReporteCanales(ctx) }},
		{"valor", func(ctx context.Context) (any, error) { return svc.ReporteValor(ctx) }},
	}
}

func (b *bench) printLatencies(rep report, lat []time.Duration) {
	if len(lat) == 0 {
		fmt.Fprintf(b.out, "  %-30s n=0\n", rep.name)
		return
	}
	slices.Sort(lat)
	out, _ := rep.read(context.Background())
	raw, _ := json.Marshal(out)
	fmt.Fprintf(b.out, "  %-30s n=%d p50=%v p99=%v max=%v (reply %d bytes of JSON)\n", rep.name, len(lat),
		pct(lat, 50).Round(10*time.Microsecond), pct(lat, 99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(raw))
}

// livePhase streams new customers and sales (one customer every ten
// calls) through the use cases for -live, the projector running as in a
// worker, while one reader reads the reports in turn.
func (b *bench) livePhase(ctx context.Context) error {
	projCtx, stopProjector := context.WithCancel(ctx)
	defer stopProjector()
	projDone := make(chan struct{})
	go func() { defer close(projDone); b.projector.Run(projCtx) }()
	liveCtx, cancel := context.WithTimeout(ctx, b.cfg.live)
	defer cancel()

	reps := b.reports()
	lat := make([][]time.Duration, len(reps))
	readerDone := make(chan error, 1)
	go func() {
		for i := 0; liveCtx.Err() == nil; i++ {
			t0 := time.Now()
			if _, err := reps[i%len(reps)].read(ctx); err != nil {
				readerDone <- err
				return
			}
			lat[i%len(reps)] = append(lat[i%len(reps)], time.Since(t0))
		}
		readerDone <- nil
	}()
	var mu sync.Mutex
	var created, sold atomic.Int64
	start := time.Now()
	// The calls run on ctx, not liveCtx: a call cut short would leave a
	// change without its notice, which only a redelivery (absent here)
	// repairs. The phase ends by starting no more calls.
	_, err := parallel(liveCtx, 1<<40, b.cfg.liveConcurrency, func(_ context.Context, i int) error {
		return b.liveCall(ctx, i, &mu, &created, &sold)
	})
	took := time.Since(start)
	if rerr := <-readerDone; rerr != nil {
		return rerr
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	stopProjector()
	<-projDone
	fmt.Fprintf(b.out, "live phase: %d customers (%.0f/s) and %d sales (%.0f/s) through the use cases in %v, %d at a time, the projector folding; reports meanwhile (load average %s):\n",
		created.Load(), float64(created.Load())/took.Seconds(), sold.Load(), float64(sold.Load())/took.Seconds(), took.Round(time.Second), b.cfg.liveConcurrency,
		edgehttp.LoadAverage())
	for i, rep := range reps {
		b.printLatencies(rep, lat[i])
	}
	return nil
}

// liveCall is the live phase's i-th call: a new customer every tenth, else
// a sale of a random customer.
func (b *bench) liveCall(ctx context.Context, i int, mu *sync.Mutex, created, sold *atomic.Int64) error {
	j := b.cfg.ventas + i
	if i%10 == 0 {
		c, err := b.svc.Crear(ctx, b.datos(b.cfg.clientes+i/10), handlers.Cambio{})
		if err == nil {
			mu.Lock()
			b.ids = append(b.ids, c.ID)
			mu.Unlock()
			created.Add(1)
		}
		return err
	}
	r := b.saleRand(j)
	mu.Lock()
	id := b.ids[r.IntN(len(b.ids))]
	mu.Unlock()
	_, err := b.svc.RegistrarVenta(ctx, b.venta(j, id, r))
	if err == nil {
		sold.Add(1)
	}
	return err
}

// checkExact compares every maintained counter with the one rebuilt from
// the stored customers and their whole purchase history.
func (b *bench) checkExact(ctx context.Context) error {
	start := time.Now()
	clientes, err := b.store.List(ctx, handlers.Filtro{})
	if err != nil {
		return err
	}
	compras := map[int64][]handlers.Compra{}
	ventas := 0
	if err := b.store.Historial().TodasLasCompras(ctx, func(c handlers.Compra) error {
		compras[c.ClienteID] = append(compras[c.ClienteID], c)
		ventas++
		return nil
	}); err != nil {
		return err
	}
	rebuilt := b.analizador.Reconstruir(clientes, func(id int64) []handlers.Compra { return compras[id] })
	maintained, err := handlers.TodosLosContadores(ctx, b.store.Reportes())
	if err != nil {
		return err
	}
	diffs := handlers.DiferenciasContadores(maintained, rebuilt)
	if len(diffs) > 0 {
		for _, d := range diffs[:min(len(diffs), 20)] {
			fmt.Fprintln(b.out, "  "+d)
		}
		return fmt.Errorf("reports not exact: %d of %d buckets differ from the rebuild", len(diffs), len(rebuilt))
	}
	fmt.Fprintf(b.out, "exact: all %d buckets of the five reports equal the rebuild from %d stored customers and %d purchases (checked in %v)\n",
		len(rebuilt), len(clientes), ventas, time.Since(start).Round(time.Second))
	return nil
}

// parallel runs f for 0..n-1, c at a time, until ctx ends or f fails; it
// returns how many calls succeeded.
func parallel(ctx context.Context, n, c int, f func(ctx context.Context, i int) error) (int, error) {
	var next, done atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return int(done.Load()), first
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
