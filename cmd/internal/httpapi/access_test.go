package httpapi

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

const testAudience = "cliente"

// testIssuer is an OpenID issuer on 127.0.0.1 (discovery and JWKS) with an
// RS256 key, and a verifier discovered from it as the edge builds one.
type testIssuer struct {
	*devissuer.Issuer
	key      devissuer.Key
	verifier *auth.Verifier
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := devissuer.NewKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	iss, srv := devissuer.ServeTest(t, key)
	v, err := auth.Discover(t.Context(), iss.URL(), testAudience, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{Issuer: iss, key: key, verifier: v}
}

// claims are valid access token claims of the issuer; edit to break them.
func (ti *testIssuer) claims(scopes ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": ti.URL(), "sub": "user-7", "aud": []string{testAudience}, "client_id": "ventas-web",
		"scope": strings.Join(scopes, " "), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func (ti *testIssuer) sign(t *testing.T, k devissuer.Key, claims map[string]any) string {
	t.Helper()
	tok, err := devissuer.Sign(k, "at+jwt", claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// handler serves the routes with this issuer's verifier over f.
func (ti *testIssuer) handler(f *fakeCaller, reg *prometheus.Registry) http.Handler {
	return New(Options{
		Clientes: client.Over(f, time.Minute), Tokens: ti.verifier, Ready: func(context.Context) error { return nil },
		Log: zerolog.Nop(), Registry: reg, RequestTimeout: time.Second, MaxBodyBytes: 1 << 10,
	})
}

func serve(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func b64(v any) string {
	raw, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Every kind of bad token is a 401 with WWW-Authenticate as RFC 6750 says,
// a problem body, and nothing sent to the worker.
func TestBadTokensAreRefused(t *testing.T) {
	ti := newTestIssuer(t)
	all := auth.AllScopes()
	with := func(edit func(map[string]any)) string {
		c := ti.claims(all...)
		edit(c)
		return "Bearer " + ti.sign(t, ti.key, c)
	}
	foreign, err := devissuer.NewKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	spoofed := foreign
	spoofed.ID = ti.key.ID // a foreign key claiming the issuer's key id

	// alg none: a well-formed JWT with an empty signature.
	none := b64(map[string]string{"alg": "none", "typ": "at+jwt"}) + "." + b64(ti.claims(all...)) + "."
	// HMAC confusion: HS256 keyed with the issuer's public key, the bytes
	// an attacker can download, under the issuer's key id.
	pubDER, err := x509.MarshalPKIXPublicKey(ti.key.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	var hmac []string
	for _, secret := range [][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), pubDER} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: ti.key.ID}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(ti.claims(all...)).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		hmac = append(hmac, tok)
	}
	tokenTyped := func(typ string) string {
		tok, err := devissuer.Sign(ti.key, typ, ti.claims(all...))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	valid := ti.sign(t, ti.key, ti.claims(all...))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name, header string
		wantError    bool // error="invalid_token"; a missing token has none
	}{
		{"missing", "", false},
		{"other scheme", "Basic dXNlcjpwYXNz", false},
		{"empty bearer", "Bearer ", true},
		{"malformed", "Bearer not.a.jwt", true},
		{"garbage", "Bearer " + strings.Repeat("x", 300), true},
		{"tampered payload", "Bearer " + parts[0] + "." + b64(ti.claims(all...)) + "x." + parts[2], true},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), true},
		{"expired", with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), true},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), true},
		{"not yet valid", with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), true},
		{"wrong issuer", with(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }), true},
		{"no issuer", with(func(c map[string]any) { delete(c, "iss") }), true},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = []string{"other-service"} }), true},
		{"no audience", with(func(c map[string]any) { delete(c, "aud") }), true},
		{"no subject", with(func(c map[string]any) { delete(c, "sub") }), true},
		{"alg none", "Bearer " + none, true},
		{"HS256 with the public key (PEM)", "Bearer " + hmac[0], true},
		{"HS256 with the public key (DER)", "Bearer " + hmac[1], true},
		{"foreign key", "Bearer " + ti.sign(t, foreign, ti.claims(all...)), true},
		{"foreign key with the issuer's kid", "Bearer " + ti.sign(t, spoofed, ti.claims(all...)), true},
		{"not an access token (typ)", tokenTyped("logout+jwt"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}
			rec := serve(ti.handler(f, prometheus.NewRegistry()), "GET", "/cliente/1", tc.header)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", rec.Code, rec.Body)
			}
			wa := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, `Bearer realm="cliente"`) {
				t.Errorf("WWW-Authenticate %q, want Bearer realm=\"cliente\"...", wa)
			}
			if got := strings.Contains(wa, `error="invalid_token"`); got != tc.wantError || strings.Contains(wa, "scope=") {
				t.Errorf("WWW-Authenticate %q: invalid_token %v, want %v", wa, got, tc.wantError)
			}
			wantProblemBody(t, rec, 401, "unauthorized")
			if f.got.Type != "" {
				t.Errorf("sent %s to the worker with a bad token", f.got.Type)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		f := &fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}
		rec := serve(ti.handler(f, prometheus.NewRegistry()), "GET", "/cliente/1", "Bearer "+valid)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if f.got.Meta.Principal != "user-7" || f.got.Meta.ClientID != "ventas-web" {
			t.Fatalf("meta %+v, want the token's sub and client_id", f.got.Meta)
		}
	})
	t.Run("expired says so", func(t *testing.T) {
		rec := serve(ti.handler(&fakeCaller{}, prometheus.NewRegistry()), "GET", "/cliente/1",
			with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
		if !strings.Contains(rec.Header().Get("WWW-Authenticate"), "expired") {
			t.Fatalf("WWW-Authenticate %q does not say the token expired", rec.Header().Get("WWW-Authenticate"))
		}
	})
}

