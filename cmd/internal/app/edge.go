package app

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/httpapi"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// RunEdge serves the HTTP API, forwarding each request over Kafka and
// waiting for the reply, until ctx ends.
func RunEdge(ctx context.Context, cfg config.Edge, log zerolog.Logger, m Metrics, hooks Hooks) error {
	var ready readiness
	var caller deferredCaller
	h := httpapi.New(httpapi.Options{
		Caller: &caller, Ready: ready.Check, Log: log,
		Registry: m.Registerer, Gatherer: m.Gatherer,
		RequestTimeout: cfg.RequestTimeout, MaxBodyBytes: cfg.MaxBodyBytes,
	})
	waitHTTP, stopHTTP, err := serveHTTP(ctx, cfg.HTTPAddr, h, cfg.ShutdownTimeout, log, hooks)
	if err != nil {
		return err
	}
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{
		Brokers: cfg.Brokers, CommandTopic: cfg.CommandTopic, QueryTopic: cfg.QueryTopic,
		ReplyTopic: cfg.ReplyTopicOrDefault(), ReplicationFactor: cfg.ReplicationFactor, Log: log,
	})
	if err != nil {
		return errors.Join(err, stopHTTP())
	}
	caller.set(req)
	ready.set(req.Check)
	log.Info().Str("reply_topic", cfg.ReplyTopicOrDefault()).Msg("edge ready")
	hooks.ready()

	err = waitHTTP() // returns after in-flight requests drained
	req.Close()
	return err
}

// deferredCaller lets the HTTP server start (and answer probes) before the
// requester exists; until then calls fail as unavailable.
type deferredCaller struct {
	r atomic.Pointer[topics.Requester]
}

func (d *deferredCaller) set(r *topics.Requester) { d.r.Store(r) }

func (d *deferredCaller) Call(ctx context.Context, c topics.Call) (topics.Reply, error) {
	r := d.r.Load()
	if r == nil {
		return topics.Reply{}, handlers.Errorf(handlers.CodeUnavailable, "the edge is starting")
	}
	return r.Call(ctx, c)
}
