package httpapi

import (
	_ "embed"
	"net/http"
	"slices"
)

// openAPIDocument is the OpenAPI 3.1 description of every route New
// serves. The end-to-end tests validate each request and response against
// it, and TestOpenAPIDescribesEveryRoute fails on a route it lacks.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document the edge serves at /openapi.json.
func OpenAPI() []byte { return slices.Clone(openAPIDocument) }

func serveOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(openAPIDocument)
	})
}

// routeMux is a ServeMux that remembers the patterns registered on it, so
// tests can hold the document to the routes that really exist.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// routedHandler is New's handler, carrying the patterns it serves.
type routedHandler struct {
	http.Handler
	routes []string
}

// Routes returns the "METHOD /pattern" of every route served by h, a
// handler New returned (nil for any other handler).
func Routes(h http.Handler) []string {
	if rh, ok := h.(routedHandler); ok {
		return slices.Clone(rh.routes)
	}
	return nil
}
