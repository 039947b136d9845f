// Package httpapi is the HTTP edge adapter: it maps the /cliente routes
// onto request messages and their replies onto HTTP responses. It holds no
// business rules; validation happens in the worker, once, for HTTP and
// Kafka callers alike.
package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/topics"
)

// Caller sends a request and waits for its reply; *topics.Requester is one.
type Caller interface {
	Call(ctx context.Context, c topics.Call) (topics.Reply, error)
}

// Options are the edge handler's dependencies.
type Options struct {
	Caller Caller
	// Ready reports whether the edge can serve (broker and reply reader).
	Ready          func(ctx context.Context) error
	Log            zerolog.Logger
	Registry       prometheus.Registerer
	Gatherer       prometheus.Gatherer
	RequestTimeout time.Duration
	MaxBodyBytes   int64
}

// New returns the edge's HTTP handler with every route it serves.
func New(o Options) http.Handler {
	a := &api{o: o}
	yes := true
	mux := newRouteMux()
	mux.Handle("GET /cliente", a.listar(nil))
	mux.Handle("GET /cliente/activos", a.listar(&yes))
	mux.Handle("POST /cliente", a.crear())
	mux.Handle("GET /cliente/{id}", a.obtener())
	mux.Handle("PUT /cliente/{id}", a.actualizar())
	mux.Handle("DELETE /cliente/{id}", a.eliminar())
	mux.Handle("GET /cliente/dni/{dni}", a.porDNI())
	mux.Handle("GET /cliente/email/{email}", a.porEmail())
	// One pattern for the sub-resources of a customer: separate ones
	// ("/cliente/{id}/compras") would conflict with "/cliente/dni/{dni}".
	mux.Handle("GET /cliente/{id}/{recurso}", a.subrecurso(map[string]func(http.ResponseWriter, *http.Request, int64){
		"compras": a.compras,
		"resumen": a.resumen,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", a.readyz())
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.Handle("GET /openapi.json", serveOpenAPI())
	return routedHandler{observe(o.Log, newHTTPMetrics(o.Registry), problemOnMiss(mux.ServeMux)), mux.patterns}
}
