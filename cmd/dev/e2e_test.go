package main

// End-to-end tests: HTTP -> edge -> Kafka protocol -> worker -> MongoDB
// protocol and back, through the real dev stack. By default the stack uses
// kfake and FerretDB on SQLite; with KAFKA_BROKERS and MONGODB_URI set it
// runs unchanged against external servers (each run uses fresh topic,
// group and database names so runs never see each other's data), and with
// INFRA_DIR (make test-infra) the edge trusts the real infrastructure's
// Ory Hydra and every request carries a token Hydra issued.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"github.com/jea/cliente/cmd/internal/edgehttp"
	"github.com/jea/cliente/cmd/internal/infratest"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

var (
	apiBase        string // http://host:port of the edge
	edgeMetricsURL string // the edge's internal listener
	workerURL      string
	brokers        []string
	cluster        topics.Cluster // brokers with the KAFKA_SASL_* credentials
	issuerURL      string
	audience       = "cliente"
	devToken       string // every scope: from the stack's own issuer, or Hydra's admin client
	runID          = time.Now().UnixNano()
	stackEnv       []string
)

// hydra, when the real infrastructure's Ory Hydra is there (INFRA_DIR, as
// make test-infra runs), is the edge's issuer and mints every token the
// tests use; else the stack's own issuer does.
var hydra *infratest.Hydra

func TestMain(m *testing.M) {
	os.Exit(runWithStack(m))
}

func runWithStack(m *testing.M) int {
	dataDir, err := os.MkdirTemp("", "cliente-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dataDir)
	stackEnv = testEnviron(dataDir, runID)
	if dir := os.Getenv("INFRA_DIR"); dir != "" {
		if h, err := infratest.LoadHydra(dir); err == nil {
			hydra, audience = &h, h.Audience
			stackEnv = append(stackEnv, "AUTH_ISSUER="+h.Issuer, "AUTH_AUDIENCE="+h.Audience)
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "INFRA_DIR without a usable hydra.json:", err)
			return 1
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan stack, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- start(ctx, stackEnv, logSink(), func(s stack) { readyc <- s })
	}()
	select {
	case s := <-readyc:
		apiBase, workerURL = "http://"+s.EdgeAddr, "http://"+s.WorkerAddr
		edgeMetricsURL, issuerURL = "http://"+s.EdgeMetricsAddr, s.Issuer
		brokers = strings.Split(s.KafkaBrokers, ",")
		if devToken, err = allScopesToken(s.TokenFile); err != nil {
			fmt.Fprintln(os.Stderr, "no token with every scope:", err)
			cancel()
			return 1
		}
		if cluster, err = topics.NewCluster(brokers, topics.SASLFromEnv(os.Getenv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			cancel()
			return 1
		}
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "stack did not start:", err)
		cancel()
		return 1
	case <-time.After(2 * time.Minute):
		fmt.Fprintln(os.Stderr, "stack not ready after 2 minutes")
		cancel()
		return 1
	}
	code := m.Run()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			fmt.Fprintln(os.Stderr, "stack stopped with error:", err)
			return 1
		}
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "stack did not stop within 30s")
		return 1
	}
	return code
}

// testEnviron is the process environment plus loopback-only, per-run names.
func testEnviron(dataDir string, id int64) []string {
	return append(os.Environ(),
		"DEV_DATA_DIR="+dataDir,
		"DEV_KAFKA_PORT=0",
		"DEV_WORKER_HTTP_ADDR=127.0.0.1:0",
		"DEV_LOG_FORMAT=json",
		"HTTP_ADDR=127.0.0.1:0",
		"METRICS_ADDR=127.0.0.1:0",
		"DEV_ISSUER_ADDR=127.0.0.1:0",
		"AUTH_ISSUER=", // always the stack's own issuer, whose tokens the tests hold
		"LOG_LEVEL=warn",
		"TOPIC_PARTITIONS=3",
		fmt.Sprintf("TOPIC_COMMANDS=e2e.%d.comandos", id),
		fmt.Sprintf("TOPIC_QUERIES=e2e.%d.consultas", id),
		fmt.Sprintf("TOPIC_ADMIN=e2e.%d.admin", id),
		fmt.Sprintf("REPLY_TOPIC=e2e.%d.respuestas", id),
		fmt.Sprintf("TOPIC_SALES_EVENTS=e2e.%d.ventas", id),
		fmt.Sprintf("TOPIC_CUSTOMER_EVENTS=e2e.%d.eventos", id),
		"EVENTS_RELAY_INTERVAL=200ms",
		fmt.Sprintf("WORKER_GROUP=e2e-%d", id),
		fmt.Sprintf("MONGODB_DATABASE=e2e_%d", id),
		"REQUEST_TIMEOUT=10s",
	)
}

