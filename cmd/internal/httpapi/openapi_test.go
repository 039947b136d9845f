package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	return doc
}

// segmentsMatch reports whether a path template covers another: a {wildcard}
// segment of cover matches any segment, a literal only itself.
func segmentsMatch(cover, path string) bool {
	c, p := strings.Split(cover, "/"), strings.Split(path, "/")
	if len(c) != len(p) {
		return false
	}
	for i := range c {
		if !strings.HasPrefix(c[i], "{") && c[i] != p[i] {
			return false
		}
	}
	return true
}

// Every route the edge serves has an operation in the document, and every
// operation of the document is served: a route added without documenting
// it fails here.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := Routes(New(testOptions(&fakeCaller{}, prometheus.NewRegistry())))
	if len(routes) < 10 {
		t.Fatalf("Routes found %v: the route list is broken", routes)
	}
	documented := map[string][]string{} // method -> paths
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method] = append(documented[method], path)
		}
	}
	for _, r := range routes {
		method, pattern, ok := strings.Cut(r, " ")
		if !ok {
			t.Errorf("route %q has no method: every route names one", r)
			continue
		}
		// A route with a wildcard segment ("/cliente/{id}/{recurso}") is
		// documented by the paths it serves ("/cliente/{id}/compras").
		if !slices.ContainsFunc(documented[method], func(p string) bool { return segmentsMatch(pattern, p) }) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for method, paths := range documented {
		for _, p := range paths {
			if !slices.ContainsFunc(routes, func(r string) bool {
				m, pattern, _ := strings.Cut(r, " ")
				return m == method && segmentsMatch(pattern, p)
			}) {
				t.Errorf("openapi.json documents %s %s, which the edge does not serve", method, p)
			}
		}
	}
}

// The edge serves the document it embeds.
func TestServesOpenAPI(t *testing.T) {
	loadOpenAPI(t)
	h := newTestHandler(&fakeCaller{}, prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || !bytes.Equal(rec.Body.Bytes(), OpenAPI()) {
		t.Fatalf("GET /openapi.json: %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}
