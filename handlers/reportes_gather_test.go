package handlers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// A burst of changes is folded as one lote when the projector gathers:
// a lote rewrites every report family's counters however few notices it
// holds. Without Gather the first change's nudge starts a round at once.
func TestProjectorGathersABurst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gather  time.Duration
		wantAll bool
	}{
		{"one lote for the burst", 500 * time.Millisecond, true},
		{"a round at the first nudge", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			store, reportes := memstore.New(), memstore.NewReportes()
			rounds := make(chan int, 16)
			p, err := handlers.NewProjector(handlers.Projector{Store: store, Historial: memstore.NewHistorial(), Reportes: reportes,
				Analizador: handlers.NewAnalizador(), Now: time.Now, Batch: 100, Interval: time.Hour, Gather: tc.gather,
				Takeover: time.Minute, Observe: func(n int, err error) {
					if err == nil {
						rounds <- n
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			go p.Run(ctx)
			if n := <-rounds; n != 0 { // Run's first round, before any notice
				t.Fatalf("first round folded %d", n)
			}
			avisar := p.NotifyingReportes()
			const burst = 5
			for i := range burst {
				if err := avisar.Avisar(ctx, handlers.Aviso{ID: fmt.Sprintf("c%d-1", i+1), ClienteID: int64(i + 1)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(40 * time.Millisecond)
			}
			select {
			case n := <-rounds:
				if (n == burst) != tc.wantAll {
					t.Fatalf("first round folded %d of %d notices, want all: %v", n, burst, tc.wantAll)
				}
			case <-ctx.Done():
				t.Fatal("no round folded anything")
			}
		})
	}
}
