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

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/repository"
)

// seedParallelism is how many creates run at once while seeding.
const seedParallelism = 16

// seed creates n customers through the service's own create use case
// (handlers.Service over the repository, as the worker runs it), in bulk
// and in process: fast enough for 100,000, and with exactly the layout,
// indexes and events the service itself writes. The stack's worker
// publishes their events; seed waits until it has.
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
				dni, email := seededDNI(i), fmt.Sprintf("s%d@seed.carga.pe", i)
				nombre, apellido, tel := "Cliente", "Sembrado", "987654321"
				c, err := svc.Crear(ctx, handlers.Datos{DNI: &dni, Nombre: &nombre, Apellido: &apellido, Email: &email, Telefono: &tel}, handlers.Cambio{})
				if err != nil {
					errs <- fmt.Errorf("seed customer %d: %w", i, err)
					return
				}
				out[i] = customer{id: c.ID, dni: dni, email: email}
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