// allScopesToken is a token with every scope: Hydra's admin client's, or
// the one the dev stack wrote to tokenFile.
func allScopesToken(tokenFile string) (string, error) {
	if hydra != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := hydra.Token(ctx, "admin")
		return tok.AccessToken, err
	}
	raw, err := os.ReadFile(tokenFile)
	return strings.TrimSpace(string(raw)), err
}

// tokenWith returns a token with only these scopes, from the edge's
// issuer: Hydra's admin client asking for fewer scopes, or the dev
// issuer's key. Its subject and client are the caller's principal.
func tokenWith(t *testing.T, scopes ...string) string {
	t.Helper()
	if hydra != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := hydra.Token(ctx, "admin", scopes...)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	iss, info, err := devissuer.Open(stackValue(t, "DEV_DATA_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(devissuer.Claims{Subject: "e2e", ClientID: "e2e", Audience: info.Audience, Scopes: scopes, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logSink keeps the stack's logs out of the test output unless asked for.
func logSink() io.Writer {
	if os.Getenv("E2E_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

var seq atomic.Int64

// newDNI returns a DNI no other test in this run uses.
func newDNI() string { return fmt.Sprintf("%08d", (runID/1000+seq.Add(1)*7919)%100_000_000) }

func newCliente(t *testing.T) map[string]any {
	n := seq.Add(1)
	return map[string]any{
		"dni":       newDNI(),
		"nombre":    "Ana",
		"apellido":  "Quispe",
		"email":     fmt.Sprintf("ana.%d.%d@example.pe", runID, n),
		"telefono":  "987654321",
		"direccion": "Av. Arequipa 123, Lima",
	}
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: withDevToken{next: http.DefaultTransport}}

// withDevToken gives every request that has none the dev stack's token:
// the one place the end-to-end tests authenticate.
type withDevToken struct{ next http.RoundTripper }

func (t withDevToken) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+devToken)
	}
	return t.next.RoundTrip(r)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

func do(t *testing.T, method, path string, body any) response {
	t.Helper()
	return doWith(t, method, path, body, nil)
}

// doWith is do with extra request headers.
func doWith(t *testing.T, method, path string, body any, headers map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, apiBase+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

type problem struct {
	Type, Title, Detail, Instance, Code string
	Status                              int
	Errors                              []handlers.FieldError
}

// wantProblem checks status, media type, RFC 9457 members, and that the
// listed fields (if any) are exactly the ones reported.
func wantProblem(t *testing.T, r response, status int, code string, fields ...string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	r.json(t, &p)
	if p.Status != status || p.Code != code || p.Title == "" || !strings.HasSuffix(p.Type, code) {
		t.Fatalf("problem %+v, want status %d code %q", p, status, code)
	}
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
		if f.Message == "" {
			t.Errorf("field %q has no message", f.Field)
		}
	}
	if len(fields) > 0 && strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("problem fields %v, want %v (%s)", got, fields, r.body)
	}
	return p
}

func create(t *testing.T, body map[string]any) handlers.Cliente {
	t.Helper()
	r := do(t, "POST", "/cliente", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.status, r.body)
	}
	var c handlers.Cliente
	r.json(t, &c)
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/cliente/%d", c.ID) {
		t.Fatalf("Location %q for id %d", loc, c.ID)
	}
	return c
}

