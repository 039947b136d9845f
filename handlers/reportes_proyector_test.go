package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// podaReportes records the bound of every Podar.
type podaReportes struct {
	handlers.ReportesStore
	antes chan time.Time
}

func (r podaReportes) Podar(ctx context.Context, before time.Time) error {
	r.antes <- before
	return r.ReportesStore.Podar(ctx, before)
}

// Run keeps done lotes a few minutes, longer than a round after the
// minute a projector trusts its own last lote, but not the hour it kept
// them before: FerretDB/SQLite finds a lote with a scan of those kept.
func TestRunPodaLotes(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	r := podaReportes{ReportesStore: memstore.NewReportes(), antes: make(chan time.Time, 1)}
	p, err := handlers.NewProjector(handlers.Projector{Store: memstore.New(), Historial: memstore.NewHistorial(), Reportes: r,
		Analizador: handlers.NewAnalizador(), Now: func() time.Time { return now }, Batch: 10, Interval: time.Hour, Takeover: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	var before time.Time
	select {
	case before = <-r.antes:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not prune")
	}
	cancel()
	<-done
	if kept := now.Sub(before); kept < 2*time.Minute || kept > 10*time.Minute {
		t.Errorf("Run keeps done lotes %v, want a few minutes", kept)
	}
}
