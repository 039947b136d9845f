package repository

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/storetest"
)

// BenchmarkStore times the store's lookups, creates, list pages and searches against
// databases holding BENCH_STORE_SIZES customers (default "1000"; e.g.
// "1000,100000"), seeded through Insert, 8 at a time. The seeded databases
// are kept for the whole run and named by size, so every sub-benchmark of
// one size shares them.
//
//	make bench-store BENCH_STORE_SIZES=1000,100000
func BenchmarkStore(b *testing.B) {
	sizes := os.Getenv("BENCH_STORE_SIZES")
	if sizes == "" {
		sizes = "1000"
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			b.Fatalf("BENCH_STORE_SIZES: %q is not a size", s)
		}
		m, ids := seeded(b, n)
		ctx := context.Background()
		// Spread lookups over the whole collection, so that a store that
		// is fast only at one end does not look fast.
		pick := func(i int) int { return (i * 7919) % n }
		lookups := []struct {
			name string
			fn   func(i int) error
		}{
			{"GetByID", func(i int) error { _, err := m.Get(ctx, ids[pick(i)]); return err }},
			{"GetByDNI", func(i int) error { _, err := m.GetByDNI(ctx, storetest.Campos(pick(i)).DNI); return err }},
			{"GetByEmail", func(i int) error { _, err := m.GetByEmail(ctx, storetest.Campos(pick(i)).Email); return err }},
			// Nombre7, Nombre7x, Nombre7xx...: about one customer in nine.
			{"Search100", func(i int) error {
				_, err := m.List(ctx, handlers.Filtro{Palabras: handlers.Palabras("nombre7 quis"), DespuesDeID: ids[pick(i)] / 2, Limite: 101})
				return err
			}},
			{"ListPage100", func(i int) error {
				_, err := m.List(ctx, handlers.Filtro{DespuesDeID: ids[pick(i)], Limite: 101})
				return err
			}},
		}
		for _, l := range lookups {
			b.Run(fmt.Sprintf("%s/customers=%d", l.name, n), func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := l.fn(i); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
		b.Run(fmt.Sprintf("Insert/customers=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Insert(ctx, benchCampos(n), time.Now(), handlers.Cambio{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var (
	seedMu  sync.Mutex
	seedDBs = map[int]seededDB{}
	// benchRun keeps the inserts of one run's sub-benchmarks apart.
	benchRun atomic.Int64
)

type seededDB struct {
	m   *Mongo
	ids []int64
}

// benchCampos are the fields of a customer a benchmark creates beyond the
// n seeded ones, new on every call.
func benchCampos(n int) handlers.Campos {
	return storetest.Campos(n + int(benchRun.Add(1)))
}

// seeded returns a store holding n customers, storetest.Campos(0..n-1),
// with their ids in that order.
func seeded(b *testing.B, n int) (*Mongo, []int64) {
	seedMu.Lock()
	defer seedMu.Unlock()
	if s, ok := seedDBs[n]; ok {
		return s.m, s.ids
	}
	ctx := context.Background()
	name := fmt.Sprintf("%s_bench_%d", dbPrefix, n)
	m, err := Connect(ctx, testURI(b), name)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	ids := make([]int64, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := m.Insert(ctx, storetest.Campos(i), time.Now(), handlers.Cambio{})
				if err != nil {
					errs <- err
					return
				}
				ids[i] = c.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("seeding %d customers: %v", n, err)
	}
	b.Logf("seeded %d customers in %v (%.0f inserts/s, 8 at a time)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	seedDBs[n] = seededDB{m, ids}
	return m, ids
}