func get(t *testing.T, path string) handlers.Cliente {
	t.Helper()
	r := do(t, "GET", path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, r.status, r.body)
	}
	var c handlers.Cliente
	r.json(t, &c)
	return c
}

func TestCreateAndRead(t *testing.T) {
	body := newCliente(t)
	body["email"] = "  " + strings.ToUpper(body["email"].(string)) + " "
	body["fechaRegistro"] = "1999-01-01T00:00:00Z" // ignored
	body["activo"] = false                         // ignored on create
	body["id"] = 424242                            // ignored
	before := time.Now().Add(-time.Second)
	c := create(t, body)

	wantEmail := strings.ToLower(strings.TrimSpace(body["email"].(string)))
	if c.ID <= 0 || c.ID == 424242 || c.DNI != body["dni"] || c.Email != wantEmail || !c.Activo ||
		c.Telefono != "+51987654321" || c.Nombre != "Ana" || c.Version != 1 {
		t.Fatalf("created %+v", c)
	}
	if c.FechaRegistro.Before(before) || c.FechaRegistro.After(time.Now().Add(time.Second)) {
		t.Fatalf("fechaRegistro %v not set by the service at creation", c.FechaRegistro)
	}
	for _, path := range []string{
		fmt.Sprintf("/cliente/%d", c.ID),
		"/cliente/dni/" + c.DNI,
		"/cliente/dni/" + c.DNI + "-" + handlers.DNICheck(c.DNI, false),
		"/cliente/email/" + url.PathEscape(c.Email),
		"/cliente/email/" + url.PathEscape(strings.ToUpper(c.Email)),
	} {
		if got := get(t, path); got.ID != c.ID || !got.FechaRegistro.Equal(c.FechaRegistro) {
			t.Fatalf("GET %s = %+v, want %+v", path, got, c)
		}
	}
}

func TestCreateWithCheckDigit(t *testing.T) {
	body := newCliente(t)
	dni := body["dni"].(string)
	body["dni"] = dni + "-" + handlers.DNICheck(dni, false)
	if c := create(t, body); c.DNI != dni {
		t.Fatalf("dni stored as %q, want %q", c.DNI, dni)
	}
	bad := newCliente(t)
	d := bad["dni"].(string)
	wrong := "0"
	if handlers.DNICheck(d, false) == "0" {
		wrong = "1"
	}
	bad["dni"] = d + "-" + wrong
	wantProblem(t, do(t, "POST", "/cliente", bad), 400, "invalid", "dni")
}

