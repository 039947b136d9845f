// Package httpapi is the HTTP edge adapter: it maps the /cliente routes
// onto the customer operations (Clientes) and their results and errors onto
// HTTP responses. It knows HTTP and the domain types, nothing of Kafka:
// the edge gives it topics/client, tests an in-process service. It holds no
// business rules; validation happens in the use cases, once, for HTTP and
// Kafka callers alike.
package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
)

// Clientes are the operations the edge calls. *client.Client implements
// them over Kafka, and *handlers.Service in process.
type Clientes interface {
	Crear(ctx context.Context, d handlers.Datos, c handlers.Cambio) (handlers.Cliente, error)
	Actualizar(ctx context.Context, id int64, d handlers.Datos, c handlers.Cambio) (handlers.Cliente, error)
	Eliminar(ctx context.Context, id int64, c handlers.Cambio) (handlers.Cliente, error)
	Obtener(ctx context.Context, id int64) (handlers.Cliente, error)
	ObtenerPorDNI(ctx context.Context, dni string) (handlers.Cliente, error)
	ObtenerPorEmail(ctx context.Context, email string) (handlers.Cliente, error)
	Listar(ctx context.Context, q handlers.ConsultaClientes) (handlers.PaginaClientes, error)
	Buscar(ctx context.Context, q handlers.ConsultaClientes) (handlers.PaginaClientes, error)
	Compras(ctx context.Context, id int64, limite *int, cursor string) (handlers.HistorialCompras, error)
	Resumen(ctx context.Context, id int64) (handlers.Resumen, error)
}

// Options are the edge handler's dependencies.
type Options struct {
	Clientes Clientes
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

// Starting is what the edge serves until its Kafka client is up: it is
// alive (/healthz) but answers every other route 503.
func Starting() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			return
		}
		writeProblem(w, newProblem(r, string(handlers.CodeUnavailable), "the edge is starting", nil))
	})
}
