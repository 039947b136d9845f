package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/repository"
)

// seedParallelism is how many creates run at once while seeding.
const seedParallelism = 16

// seed creates n customers through the service's own create use case
// (handlers.Service over the repository, as the worker runs it), in
// process, with exactly the layout, indexes and events the service itself
// writes; from bulkSeedMin customers on it imports them instead
// (seedBulk), the same documents without events, in minutes for 100,000.
// The stack's worker publishes the events; seed waits until it has.
func seed(ctx context.Context, t *target, n int) ([]customer, error) {
	store, err := repository.Connect(ctx, t.mongoURI, t.database)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		store.Close(cctx)
	}()
	if n >= bulkSeedMin {
		out, err := seedBulk(ctx, store, n)
		if err != nil {
			return nil, err
		}
		return out, waitOutboxEmpty(ctx, t.workerMetrics, 5*time.Minute)
	}
	svc, err := handlers.NewService(store.Deps(time.Hour, time.Now))
	if err != nil {
		return nil, err
	}
	out := make([]customer, n)
	next := make(chan int)
	errs := make(chan error, seedParallelism)
	var wg sync.WaitGroup
	for range seedParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := svc.Crear(ctx, seedDatos(i), handlers.Cambio{})
				if err != nil {
					errs <- fmt.Errorf("seed customer %d: %w", i, err)
					return
				}
				out[i] = customer{id: c.ID, dni: c.DNI, email: c.Email}
			}
		}()
	}
	start := time.Now()
	var seedErr error
feed:
	for i := range n {
		select {
		case next <- i:
		case seedErr = <-errs:
			break feed
		case <-ctx.Done():
			seedErr = ctx.Err()
			break feed
		}
		if (i+1)%10000 == 0 {
			fmt.Printf("benchload: seeded %d of %d (%.0f/s)\n", i+1, n, float64(i+1)/time.Since(start).Seconds())
		}
	}
	close(next)
	wg.Wait()
	if seedErr == nil {
		select {
		case seedErr = <-errs:
		default:
		}
	}
	if seedErr != nil {
		return nil, seedErr
	}
	fmt.Printf("benchload: seeded %d customers in %v (%.0f/s)\n", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	return out, waitOutboxEmpty(ctx, t.workerMetrics, 5*time.Minute)
}

// seedDatos are the fields of the i-th seeded customer.
func seedDatos(i int) handlers.Datos {
	dni, email := seededDNI(i), fmt.Sprintf("s%d@seed.carga.pe", i)
	nombre, apellido, tel := "Cliente", "Sembrado", "987654321"
	return handlers.Datos{DNI: &dni, Nombre: &nombre, Apellido: &apellido, Email: &email, Telefono: &tel}
}

// bulkSeedMin is the fewest customers seeded in bulk: through Crear,
// 100,000 take most of an hour on the make-run stack.
const bulkSeedMin = 5000

// seedBulk imports n customers as Crear would store them
// (repository.Importar, a thousand per batch, two batches at a time),
// then folds their report notices here, so the stack's worker does not
// fold a backlog of n during the steps. Bulk-imported customers have no
// events to publish (see Importar).
func seedBulk(ctx context.Context, store *repository.Mongo, n int) ([]customer, error) {
	const lote = 1000
	start := time.Now()
	first, err := store.ReservarIDs(ctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]customer, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for from := 0; from < n; from += lote {
		g.Go(func() error {
			var imp repository.Importacion
			for i := from; i < min(n, from+lote); i++ {
				c, err := handlers.Registrado(first+int64(i), seedDatos(i), time.Now())
				if err != nil {
					return fmt.Errorf("seed customer %d: %w", i, err)
				}
				imp.Clientes = append(imp.Clientes, c)
				out[i] = customer{id: c.ID, dni: c.DNI, email: c.Email}
			}
			return store.Importar(gctx, imp)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	imported := time.Since(start)
	p, err := handlers.NewProjector(handlers.Projector{Store: store, Historial: store.Historial(), Reportes: store.Reportes(),
		Analizador: handlers.NewAnalizador(), Now: time.Now, Batch: app.ProjectorBatch, Interval: time.Second, Takeover: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := p.Drain(ctx); err != nil {
		return nil, fmt.Errorf("folding the seed's report notices: %w", err)
	}
	fmt.Printf("benchload: seeded %d customers in bulk in %v (%.0f/s), their report notices folded in %v more\n", n,
		imported.Round(time.Millisecond), float64(n)/imported.Seconds(), (time.Since(start) - imported).Round(time.Millisecond))
	return out, nil
}

// waitOutboxEmpty waits until the worker reports no customer event left to
// publish, so the seed's events are not published during a step.
func waitOutboxEmpty(ctx context.Context, metricsURL string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	// The gauge is polled every 5 s: only a value read after that is
	// known to count the seed's events.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(6 * time.Second):
	}
	for time.Now().Before(deadline) {
		if v, ok := gauge(ctx, metricsURL, "cliente_worker_outbox_events"); ok && v == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the worker's outbox was not empty within %v", bound)
}

// gauge reads one unlabelled sample from a Prometheus text page.
func gauge(ctx context.Context, url, name string) (float64, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