func wantProblemBody(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if p.Status != status || p.Code != code || p.Type != problemTypeBase+code {
		t.Errorf("problem %+v, want status %d code %s", p, status, code)
	}
}

// A valid token without the route's scope is a 403 naming the scope.
func TestMissingScopeIsForbidden(t *testing.T) {
	ti := newTestIssuer(t)
	f := &fakeCaller{reply: okReply(topics.TypeCrear, handlers.Cliente{ID: 1})}
	h := ti.handler(f, prometheus.NewRegistry())
	reader := "Bearer " + ti.sign(t, ti.key, ti.claims(auth.ScopeLeer, auth.ScopeVentas))
	rec := serve(h, "DELETE", "/cliente/1", reader)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %s", rec.Code, rec.Body)
	}
	if wa := rec.Header().Get("WWW-Authenticate"); wa != `Bearer realm="cliente", error="insufficient_scope", scope="clientes:escribir"` {
		t.Errorf("WWW-Authenticate %q", wa)
	}
	wantProblemBody(t, rec, 403, "forbidden")
	if f.got.Type != "" {
		t.Fatalf("sent %s without the scope", f.got.Type)
	}
	// scp as an array (Ory Hydra) grants as scope does.
	c := ti.claims()
	delete(c, "scope")
	c["scp"] = []string{auth.ScopeEscribir}
	if rec := serve(h, "DELETE", "/cliente/1", "Bearer "+ti.sign(t, ti.key, c)); rec.Code != http.StatusNoContent {
		t.Fatalf("scp [clientes:escribir]: status %d, want 204: %s", rec.Code, rec.Body)
	}
}

