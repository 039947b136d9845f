package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/repository"
	"github.com/jea/cliente/topics"
)

// RunWorker connects to MongoDB and Kafka, provisions the schema and the
// topics, and consumes the command and query topics until ctx ends.
func RunWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger, m Metrics, hooks Hooks) error {
	var ready readiness
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		cctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready.Check(cctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Gatherer, promhttp.HandlerOpts{Registry: m.Registerer}))
	waitHTTP, stopHTTP, err := serveHTTP(ctx, cfg.HTTPAddr, mux, cfg.ShutdownTimeout, log, hooks)
	if err != nil {
		return err
	}

	store, err := connectMongo(ctx, cfg, log)
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		store.Close(cctx)
	}()

	spec := func(name string) topics.TopicSpec {
		return topics.TopicSpec{Name: name, Partitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor}
	}
	if err := topics.EnsureTopics(ctx, cfg.Brokers, log, spec(cfg.CommandTopic), spec(cfg.QueryTopic), spec(cfg.DeadLetterTopic)); err != nil {
		return errors.Join(err, stopHTTP())
	}

	svc := handlers.NewService(store, time.Now).WithIdempotency(store.Idempotencia(), cfg.IdempotencyTTL)
	go sweepIdempotency(ctx, svc, cfg.IdempotencySweep, log)
	metrics := topics.NewWorkerMetrics(m.Registerer)
	h := topics.Chain(topics.Dispatcher(svc),
		topics.Recover(log),
		topics.Observe(log, metrics),
		topics.RetryUnavailable(topics.RetryPolicy{Attempts: cfg.RetryAttempts, Backoff: cfg.RetryBackoff, Max: 2 * time.Second}))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []topics.ConsumerConfig{
		{Topic: cfg.CommandTopic, Ordered: true},
		{Topic: cfg.QueryTopic},
	} {
		c.Brokers, c.GroupID, c.Concurrency, c.Handler = cfg.Brokers, cfg.Group, cfg.Concurrency, h
		c.Log, c.DrainTimeout = log, cfg.ShutdownTimeout
		c.DeadLetterTopic, c.Metrics = cfg.DeadLetterTopic, metrics
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = topics.Consume(ctx, c) }()
	}
	ready.set(func(ctx context.Context) error {
		if err := store.Ping(ctx); err != nil {
			return err
		}
		return topics.CheckTopics(ctx, cfg.Brokers, cfg.CommandTopic, cfg.QueryTopic)
	})
	log.Info().Strs("topics", []string{cfg.CommandTopic, cfg.QueryTopic}).Str("group", cfg.Group).Msg("worker ready")
	hooks.ready()

	wg.Wait()
	log.Info().Msg("worker stopped consuming")
	return errors.Join(errors.Join(errs...), waitHTTP())
}

// connectMongo retries until MongoDB answers or ctx ends, so a worker can
// start before its database.
func connectMongo(ctx context.Context, cfg config.Worker, log zerolog.Logger) (*repository.Mongo, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		store, err := repository.Connect(ctx, cfg.MongoURI, cfg.MongoDatabase)
		if err == nil {
			return store, nil
		}
		if attempt%5 == 1 {
			log.Warn().Err(err).Int("attempt", attempt).Msg("mongodb not reachable yet")
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// sweepIdempotency deletes expired idempotency records now and then every
// interval: FerretDB has no TTL indexes. Several workers sweeping at once
// only delete the same records.
func sweepIdempotency(ctx context.Context, svc *handlers.Service, interval time.Duration, log zerolog.Logger) {
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := svc.ExpireIdempotency(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("idempotency sweep failed")
		} else if n > 0 {
			log.Info().Int("deleted", n).Msg("expired idempotency records deleted")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
