package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jea/cliente/handlers"
)

// consolaFiles are the web console's page and assets. They are public:
// the page holds no data, and every call it makes to the API carries the
// bearer token the person pastes into it, so the API's access checks
// apply unchanged. Only these files are served: the vendoring script and
// anything else in the folder are not embedded.
//
//go:embed consola/*.html consola/*.js consola/*.css consola/vendor/*
var consolaFiles embed.FS

// consolaCSP lets the page load its own scripts, styles and data and
// nothing else: no inline script or style, no other origin, no framing.
// Chart.js draws on canvas and sets element styles through the CSSOM,
// which style-src does not restrict.
const consolaCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consolaAsset is one embedded file, ready to serve.
type consolaAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consolaAssets reads every embedded file once, keyed by its path under
// /consola/ ("" is the page itself).
func consolaAssets() map[string]consolaAsset {
	assets := map[string]consolaAsset{}
	err := fs.WalkDir(consolaFiles, "consola", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := consolaFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "text/plain; charset=utf-8" // LICENSE.md, SHA256SUMS
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "consola/")
		if name == "index.html" {
			name = ""
		}
		assets[name] = consolaAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("httpapi: embedded console: " + err.Error()) // the binary was built wrong
	}
	return assets
}

// consola serves the console's page at /consola and its assets at
// /consola/{archivo...}; /consola/ redirects to the page.
func consola() http.Handler {
	assets := consolaAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("archivo")
		if r.URL.Path == "/consola/" {
			http.Redirect(w, r, "/consola", http.StatusMovedPermanently)
			return
		}
		a, ok := assets[name]
		if !ok {
			writeProblem(w, newProblem(r, string(handlers.CodeNotFound), "no such file", nil))
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", consolaCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidated on every load (cheap, by ETag), so a new build's
		// page never runs with the old build's script.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
