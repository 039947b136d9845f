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
