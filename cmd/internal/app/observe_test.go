package app

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// The outbox gauges show how many events wait and how old the oldest is,
// and fall back to zero once the relay published them.
func TestOutboxMetrics(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	o := memstore.NewOutbox()
	m := newOutboxMetrics(prometheus.NewRegistry(), o, func() time.Time { return now }, zerolog.Nop())
	check := func(events, age float64) {
		t.Helper()
		if err := m.poll(ctx); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(m.events); got != events {
			t.Errorf("outbox events %v, want %v", got, events)
		}
		if got := testutil.ToFloat64(m.age); got != age {
			t.Errorf("oldest event age %v, want %v", got, age)
		}
	}
	check(0, 0)
	for i, ago := range []time.Duration{30 * time.Second, 90 * time.Second} {
		c := handlers.Cliente{ID: int64(i + 1), Version: 1, Cambio: handlers.CambioRegistrado}
		if err := o.Add(ctx, handlers.EventoDe(c, now.Add(-ago))); err != nil {
			t.Fatal(err)
		}
	}
	check(2, 90)
	if err := o.Delete(ctx, []string{"1-1", "2-1"}); err != nil {
		t.Fatal(err)
	}
	check(0, 0)
}
