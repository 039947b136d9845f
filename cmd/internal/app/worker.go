package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/httpapi"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/backoff"
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
	// /metrics, and /debug/pprof/ with PPROF=1: the worker has no public
	// listener, so its one listener is the internal one.
	mux.Handle("/", httpapi.Internal(m.Registerer, m.Gatherer, cfg.Pprof))
	cluster, err := cfg.Cluster()
	if err != nil {
		return err
	}
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
	if err := topics.EnsureTopics(ctx, cluster, log, spec(cfg.CommandTopic), spec(cfg.QueryTopic), spec(cfg.AdminTopic), spec(cfg.DeadLetterTopic),
		spec(cfg.SalesEventsTopic), spec(cfg.CustomerEventsTopic)); err != nil {
		return errors.Join(err, stopHTTP())
	}

	projector, err := handlers.NewProjector(handlers.Projector{Store: store, Historial: store.Historial(),
		Reportes: store.Reportes(), Analizador: handlers.NewAnalizador(), Now: time.Now,
		Batch: ProjectorBatch, Interval: time.Second, Gather: ProjectorGather, Takeover: 30 * time.Second, Observe: projectorObserver(log)})
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	deps := store.Deps(cfg.IdempotencyTTL, time.Now)
	deps.Reportes = projector.NotifyingReportes()
	// A change writes its customer and its event; the relay records the
	// audit entries, notices and idempotency results of a whole batch at
	// once (handlers/diferidos.go).
	deps.Diferir = cfg.DeferRecords
	publisher := topics.NewEventPublisher(cluster, cfg.CustomerEventsTopic)
	relay, err := handlers.NewRelay(handlers.Relay{Outbox: store.Outbox(), Publisher: publisher, Now: time.Now,
		Lease: 30 * time.Second, Batch: RelayBatch, BehindAt: RelayBehindAt, Interval: cfg.EventsRelayInterval, Observe: relayObserver(log, m),
		Registros: &handlers.Registros{Auditoria: deps.Auditoria, Reportes: deps.Reportes, Idempotency: deps.Idempotency}})
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	m.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cliente_worker_relay_behind",
		Help: "1 while the outbox relay is behind and the worker refuses commands (RelayBehindAt), else 0.",
	}, func() float64 {
		if relay.Behind() {
			return 1
		}
		return 0
	}))
	deps.Outbox = relay.NotifyingOutbox()
	svc, err := handlers.NewService(deps)
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	go sweepIdempotency(ctx, svc, cfg.IdempotencySweep, log)
	observeWorker(ctx, cfg, cluster, store.Outbox(), log, m)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(ctx) }()
	projectorDone := make(chan struct{})
	go func() { defer close(projectorDone); projector.Run(ctx) }()

	deadLetters := topics.NewDeadLetters(cluster, cfg.DeadLetterTopic, log, m.Registerer)
	defer deadLetters.Close()
	// Outermost first: observe what the dead-lettering and recovery decided.
	workerMetrics := topics.NewWorkerMetrics(m.Registerer)
	requests := func(served topics.Requests, shed ...topics.Middleware) topics.Handler {
		chain := append([]topics.Middleware{
			topics.Observe(log, workerMetrics),
			deadLetters.Middleware(),
			topics.Recover(log),
			topics.Deadlines(time.Now),
		}, shed...)
		chain = append(chain, topics.Retry(topics.RetryPolicy{Attempts: cfg.RetryAttempts, Backoff: cfg.RetryBackoff, Max: 2 * time.Second}))
		return topics.Chain(topics.Dispatcher(svc, served), chain...)
	}
	// An event given up would be lost: retry while the database is down,
	// for as long as the worker runs.
	sales := topics.Chain(topics.SalesEvents(svc),
		topics.Observe(log, topics.NewSalesMetrics(m.Registerer)),
		deadLetters.Middleware(),
		topics.Recover(log),
		topics.Retry(topics.RetryPolicy{Backoff: cfg.RetryBackoff, Max: 5 * time.Second}))

	consumers := []topics.ConsumerConfig{
		// Commands are refused while the relay is behind (RelayBehindAt).
		{Topic: cfg.CommandTopic, Ordered: true, Handler: requests(topics.ServiceRequests, topics.Shed(relay.Behind)), Concurrency: cfg.CommandConcurrency},
		{Topic: cfg.QueryTopic, Handler: requests(topics.ServiceRequests)},
		// Administration commands and queries together, in order per key:
		// they are few.
		{Topic: cfg.AdminTopic, Ordered: true, Handler: requests(topics.AdminRequests)},
		// One customer's sales events are applied one at a time, whatever
		// key the sales service gave them.
		{Topic: cfg.SalesEventsTopic, Ordered: true, LaneKey: topics.SalesEventLane, Handler: sales},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(consumers))
	for i, c := range consumers {
		c.Cluster, c.GroupID = cluster, cfg.Group
		if c.Concurrency == 0 {
			c.Concurrency = cfg.Concurrency
		}
		c.Log, c.DrainTimeout = log, cfg.ShutdownTimeout
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = topics.Consume(ctx, c) }()
	}
	ready.set(func(ctx context.Context) error {
		if err := store.Ping(ctx); err != nil {
			return err
		}
		return topics.CheckTopics(ctx, cluster, cfg.CommandTopic, cfg.QueryTopic, cfg.AdminTopic, cfg.SalesEventsTopic, cfg.CustomerEventsTopic)
	})
	log.Info().Strs("topics", []string{cfg.CommandTopic, cfg.QueryTopic, cfg.AdminTopic, cfg.SalesEventsTopic}).Str("group", cfg.Group).
		Str("events_topic", cfg.CustomerEventsTopic).Msg("worker ready")
	hooks.ready()

	wg.Wait()
	log.Info().Msg("worker stopped consuming")
	<-relayDone
	<-projectorDone
	// Events of the last commands go out now rather than at the next start.
	flushCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	relay.Flush(flushCtx)
	cancel()
	// Nothing is buffered: the relay's writes wait for their acks.
	if err := publisher.Close(); err != nil {
		log.Warn().Err(err).Msg("closing the event publisher")
	}
	return errors.Join(errors.Join(errs...), waitHTTP())
}

