package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/topics"
)

// observeInterval is how often the worker polls the outbox and the broker
// for the gauges below: a few times per scrape interval (15 s).
const observeInterval = 5 * time.Second

// outboxBacklog is the outbox's side the metrics read; repository.Outbox
// has it. It stays out of handlers.Outbox: the relay does not need it.
type outboxBacklog interface {
	Backlog(ctx context.Context) (n int64, oldest time.Time, err error)
}

type outboxMetrics struct {
	backlog outboxBacklog
	now     func() time.Time
	log     zerolog.Logger
	events  prometheus.Gauge
	age     prometheus.Gauge
	failed  prometheus.Counter
}

func newOutboxMetrics(reg prometheus.Registerer, b outboxBacklog, now func() time.Time, log zerolog.Logger) *outboxMetrics {
	m := &outboxMetrics{
		backlog: b, now: now, log: log,
		events: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cliente_worker_outbox_events",
			Help: "Customer events recorded in the outbox and not yet published.",
		}),
		age: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cliente_worker_outbox_oldest_event_age_seconds",
			Help: "Age of the oldest unpublished customer event in the outbox (0 when it is empty).",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cliente_worker_outbox_poll_failures_total",
			Help: "Reads of the outbox backlog that failed; the gauges then keep their last values.",
		}),
	}
	reg.MustRegister(m.events, m.age, m.failed)
	return m
}

// poll reads the backlog once and sets the gauges.
func (m *outboxMetrics) poll(ctx context.Context) error {
	n, oldest, err := m.backlog.Backlog(ctx)
	if err != nil {
		m.failed.Inc()
		return err
	}
	m.events.Set(float64(n))
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = max(m.now().Sub(oldest).Seconds(), 0)
	}
	m.age.Set(age)
	return nil
}

func (m *outboxMetrics) run(ctx context.Context, interval time.Duration) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.poll(pctx); err != nil && ctx.Err() == nil {
			m.log.Warn().Err(err).Msg("reading the outbox backlog failed")
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// observeWorker starts the gauges that are polled rather than counted:
// the outbox backlog and the consumer group's lag on every topic it reads.
func observeWorker(ctx context.Context, cfg config.Worker, cluster topics.Cluster, outbox outboxBacklog, log zerolog.Logger, m Metrics) {
	go newOutboxMetrics(m.Registerer, outbox, time.Now, log).run(ctx, observeInterval)
	go topics.NewLagMonitor(m.Registerer, topics.LagConfig{
		Cluster: cluster, GroupID: cfg.Group, Interval: observeInterval, Log: log,
		Topics: []string{cfg.CommandTopic, cfg.QueryTopic, cfg.AdminTopic, cfg.SalesEventsTopic},
	}).Run(ctx)
}
