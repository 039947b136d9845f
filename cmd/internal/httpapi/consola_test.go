package httpapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// The console's page and assets are served without a token, with their
// type, the strict CSP and revalidation headers; nothing else is, and
// nothing reaches the worker.
func TestConsolaServesItsFiles(t *testing.T) {
	f := &fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}
	h := New(testOptions(f, prometheus.NewRegistry())) // no token on any request
	tests := []struct {
		path       string
		status     int
		typePrefix string
		contains   string
	}{
		{"/consola", 200, "text/html", `<html lang="es">`},
		{"/consola/consola.js", 200, "text/javascript", "'use strict'"},
		{"/consola/consola.css", 200, "text/css", ":root"},
		{"/consola/vendor/chart.umd.min.js", 200, "text/javascript", "Chart.js v4"},
		{"/consola/vendor/chart.js.LICENSE.md", 200, "text/markdown", "MIT License"},
		{"/consola/", 301, "", ""},
		{"/consola/index.html", 404, "application/problem+json", "no such file"},
		{"/consola/vendor.sh", 404, "application/problem+json", "no such file"}, // not embedded
		{"/consola/vendor/", 404, "application/problem+json", "no such file"},
		{"/consola/../openapi.json", 401, "application/problem+json", ""}, // not a console file: a token first
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			f.got = topics.Call{}
			rec := serve(h, "GET", tc.path, "")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if f.got.Type != "" {
				t.Fatalf("sent %s to the worker", f.got.Type)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.typePrefix) {
				t.Errorf("Content-Type %q, want %s…", ct, tc.typePrefix)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if tc.status != 200 {
				return
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": consolaCSP, "X-Content-Type-Options": "nosniff",
				"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			// Revalidation by ETag answers 304 without the body.
			req, _ := http.NewRequest("GET", tc.path, nil)
			req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
			again := httptest.NewRecorder()
			h.ServeHTTP(again, req)
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("If-None-Match %s: status %d, %d bytes; want 304, none", rec.Header().Get("ETag"), again.Code, again.Body.Len())
			}
		})
	}
	if loc := serve(h, "GET", "/consola/", "").Header().Get("Location"); loc != "/consola" {
		t.Errorf("/consola/ redirects to %q, want /consola", loc)
	}
}

// The CSP allows this origin only: no other source of script, style,
// data or frames.
func TestConsolaCSPIsStrict(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(consolaCSP, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
		"img-src": "'self' data:", "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("%s %q, want %q", name, directives[name], value)
		}
	}
	if len(directives) != len(want) {
		t.Errorf("CSP %q has directives beyond %v", consolaCSP, want)
	}
}

// Everything the page loads is one of the console's own files, served
// here: no CDN, no other origin, nothing fetched from the internet.
func TestConsolaLoadsOnlyItsOwnFiles(t *testing.T) {
	h := New(testOptions(&fakeCaller{}, prometheus.NewRegistry()))
	page, err := consolaFiles.ReadFile("consola/index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(page), -1)
	var assets int
	for _, ref := range refs {
		switch u := ref[1]; {
		case strings.HasPrefix(u, "#"), u == "data:,":
		case strings.HasPrefix(u, "/consola/"):
			assets++
			if rec := serve(h, "GET", u, ""); rec.Code != 200 {
				t.Errorf("the page loads %s, which answers %d", u, rec.Code)
			}
		default:
			t.Errorf("the page loads %q, not one of its own files", u)
		}
	}
	if assets < 3 {
		t.Errorf("found %d assets in the page, want its script, style and Chart.js: the pattern is broken", assets)
	}
	for _, name := range []string{"consola/index.html", "consola/consola.js", "consola/consola.css"} {
		body, err := consolaFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).Find(body); m != nil {
			t.Errorf("%s names another origin: %s", name, m)
		}
	}
}

// The vendored Chart.js is the file vendor.sh checked: its hash is the
// one SHA256SUMS pins, as is every other file listed there.
func TestConsolaVendoredFilesMatchTheirHashes(t *testing.T) {
	sums, err := consolaFiles.ReadFile("consola/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `sum  name`", sc.Text())
		}
		body, err := consolaFiles.ReadFile("consola/vendor/" + name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, SHA256SUMS pins %s (re-vendor with make vendor-chartjs)", name, got, want)
		}
		listed[name] = true
	}
	if !listed["chart.umd.min.js"] {
		t.Error("SHA256SUMS does not pin chart.umd.min.js")
	}
	// Every vendored file is pinned: nothing unchecked is served.
	entries, err := fs.ReadDir(consolaFiles, "consola/vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" && !listed[e.Name()] {
			t.Errorf("vendor/%s is served but not in SHA256SUMS", e.Name())
		}
	}
}