func TestInvalidRequests(t *testing.T) {
	with := func(k string, v any) map[string]any {
		b := newCliente(t)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		fields []string
	}{
		{"malformed json", "POST", "/cliente", `{"dni":`, 400, "invalid", nil},
		{"trailing data", "POST", "/cliente", `{"dni":"12345678"} {}`, 400, "invalid", nil},
		{"empty body", "POST", "/cliente", ``, 400, "invalid", nil},
		{"array body", "POST", "/cliente", `[1,2]`, 400, "invalid", nil},
		{"all required missing", "POST", "/cliente", `{}`, 400, "invalid", []string{"dni", "nombre", "email"}},
		{"blank required", "POST", "/cliente", map[string]any{"dni": "  ", "nombre": "\t", "email": " "}, 400, "invalid", []string{"dni", "nombre", "email"}},
		{"dni seven digits", "POST", "/cliente", with("dni", "1234567"), 400, "invalid", []string{"dni"}},
		{"dni letters", "POST", "/cliente", with("dni", "1234567a"), 400, "invalid", []string{"dni"}},
		{"dni as number", "POST", "/cliente", with("dni", 12345678), 400, "invalid", []string{"dni"}},
		{"bad email", "POST", "/cliente", with("email", "ana@"), 400, "invalid", []string{"email"}},
		{"email with name", "POST", "/cliente", with("email", "Ana <ana@example.pe>"), 400, "invalid", []string{"email"}},
		{"nombre too short", "POST", "/cliente", with("nombre", "A"), 400, "invalid", []string{"nombre"}},
		{"bad phone", "POST", "/cliente", with("telefono", "12"), 400, "invalid", []string{"telefono"}},
		{"nombre not string", "POST", "/cliente", with("nombre", map[string]any{"$ne": ""}), 400, "invalid", []string{"nombre"}},
		{"id not a number", "GET", "/cliente/abc", nil, 400, "invalid", []string{"id"}},
		{"id zero", "GET", "/cliente/0", nil, 400, "invalid", []string{"id"}},
		{"id negative", "DELETE", "/cliente/-3", nil, 400, "invalid", []string{"id"}},
		{"id overflows", "GET", "/cliente/99999999999999999999", nil, 400, "invalid", []string{"id"}},
		{"put bad id", "PUT", "/cliente/x", newCliente(t), 400, "invalid", []string{"id"}},
		{"put invalid fields", "PUT", "/cliente/1", `{"dni":"1"}`, 400, "invalid", []string{"dni", "nombre", "email"}},
		{"dni path malformed", "GET", "/cliente/dni/123", nil, 400, "invalid", []string{"dni"}},
		{"dni path operator", "GET", "/cliente/dni/" + url.PathEscape(`{"$ne":""}`), nil, 400, "invalid", []string{"dni"}},
		{"email path operator", "GET", "/cliente/email/" + url.PathEscape(`{"$gt":""}`), nil, 400, "invalid", []string{"email"}},
		{"unknown route", "GET", "/clientes", nil, 404, "not_found", nil},
		{"method not allowed", "PATCH", "/cliente/1", nil, 405, "method_not_allowed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, do(t, tc.method, tc.path, tc.body), tc.status, tc.code, tc.fields...)
		})
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	req, _ := http.NewRequest("POST", apiBase+"/cliente", strings.NewReader(`dni=1`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	big := newCliente(t)
	big["direccion"] = strings.Repeat("x", 1<<20)
	wantProblem(t, do(t, "POST", "/cliente", big), 413, "too_large")
	c := create(t, newCliente(t))
	wantProblem(t, do(t, "PUT", fmt.Sprintf("/cliente/%d", c.ID), big), 413, "too_large")
}

func TestNotFound(t *testing.T) {
	const missing = "/cliente/987654321012"
	wantProblem(t, do(t, "GET", missing, nil), 404, "not_found")
	wantProblem(t, do(t, "PUT", missing, newCliente(t)), 404, "not_found")
	wantProblem(t, do(t, "DELETE", missing, nil), 404, "not_found")
	wantProblem(t, do(t, "GET", "/cliente/dni/"+newDNI(), nil), 404, "not_found")
	wantProblem(t, do(t, "GET", "/cliente/email/nadie."+fmt.Sprint(runID)+"@example.pe", nil), 404, "not_found")
}

func TestConflicts(t *testing.T) {
	a := create(t, newCliente(t))
	b := create(t, newCliente(t))

	dup := newCliente(t)
	dup["dni"] = a.DNI
	p := wantProblem(t, do(t, "POST", "/cliente", dup), 409, "conflict", "dni")
	if strings.Contains(p.Detail, a.DNI) {
		t.Errorf("conflict detail echoes the dni: %q", p.Detail)
	}
	dup = newCliente(t)
	dup["email"] = strings.ToUpper(a.Email) // unique regardless of case
	wantProblem(t, do(t, "POST", "/cliente", dup), 409, "conflict", "email")

	upd := newCliente(t)
	upd["dni"] = a.DNI
	wantProblem(t, do(t, "PUT", fmt.Sprintf("/cliente/%d", b.ID), upd), 409, "conflict", "dni")
	upd = newCliente(t)
	upd["email"] = a.Email
	wantProblem(t, do(t, "PUT", fmt.Sprintf("/cliente/%d", b.ID), upd), 409, "conflict", "email")
	if got := get(t, fmt.Sprintf("/cliente/%d", b.ID)); got != b {
		t.Fatalf("after rejected updates %+v, want unchanged %+v", got, b)
	}
}

func TestUpdate(t *testing.T) {
	c := create(t, newCliente(t))
	path := fmt.Sprintf("/cliente/%d", c.ID)
	body := newCliente(t)
	body["fechaRegistro"] = "2001-01-01T00:00:00Z" // ignored
	body["id"] = c.ID + 1000                       // ignored: the path names the customer
	delete(body, "telefono")                       // replaced: optional fields become empty
	r := do(t, "PUT", path, body)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var u handlers.Cliente
	r.json(t, &u)
	if u.ID != c.ID || !u.FechaRegistro.Equal(c.FechaRegistro) || u.DNI != body["dni"] || u.Telefono != "" ||
		!u.Activo || u.Version != c.Version+1 {
		t.Fatalf("updated %+v from %+v", u, c)
	}
	if got := get(t, path); got != u {
		t.Fatalf("GET after PUT %+v, want %+v", got, u)
	}
	// The old dni is free again.
	wantProblem(t, do(t, "GET", "/cliente/dni/"+c.DNI, nil), 404, "not_found")

	// activo: kept when absent, set when given; true reactivates.
	body["activo"] = false
	r = do(t, "PUT", path, body)
	r.json(t, &u)
	if r.status != 200 || u.Activo {
		t.Fatalf("PUT activo=false: %d %+v", r.status, u)
	}
	delete(body, "activo")
	r = do(t, "PUT", path, body)
	r.json(t, &u)
	if r.status != 200 || u.Activo {
		t.Fatalf("PUT without activo reactivated: %d %+v", r.status, u)
	}
	body["activo"] = true
	r = do(t, "PUT", path, body)
	r.json(t, &u)
	if r.status != 200 || !u.Activo {
		t.Fatalf("PUT activo=true: %d %+v", r.status, u)
	}
}

func TestSoftDelete(t *testing.T) {
	c := create(t, newCliente(t))
	path := fmt.Sprintf("/cliente/%d", c.ID)
	for i := range 2 { // deleting twice is fine
		r := do(t, "DELETE", path, nil)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE #%d: %d %q", i+1, r.status, r.body)
		}
	}
	for _, p := range []string{path, "/cliente/dni/" + c.DNI, "/cliente/email/" + c.Email} {
		got := get(t, p)
		if got.Activo || got.DNI != c.DNI || got.Email != c.Email || !got.FechaRegistro.Equal(c.FechaRegistro) {
			t.Fatalf("GET %s after delete: %+v", p, got)
		}
	}
	// Still holds its dni: a new customer cannot take it.
	dup := newCliente(t)
	dup["dni"] = c.DNI
	wantProblem(t, do(t, "POST", "/cliente", dup), 409, "conflict", "dni")

	active := create(t, newCliente(t))
	if !listHas(t, "/cliente", c.ID) || !listHas(t, "/cliente", active.ID) {
		t.Fatal("GET /cliente must list active and inactive customers")
	}
	if listHas(t, "/cliente/activos", c.ID) || !listHas(t, "/cliente/activos", active.ID) {
		t.Fatal("GET /cliente/activos must list only active customers")
	}
}

// listHas reports whether the listing at path (a route with no query) has
// customer id, following its pages (Link rel="next") from the customers
// registered since yesterday, which the tests' customers are.
func listHas(t *testing.T, path string, id int64) bool {
	t.Helper()
	next := path + "?limite=1000&registradoDesde=" + time.Now().UTC().Add(-24*time.Hour).Format(time.DateOnly)
	var last int64
	for next != "" {
		r := do(t, "GET", next, nil)
		if r.status != 200 || !bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("[")) {
			t.Fatalf("GET %s: %d, want a JSON array: %.200s", next, r.status, r.body)
		}
		var list []handlers.Cliente
		r.json(t, &list)
		for _, c := range list {
			if last >= c.ID {
				t.Fatalf("GET %s not in ascending id order", path)
			}
			last = c.ID
			if path == "/cliente/activos" && !c.Activo {
				t.Fatalf("GET %s returned inactive customer %d", path, c.ID)
			}
			if c.ID == id {
				return true
			}
		}
		next = edgehttp.NextLink(r.header)
	}
	return false
}

