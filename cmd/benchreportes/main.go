// Command benchreportes measures the five reports on a real database with
// many customers and sales: it seeds -clientes customers and -ventas sales
// through the service's own use cases (Crear, RegistrarVenta: the code the
// worker runs, notices included), -concurrency at a time, while the
// projector folds the notices as a worker's does; then it reads each report
// -n times and prints p50, p99 and max per report. Seeding stops at
// -seed-timeout whatever the counts say (the figures then say how many were
// seeded). It only connects to a loopback database.
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
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // report dates are Lima dates

	"github.com/jea/cliente/cmd/internal/app"
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

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchreportes", flag.ContinueOnError)
	uri := fs.String("mongodb", "mongodb://127.0.0.1:27018/", "MongoDB or FerretDB URI (loopback only)")
	database := fs.String("database", "", "database to seed and read (default: a new one per run)")
	clientes := fs.Int("clientes", 100_000, "customers to seed")
	ventas := fs.Int("ventas", 1_000_000, "sales to seed")
	concurrency := fs.Int("concurrency", 16, "use case calls in flight while seeding")
	n := fs.Int("n", 1000, "reads of each report")
	seedTimeout := fs.Duration("seed-timeout", 30*time.Minute, "stop seeding after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if u, err := url.Parse(*uri); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		return fmt.Errorf("-mongodb %q: only a loopback database", *uri)
	}
	if *database == "" {
		*database = "bench_reportes_" + time.Now().UTC().Format("20060102150405")
	}
	store, err := repository.Connect(ctx, *uri, *database)
	if err != nil {
		return err
	}
	defer store.Close(context.WithoutCancel(ctx))
	analizador := handlers.NewAnalizador()
	projector, err := handlers.NewProjector(handlers.Projector{Store: store, Historial: store.Historial(), Reportes: store.Reportes(),
		Analizador: analizador, Now: time.Now, Batch: 500, Interval: time.Second, Takeover: 30 * time.Second})
	if err != nil {
		return err
	}
	deps := store.Deps(handlers.DefaultIdempotencyTTL, time.Now)
	deps.Reportes = projector.NotifyingReportes()
	svc, err := handlers.NewService(deps)
	if err != nil {
		return err
	}
	// Customers are registered over the last year or two: the seeding
	// service's clock moves from two years ago towards now, a step per
	// reading (Crear reads it about twice).
	var tick atomic.Int64
	from, step := time.Now().AddDate(-2, 0, 0), 2*365*24*time.Hour/time.Duration(3*max(*clientes, 1))
	deps.Now = func() time.Time { return from.Add(time.Duration(tick.Add(1)) * step) }
	registro, err := handlers.NewService(deps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "benchreportes: database %s, seeding %d customers and %d sales, %d at a time (at most %v)\n",
		*database, *clientes, *ventas, *concurrency, *seedTimeout)

	seedCtx, cancel := context.WithTimeout(ctx, *seedTimeout)
	defer cancel()
	projCtx, stopProjector := context.WithCancel(ctx)
	defer stopProjector()
	projDone := make(chan struct{})
	go func() { defer close(projDone); projector.Run(projCtx) }()

	start := time.Now()
	run := time.Now().UnixNano() % 1_000_000
	ids := make([]int64, *clientes)
	created, err := parallel(seedCtx, *clientes, *concurrency, func(ctx context.Context, i int) error {
		dni := fmt.Sprintf("%08d", (run*100_000+int64(i))%100_000_000)
		nombre, email := "Cliente "+strconv.Itoa(i), fmt.Sprintf("c%d.%d@example.pe", run, i)
		c, err := registro.Crear(ctx, handlers.Datos{DNI: &dni, Nombre: &nombre, Email: &email,
			Direccion: &direcciones[i%len(direcciones)], Telefono: &telefonos[i%len(telefonos)]}, handlers.Cambio{})
		ids[i] = c.ID
		return err
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	clientesTook := time.Since(start)
	ids = slices.DeleteFunc(ids, func(id int64) bool { return id == 0 })
	fmt.Fprintf(stdout, "seeded %d customers in %v (%.0f/s)\n", created, clientesTook.Round(time.Second), float64(created)/clientesTook.Seconds())

	start = time.Now()
	sold := 0
	if len(ids) > 0 {
		sold, err = parallel(seedCtx, *ventas, *concurrency, func(ctx context.Context, i int) error {
			r := rand.New(rand.NewPCG(uint64(run), uint64(i)))
			id := ids[r.IntN(len(ids))]
			ventaID := fmt.Sprintf("B%d-%d", run, i)
			fecha := time.Now().Add(-time.Duration(r.Int64N(400*24)) * time.Hour).UTC().Format(time.RFC3339)
			total := json.Number(fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)))
			moneda := "PEN"
			if r.IntN(5) == 0 {
				moneda = "USD"
			}
			items := 1 + r.IntN(5)
			_, err := svc.RegistrarVenta(ctx, handlers.DatosVenta{VentaID: &ventaID, ClienteID: &id, Fecha: &fecha,
				Total: &total, Moneda: &moneda, Items: &items})
			return err
		})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	ventasTook := time.Since(start)
	fmt.Fprintf(stdout, "seeded %d sales in %v (%.0f/s)\n", sold, ventasTook.Round(time.Second), float64(sold)/ventasTook.Seconds())

	// What is left to fold, folded now.
	stopProjector()
	<-projDone
	start = time.Now()
	drainCtx, cancelDrain := context.WithTimeout(ctx, 30*time.Minute)
	defer cancelDrain()
	if err := projector.Drain(drainCtx); err != nil {
		return fmt.Errorf("folding the last notices: %w", err)
	}
	fmt.Fprintf(stdout, "folded the notices left after seeding in %v\n", time.Since(start).Round(time.Millisecond))

	reports := []struct {
		name string
		read func(context.Context) (any, error)
	}{
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
	for _, rep := range reports {
		lat := make([]time.Duration, 0, *n)
		size := 0
		for range *n {
			t0 := time.Now()
			out, err := rep.read(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", rep.name, err)
			}
			lat = append(lat, time.Since(t0))
			if size == 0 {
				raw, _ := json.Marshal(out)
				size = len(raw)
			}
		}
		slices.Sort(lat)
		fmt.Fprintf(stdout, "%-30s n=%d p50=%v p99=%v max=%v (reply %d bytes of JSON)\n", rep.name, len(lat),
			pct(lat, 50).Round(10*time.Microsecond), pct(lat, 99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), size)
	}
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
