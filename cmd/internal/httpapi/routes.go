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
	httppprof "net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/auth"
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
	ReporteAdquisicion(ctx context.Context, q handlers.ConsultaAdquisicion) (handlers.ReporteAdquisicion, error)
	ReporteRetencion(ctx context.Context) (handlers.ReporteRetencion, error)
	ReporteGeografia(ctx context.Context) (handlers.ReporteGeografia, error)
	ReporteCanales(ctx context.Context) (handlers.ReporteCanales, error)
	ReporteValor(ctx context.Context) (handlers.ReporteValor, error)
	Auditoria(ctx context.Context, id int64, limite *int, cursor string) (handlers.PaginaAuditoria, error)
	Datos(ctx context.Context, id int64) (handlers.DatosCliente, error)
	Anonimizar(ctx context.Context, id int64, c handlers.Cambio) (handlers.Cliente, error)
}

// TokenVerifier checks a bearer access token and says whom it stands for
// and what it may do. *auth.Verifier is the OpenID one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Token, error)
}

// Options are the edge handler's dependencies.
type Options struct {
	Clientes Clientes
	// Tokens verifies the access token every route but the probes needs.
	Tokens TokenVerifier
	// Ready reports whether the edge can serve (broker and reply reader).
	Ready          func(ctx context.Context) error
	Log            zerolog.Logger
	Registry       prometheus.Registerer
	RequestTimeout time.Duration
	MaxBodyBytes   int64
	// MaxInFlight bounds the requests served at once (probes aside);
	// beyond it the answer is 503 with Retry-After. 0: no bound.
	MaxInFlight int
	// MaxWritesInFlight bounds the requests other than GET among them
	// (a write costs several reads: 1,024 writes in flight were about 4 s
	// of work left after an overload on the real infrastructure). 0: no
	// bound of their own.
	MaxWritesInFlight int
}

// public marks a route that needs no token: the probes, which an
// orchestrator calls without credentials and which reveal nothing, and
// the web console's static page and assets (never data). It is
// not the zero value, so a route whose scope was left out is closed to
// everyone rather than open; and no token can hold it (scopes have no
// spaces).
const public = " public"

// route is one line of the edge's one route table: the ServeMux pattern,
// the scope a token needs for it (or public), and its handler. New builds
// the mux and the access check from it alone, so a route cannot be served
// without its scope being checked.
type route struct {
	pattern string
	scope   string
	handler http.Handler
}

// routes is the route table.
func (a *api) routes() []route {
	yes := true
	consolaHandler := consola()
	return []route{
		{"GET /cliente", auth.ScopeLeer, a.listar(nil)},
		{"GET /cliente/activos", auth.ScopeLeer, a.listar(&yes)},
		{"POST /cliente", auth.ScopeEscribir, a.crear()},
		{"GET /cliente/{id}", auth.ScopeLeer, a.obtener()},
		{"PUT /cliente/{id}", auth.ScopeEscribir, a.actualizar()},
		{"DELETE /cliente/{id}", auth.ScopeEscribir, a.eliminar()},
		{"GET /cliente/dni/{dni}", auth.ScopeLeer, a.porDNI()},
		{"GET /cliente/email/{email}", auth.ScopeLeer, a.porEmail()},
		// The sub-resources of a customer, each with its scope; New serves
		// them behind one pattern (subrecursos).
		{"GET /cliente/{id}/compras", auth.ScopeVentas, a.withID(a.compras)},
		{"GET /cliente/{id}/resumen", auth.ScopeVentas, a.withID(a.resumen)},
		{"GET /cliente/{id}/auditoria", auth.ScopeAdmin, a.withID(a.auditoria)},
		{"GET /cliente/{id}/datos", auth.ScopeAdmin, a.withID(a.datos)},
		{"POST /cliente/{id}/anonimizar", auth.ScopeAdmin, a.withID(a.anonimizar)},
		// Reports (reportes.go), more specific than /cliente/{id}/{recurso}.
		{"GET /cliente/reportes/adquisicion", auth.ScopeLeer, a.reporteAdquisicion()},
		{"GET /cliente/reportes/retencion", auth.ScopeLeer, a.reporteRetencion()},
		{"GET /cliente/reportes/geografia", auth.ScopeLeer, a.reporteGeografia()},
		{"GET /cliente/reportes/canales", auth.ScopeLeer, a.reporteCanales()},
		{"GET /cliente/reportes/valor", auth.ScopeLeer, a.reporteValor()},
		{"GET /healthz", public, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})},
		{"GET /readyz", public, a.readyz()},
		{"GET /openapi.json", auth.ScopeLeer, serveOpenAPI()},
		// The web console's page and assets, which hold no data: the data
		// it shows comes from the routes above, with the person's token.
		{"GET /consola", public, consolaHandler},
		{"GET /consola/{archivo...}", public, consolaHandler},
	}
}

// subrecursos is the one pattern the GET sub-resources of a customer
// ("GET /cliente/{id}/compras", ...) are served under: on one mux they
// would conflict with "GET /cliente/dni/{dni}". They get a mux of their
// own, which both the access check and the routing ask, so each keeps
// its own scope.
const subrecursos = "GET /cliente/{id}/{recurso}"

// New returns the edge's public HTTP handler: every route of the table,
// each behind its access check. Metrics are not served here (Internal).
func New(o Options) http.Handler {
	a := &api{o: o}
	mux, sub := http.NewServeMux(), http.NewServeMux()
	scopes := map[string]string{}
	var patterns []string
	limit, writes := newInFlight(o.MaxInFlight), newInFlight(o.MaxWritesInFlight)
	for _, rt := range a.routes() {
		h := rt.handler
		if !strings.HasPrefix(rt.pattern, "GET ") {
			h = writes.wrap(h)
		}
		if rt.scope != public {
			h = limit.wrap(h) // inside the mux, so metrics name the route
		}
		if rest, ok := strings.CutPrefix(rt.pattern, "GET /cliente/{id}/"); ok && !strings.Contains(rest, "/") {
			sub.Handle(rt.pattern, h)
		} else {
			mux.Handle(rt.pattern, h)
		}
		scopes[rt.pattern] = rt.scope
		patterns = append(patterns, rt.pattern)
	}
	mux.Handle(subrecursos, problemOnMiss(sub))
	patternOf := func(r *http.Request) string {
		_, p := mux.Handler(r)
		if p == subrecursos {
			_, p = sub.Handler(r)
		}
		return p
	}
	return routedHandler{observe(o.Log, newHTTPMetrics(o.Registry), guard(o.Tokens, o.Log, mux, patternOf, scopes)), patterns}
}

// Internal serves what must never be public, on a listener of its own:
// /metrics and, with pprof, /debug/pprof/.
func Internal(reg prometheus.Registerer, g prometheus.Gatherer, pprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	return mux
}

// Starting is what the edge serves until it has the issuer's keys and its
// Kafka client is up: it is alive (/healthz) but answers every other route
// 503, or 401 without a token, as it will once started.
func Starting() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch _, hasToken := bearerToken(r); {
		case r.URL.Path == "/healthz":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case r.URL.Path != "/readyz" && !hasToken:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			writeProblem(w, newProblem(r, codeUnauthorized, "an access token is required (Authorization: Bearer)", nil))
		default:
			writeProblem(w, newProblem(r, string(handlers.CodeUnavailable), "the edge is starting", nil))
		}
	})
}