func TestConcurrentCreatesOneDNI(t *testing.T) {
	const n = 16
	dni := newDNI()
	statuses := make([]int, n)
	probs := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newCliente(t)
			b["dni"] = dni
			probs[i] = do(t, "POST", "/cliente", b)
			statuses[i] = probs[i].status
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			wantProblem(t, probs[i], 409, "conflict", "dni")
		default:
			t.Fatalf("status %d: %s", s, probs[i].body)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates with one dni succeeded, want exactly 1 (statuses %v)", created, n, statuses)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	for _, u := range []string{apiBase + "/healthz", apiBase + "/readyz", workerURL + "/healthz", workerURL + "/readyz"} {
		// Readiness may flap while a broker connection is re-established:
		// the probe must answer 200, without a token, within seconds.
		for deadline := time.Now().Add(20 * time.Second); ; {
			resp, err := anonymous.Get(u) // probes need no token
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d", u, resp.StatusCode)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	create(t, newCliente(t))
	for base, names := range map[string][]string{
		edgeMetricsURL: {`cliente_edge_http_requests_total{method="POST",route="POST /cliente",status="201"}`, "cliente_edge_http_request_duration_seconds_bucket"},
		workerURL:      {`cliente_worker_messages_handled_total{outcome="ok",type="cliente.crear"}`, "cliente_worker_message_handling_duration_seconds_bucket", "go_goroutines"},
	} {
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, name := range names {
			if !bytes.Contains(raw, []byte(name)) {
				t.Errorf("%s/metrics lacks %s", base, name)
			}
		}
	}
}

// anonymous sends no token.
var anonymous = &http.Client{Timeout: 30 * time.Second}

// Through the real stack: no token, no data and no metrics on the public
// listener; a token of the dev issuer with too few scopes is a 403; the
// dev token (every scope) works, as every other test shows.
func TestAccessControl(t *testing.T) {
	for _, path := range []string{"/cliente", "/cliente/1", "/metrics"} {
		resp, err := anonymous.Get(apiBase + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="cliente"` {
			t.Errorf("GET %s without a token: %d %q, want 401 Bearer realm", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	h := map[string]string{"Authorization": "Bearer " + tokenWith(t, auth.ScopeLeer)}
	if r := doWith(t, "GET", "/cliente/activos", nil, h); r.status != 200 {
		t.Errorf("reader: GET /cliente/activos %d", r.status)
	}
	r := doWith(t, "POST", "/cliente", newCliente(t), h)
	wantProblem(t, r, 403, "forbidden")
	if wa := r.header.Get("WWW-Authenticate"); !strings.Contains(wa, `scope="clientes:escribir"`) {
		t.Errorf("WWW-Authenticate %q", wa)
	}
}

// An edge whose requests nobody consumes answers 504 with a problem body
// once its bounded wait ends, and does not hang.
func TestGatewayTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prefix := fmt.Sprintf("e2e.%d.nobody.", runID)
	setup, setupCancel := context.WithTimeout(ctx, 30*time.Second)
	defer setupCancel()
	if err := topics.EnsureTopics(setup, cluster, zerolog.Nop(),
		topics.TopicSpec{Name: prefix + "cmd", Partitions: 1, ReplicationFactor: 1},
		topics.TopicSpec{Name: prefix + "qry", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load[config.Edge]([]string{
		"KAFKA_BROKERS=" + strings.Join(brokers, ","), "HTTP_ADDR=127.0.0.1:0", "REQUEST_TIMEOUT=300ms",
		"METRICS_ADDR=127.0.0.1:0", "AUTH_ISSUER=" + issuerURL, "AUTH_AUDIENCE=" + audience,
		"KAFKA_SASL_MECHANISM=" + os.Getenv("KAFKA_SASL_MECHANISM"), "KAFKA_SASL_USERNAME=" + os.Getenv("KAFKA_SASL_USERNAME"),
		"KAFKA_SASL_PASSWORD=" + os.Getenv("KAFKA_SASL_PASSWORD"),
		"TOPIC_COMMANDS=" + prefix + "cmd", "TOPIC_QUERIES=" + prefix + "qry", "TOPIC_ADMIN=" + prefix + "adm", "REPLY_TOPIC=" + prefix + "replies",
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	ready := make(chan struct{})
	done := make(chan error, 1)
	reg := app.NewRegistry()
	go func() {
		done <- app.RunEdge(ctx, cfg, zerolog.Nop(), app.Metrics{Registerer: reg, Gatherer: reg},
			app.Hooks{Listening: func(a string) { addr <- a }, Ready: func() { close(ready) }})
	}()
	base := "http://" + <-addr
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("edge not ready")
	}
	start := time.Now()
	resp, err := client.Get(base + "/cliente/1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProblem(t, response{status: resp.StatusCode, header: resp.Header, body: raw}, 504, "timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("504 took %v, want about the 300ms bound", d)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("edge did not stop")
	}
}

func TestOptimisticConcurrency(t *testing.T) {
	c := create(t, newCliente(t))
	path := fmt.Sprintf("/cliente/%d", c.ID)
	r := do(t, "GET", path, nil)
	if r.header.Get("ETag") != `"1"` {
		t.Fatalf("ETag %q, want \"1\"", r.header.Get("ETag"))
	}
	put := func(ifMatch string, body map[string]any) response {
		return doWith(t, "PUT", path, body, map[string]string{"If-Match": ifMatch})
	}
	body := newCliente(t)
	if r := put(`"1"`, body); r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("PUT with current If-Match: %d ETag %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	// A second writer still holding version 1 loses, and changes nothing.
	other := newCliente(t)
	wantProblem(t, put(`"1"`, other), 412, "precondition_failed", "version")
	if got := get(t, path); got.DNI != body["dni"] || got.Version != 2 {
		t.Fatalf("after the stale PUT: %+v", got)
	}
	wantProblem(t, doWith(t, "DELETE", path, nil, map[string]string{"If-Match": `"1"`}), 412, "precondition_failed", "version")
	if got := get(t, path); !got.Activo {
		t.Fatal("stale DELETE deactivated the customer")
	}
	if r := put("*", body); r.status != 200 {
		t.Fatalf("PUT with If-Match * : %d", r.status)
	}
}

func TestIdempotencyKey(t *testing.T) {
	post := func(key string, body map[string]any) response {
		return doWith(t, "POST", "/cliente", body, map[string]string{"Idempotency-Key": key})
	}
	key := fmt.Sprintf("idem-%d-%d", runID, seq.Add(1))
	body := newCliente(t)
	first := post(key, body)
	again := post(key, body)
	if first.status != 201 || again.status != 201 || !bytes.Equal(first.body, again.body) ||
		first.header.Get("Location") != again.header.Get("Location") {
		t.Fatalf("retry with the same key: %d %s / %d %s; want the first reply again", first.status, first.body, again.status, again.body)
	}
	other := newCliente(t)
	wantProblem(t, post(key, other), 400, "invalid", "idempotencyKey")
	wantProblem(t, post(strings.Repeat("k", 300), newCliente(t)), 400, "invalid", "idempotencyKey")

	// Failures replay as well: a retried conflicting create keeps its 409.
	dupKey := key + "-dup"
	dup := newCliente(t)
	dup["dni"] = body["dni"]
	a, b := post(dupKey, dup), post(dupKey, dup)
	if a.status != 409 || b.status != 409 || !bytes.Equal(a.body, b.body) {
		t.Fatalf("retried conflict: %d / %d", a.status, b.status)
	}
}
