package app

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/httpapi"
	"github.com/jea/cliente/handlers/backoff"
	"github.com/jea/cliente/topics/client"
)

// RunEdge serves the HTTP API, calling the customer service over Kafka
// through topics/client, until ctx ends. It answers its probes from the
// start, and the API once it has found the token issuer's keys and the
// client is up. /metrics (and pprof, if asked) are on METRICS_ADDR only.
func RunEdge(ctx context.Context, cfg config.Edge, log zerolog.Logger, m Metrics, hooks Hooks) error {
	cluster, err := cfg.Cluster()
	if err != nil {
		return err
	}
	var current atomic.Pointer[http.Handler]
	starting := httpapi.Starting()
	current.Store(&starting)
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) })
	waitInternal, stopInternal, err := serveHTTP(ctx, cfg.MetricsAddr, httpapi.Internal(m.Registerer, m.Gatherer, cfg.Pprof),
		cfg.ShutdownTimeout, log, Hooks{Listening: hooks.InternalListening})
	if err != nil {
		return err
	}
	waitHTTP, stopHTTP, err := serveHTTP(ctx, cfg.HTTPAddr, serve, cfg.ShutdownTimeout, log, hooks)
	if err != nil {
		return errors.Join(err, stopInternal())
	}
	stop := func(err error) error { return errors.Join(err, stopHTTP(), stopInternal()) }

	tokens, err := discover(ctx, cfg, log)
	if err != nil {
		return stop(err)
	}
	clientes, err := client.New(ctx, client.Config{
		Cluster: cluster, CommandTopic: cfg.CommandTopic, QueryTopic: cfg.QueryTopic, AdminTopic: cfg.AdminTopic,
		ReplyTopic: cfg.ReplyTopicOrDefault(), ReplicationFactor: cfg.ReplicationFactor,
		Timeout: cfg.RequestTimeout, Log: log,
	})
	if err != nil {
		return stop(err)
	}
	api := httpapi.New(httpapi.Options{
		Clientes: clientes, Tokens: tokens, Ready: clientes.Check, Log: log, Registry: m.Registerer,
		RequestTimeout: cfg.RequestTimeout, MaxBodyBytes: cfg.MaxBodyBytes, MaxInFlight: cfg.MaxInFlight, MaxWritesInFlight: cfg.MaxWritesInFlight,
	})
	current.Store(&api)
	log.Info().Str("reply_topic", cfg.ReplyTopicOrDefault()).Str("issuer", cfg.AuthIssuer).Msg("edge ready")
	hooks.ready()

	err = waitHTTP() // returns after in-flight requests drained
	clientes.Close()
	return errors.Join(err, waitInternal())
}

// discover finds the token issuer's keys, retrying until ctx ends: the
// issuer may start after the edge, which meanwhile answers 503.
func discover(ctx context.Context, cfg config.Edge, log zerolog.Logger) (*auth.Verifier, error) {
	// Bounds every request to the issuer, the later key refreshes too.
	issuerClient := &http.Client{Timeout: 10 * time.Second}
	b := backoff.New(500*time.Millisecond, 10*time.Second)
	for {
		v, err := auth.Discover(ctx, cfg.AuthIssuer, cfg.AuthAudience, issuerClient)
		if err == nil {
			return v, nil
		}
		log.Warn().Err(err).Str("issuer", cfg.AuthIssuer).Msg("token issuer not reachable yet")
		if !b.Wait(ctx) {
			return nil, err
		}
	}
}