// A key the issuer publishes after the edge cached its keys is accepted
// once published: the unknown key id makes the verifier fetch the JWKS
// again. Before that, tokens signed with it are refused.
func TestKeyRotation(t *testing.T) {
	ti := newTestIssuer(t)
	h := ti.handler(&fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}, prometheus.NewRegistry())
	if rec := serve(h, "GET", "/cliente/1", "Bearer "+ti.sign(t, ti.key, ti.claims(auth.ScopeLeer))); rec.Code != 200 {
		t.Fatalf("old key: status %d", rec.Code) // the old key is now cached
	}
	next, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	early := "Bearer " + ti.sign(t, next, ti.claims(auth.ScopeLeer))
	if rec := serve(h, "GET", "/cliente/1", early); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unpublished key: status %d, want 401", rec.Code)
	}
	ti.Rotate(next)
	minted, err := ti.Mint(devissuer.Claims{Subject: "s", ClientID: "c", Audience: testAudience, Scopes: []string{auth.ScopeLeer}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// go-oidc hands a request that arrives just as a key fetch finishes
	// that fetch's result (RemoteKeySet.keysFromRemote frees its in-flight
	// fetch only after waking the waiters): the fetch the early token
	// started may answer once more without the new key. So the first
	// token after the rotation may need a second try, milliseconds later.
	for attempt := 1; ; attempt++ {
		rec := serve(h, "GET", "/cliente/1", early)
		if rec.Code == 200 {
			break
		}
		if attempt == 3 {
			t.Fatalf("after rotation: status %d, want 200: %s", rec.Code, rec.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tok := range []string{"Bearer " + minted, "Bearer " + ti.sign(t, ti.key, ti.claims(auth.ScopeLeer))} {
		if rec := serve(h, "GET", "/cliente/1", tok); rec.Code != 200 {
			t.Fatalf("after rotation: status %d, want 200: %s", rec.Code, rec.Body)
		}
	}
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// Over the whole route table New builds its mux from: no route but the
// probes and the console's static files answers without a token, and each needs exactly its scope. A new
// route is in the table, so it is tested here.
func TestEveryRouteNeedsAToken(t *testing.T) {
	ti := newTestIssuer(t)
	f := &fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}
	h := ti.handler(f, prometheus.NewRegistry())
	routes := (&api{}).routes()
	// A path a public route with a wildcard serves (a console asset).
	examples := map[string]string{"GET /consola/{archivo...}": "/consola/consola.js"}
	var publics []string
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = paramRE.ReplaceAllString(path, "1")
		if ex, ok := examples[rt.pattern]; ok {
			path = ex
		}
		t.Run(rt.pattern, func(t *testing.T) {
			f.got = topics.Call{}
			rec := serve(h, method, path, "")
			if rt.scope == public {
				publics = append(publics, rt.pattern)
				if rec.Code != 200 || f.got.Type != "" {
					t.Fatalf("public route: status %d without a token, sent %q; want 200, nothing sent", rec.Code, f.got.Type)
				}
				return
			}
			if rec.Code != http.StatusUnauthorized || f.got.Type != "" {
				t.Fatalf("without a token: status %d, sent %q; want 401, nothing sent", rec.Code, f.got.Type)
			}
			others := slices.DeleteFunc(auth.AllScopes(), func(s string) bool { return s == rt.scope })
			rec = serve(h, method, path, "Bearer "+ti.sign(t, ti.key, ti.claims(others...)))
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `scope="`+rt.scope+`"`) || f.got.Type != "" {
				t.Fatalf("with every other scope: status %d, %q, sent %q; want 403 naming %s", rec.Code, rec.Header().Get("WWW-Authenticate"), f.got.Type, rt.scope)
			}
			rec = serve(h, method, path, "Bearer "+ti.sign(t, ti.key, ti.claims(rt.scope)))
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Fatalf("with scope %s: status %d", rt.scope, rec.Code)
			}
		})
	}
	// Public: the probes, and the console's page and assets, which hold
	// no data (its calls to the routes above carry the person's token).
	if want := []string{"GET /healthz", "GET /readyz", "GET /consola", "GET /consola/{archivo...}"}; !slices.Equal(publics, want) {
		t.Errorf("public routes %v, want only %v", publics, want)
	}
	// Unknown paths, wrong methods and /metrics (not public any more) need
	// a token too: no token, no map of the API.
	for _, mp := range [][2]string{{"GET", "/nope"}, {"PATCH", "/cliente"}, {"GET", "/metrics"}, {"GET", "/debug/pprof/"}} {
		if rec := serve(h, mp[0], mp[1], ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", mp[0], mp[1], rec.Code)
		}
		if rec := serve(h, mp[0], mp[1], "Bearer "+ti.sign(t, ti.key, ti.claims(auth.AllScopes()...))); rec.Code != 404 && rec.Code != 405 {
			t.Errorf("%s %s with a token: %d, want 404 or 405", mp[0], mp[1], rec.Code)
		}
	}
}

// While starting, the edge is alive and not ready, and still says 401 to
// requests without a token.
func TestStartingAnswers(t *testing.T) {
	h := Starting()
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 503},
		{"/cliente", "", 401},
		{"/nope", "", 401},
		{"/cliente", "Bearer x", 503},
	} {
		if rec := serve(h, "GET", tc.path, tc.token); rec.Code != tc.want {
			t.Errorf("GET %s (token %q) while starting: %d, want %d", tc.path, tc.token, rec.Code, tc.want)
		}
	}
}

