package app

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/httpapi"
	"github.com/jea/cliente/topics/client"
)

// RunEdge serves the HTTP API, calling the customer service over Kafka
// through topics/client, until ctx ends. It answers its probes from the
// start, and the API once the client is up.
func RunEdge(ctx context.Context, cfg config.Edge, log zerolog.Logger, m Metrics, hooks Hooks) error {
	cluster, err := cfg.Cluster()
	if err != nil {
		return err
	}
	var current atomic.Pointer[http.Handler]
	starting := httpapi.Starting()
	current.Store(&starting)
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) })
	waitHTTP, stopHTTP, err := serveHTTP(ctx, cfg.HTTPAddr, serve, cfg.ShutdownTimeout, log, hooks)
	if err != nil {
		return err
	}
	clientes, err := client.New(ctx, client.Config{
		Cluster: cluster, CommandTopic: cfg.CommandTopic, QueryTopic: cfg.QueryTopic,
		ReplyTopic: cfg.ReplyTopicOrDefault(), ReplicationFactor: cfg.ReplicationFactor,
		Timeout: cfg.RequestTimeout, Log: log,
	})
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	api := httpapi.New(httpapi.Options{
		Clientes: clientes, Ready: clientes.Check, Log: log,
		Registry: m.Registerer, Gatherer: m.Gatherer,
		RequestTimeout: cfg.RequestTimeout, MaxBodyBytes: cfg.MaxBodyBytes,
	})
	current.Store(&api)
	log.Info().Str("reply_topic", cfg.ReplyTopicOrDefault()).Msg("edge ready")
	hooks.ready()

	err = waitHTTP() // returns after in-flight requests drained
	clientes.Close()
	return err
}