// relayObserver counts and logs the outbox relay's rounds.
func relayObserver(log zerolog.Logger, m Metrics) func(int, error) {
	published := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cliente_worker_customer_events_published_total",
		Help: "Customer events published from the outbox (a batch retried after a failure counts again).",
	})
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cliente_worker_customer_events_publish_failures_total",
		Help: "Outbox relay rounds that failed; their events stay in the outbox and are retried.",
	})
	m.Registerer.MustRegister(published, failures)
	return func(n int, err error) {
		published.Add(float64(n))
		if err != nil {
			failures.Inc()
			log.Warn().Err(err).Msg("publishing customer events failed; they stay in the outbox")
		}
	}
}

// projectorObserver logs the report projector's failed rounds; a failure
// leaves the notices in place for the next round.
// ProjectorBatch is the most notices one lote of the report projector
// folds. Reading a lote's customers costs a scan per group of them on
// FerretDB/PostgreSQL (repository/varios.go), so larger lotes fold a
// backlog (a backfill, a bulk import) in fewer scans; 2,000 fold in a few
// seconds there at 100,000 customers, well inside a round's 30 s.
const ProjectorBatch = 2000

// RelayBatch is the most events one relay round claims: as many as a
// claim reads (repository.ClaimWindow). FerretDB 1.24 sorts in memory, so
// every claim reads and decodes the whole outbox; claiming fewer than it
// read made a backlog cost more per event the larger it grew. With 100,
// 250 creates/s for 30 s on the real infrastructure fell behind for good
// (90 % 2xx; the outbox reads took most of FerretDB's CPU).
const RelayBatch = repository.ClaimWindow

// RelayBehindAt is how many events one relay claim holds when the relay is
// behind (handlers.Relay.Behind), and the worker refuses commands until a
// claim holds fewer (topics.Shed). On the real infrastructure nothing is
// refused up to 150 creates/s; from 200/s, more than its relay records
// and publishes, some are. Without it, the creates accepted during 10 s
// of 500/s left work that kept lookups slow for 4.5 s. 512 and 1,000
// still refused creates at 250/s, and after 500/s lookups were slow for
// 3 s with 1,000.
const RelayBehindAt = 256

// ProjectorGather is how long the projector lets notices gather after a
// change nudges it (handlers.Projector.Gather). At 100 creates/s on the
// make-run stack with 100,000 customers, a lote per change rewrote the five
// report families' counters 1.5 times per create (13 ms of CPU per create);
// a quarter second keeps reports within their documented delay (about a
// second).
const ProjectorGather = 250 * time.Millisecond

func projectorObserver(log zerolog.Logger) func(int, error) {
	return func(_ int, err error) {
		if err != nil {
			log.Warn().Err(err).Msg("folding report notices failed; they stay and are retried")
		}
	}
}

// connectMongo retries until MongoDB answers or ctx ends, so a worker can
// start before its database.
func connectMongo(ctx context.Context, cfg config.Worker, log zerolog.Logger) (*repository.Mongo, error) {
	wait := backoff.New(100*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		store, err := repository.Connect(ctx, cfg.MongoURI, cfg.MongoDatabase)
		if err == nil {
			return store, nil
		}
		if attempt%5 == 1 {
			log.Warn().Err(err).Int("attempt", attempt).Msg("mongodb not reachable yet")
		}
		if !wait.Wait(ctx) {
			return nil, err
		}
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