// Made-up methods and paths never become new label values: the series
// count stays that of the route table, however many a client invents.
func TestMetricLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHandler(&fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}, reg)
	for i := range 2000 {
		for _, tok := range []string{"", "Bearer all"} {
			req := httptest.NewRequest("GET", fmt.Sprintf("/made/up/%d", i), nil)
			req.Method = fmt.Sprintf("M%06d", i)
			if tok != "" {
				req.Header.Set("Authorization", tok)
			} else {
				req.Header.Set("Authorization", "Bearer nope")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() != "other" && l.GetValue() != "GET" {
					t.Fatalf("method label %q", l.GetValue())
				}
				if l.GetName() == "route" && l.GetValue() != "unmatched" {
					t.Fatalf("route label %q", l.GetValue())
				}
			}
		}
	}
	if series > 4 {
		t.Fatalf("%d series after 4,000 made-up requests, want at most 4", series)
	}
}

// /metrics and pprof are served only by the internal handler; pprof only
// when asked for.
func TestInternalHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_total", Help: "x"}))
	for _, pprof := range []bool{false, true} {
		h := Internal(reg, reg, pprof)
		if rec := serve(h, "GET", "/metrics", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "probe_total") {
			t.Fatalf("pprof=%v: /metrics %d", pprof, rec.Code)
		}
		want := 404
		if pprof {
			want = 200
		}
		if rec := serve(h, "GET", "/debug/pprof/", ""); rec.Code != want {
			t.Fatalf("pprof=%v: /debug/pprof/ %d, want %d", pprof, rec.Code, want)
		}
	}
}

// A sub-resource's scope is checked on the route the request is served
// by: no spelling of an admin path reaches its operation with the sales
// service's scope.
func TestSubresourceScopesCannotBeSidestepped(t *testing.T) {
	ti := newTestIssuer(t)
	f := &fakeCaller{reply: okReply(topics.TypeAuditoria, handlers.PaginaAuditoria{ClienteID: 1})}
	h := ti.handler(f, prometheus.NewRegistry())
	ventas := "Bearer " + ti.sign(t, ti.key, ti.claims(auth.ScopeVentas))
	for _, path := range []string{"/cliente/1/auditoria", "/cliente/1/%61uditoria", "/cliente/1/auditoria/", "/cliente/1//auditoria",
		"/cliente/1/compras/../auditoria", "/cliente/1/datos", "/cliente/01/datos"} {
		f.got = topics.Call{}
		rec := serve(h, "GET", path, ventas)
		if rec.Code == 200 || f.got.Type != "" {
			t.Errorf("GET %s with scope ventas: %d, sent %q; want refused, nothing sent", path, rec.Code, f.got.Type)
		}
	}
	if rec := serve(h, "GET", "/cliente/1/compras", ventas); rec.Code == http.StatusForbidden {
		t.Fatalf("GET /cliente/1/compras with scope ventas: 403")
	}
	admin := "Bearer " + ti.sign(t, ti.key, ti.claims(auth.ScopeAdmin))
	if rec := serve(h, "GET", "/cliente/1/auditoria", admin); rec.Code != 200 || f.got.Type != topics.TypeAuditoria {
		t.Fatalf("GET /cliente/1/auditoria with scope admin: %d, sent %q", rec.Code, f.got.Type)
	}
}
