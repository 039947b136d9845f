package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

// fakeCaller records the call it gets and answers as scripted.
type fakeCaller struct {
	got   topics.Call
	reply topics.Reply
	err   error
	wait  bool // block until the context ends
}

func (f *fakeCaller) Call(ctx context.Context, c topics.Call) (topics.Reply, error) {
	f.got = c
	if f.wait {
		<-ctx.Done()
		return topics.Reply{}, fmt.Errorf("%w: %w", topics.ErrNoReply, ctx.Err())
	}
	return f.reply, f.err
}

func okReply(t topics.Type, data any) topics.Reply { return topics.NewReply(t, data, nil) }

// newTestHandler serves the routes through the real Kafka client over c,
// so the tests see the messages each route sends. Requests without an
// Authorization header get a token with every scope: these tests are about
// what a route does once allowed (access_test.go is about access).
func newTestHandler(c client.Caller, reg *prometheus.Registry) http.Handler {
	return withToken(New(testOptions(c, reg)))
}

// testOptions serve the routes through the real Kafka client over c and
// accept every token (staticTokens).
func testOptions(c client.Caller, reg *prometheus.Registry) Options {
	return Options{
		Clientes: client.Over(c, time.Minute), Tokens: staticTokens{}, Ready: func(context.Context) error { return nil }, Log: zerolog.Nop(),
		Registry: reg, RequestTimeout: 200 * time.Millisecond, MaxBodyBytes: 1 << 10,
	}
}

// withToken gives requests without one a token with every scope.
func withToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer all")
		}
		h.ServeHTTP(w, r)
	})
}

// staticTokens accepts the token "all", granting every scope.
type staticTokens struct{}

func (staticTokens) Verify(_ context.Context, raw string) (auth.Token, error) {
	if raw != "all" {
		return auth.Token{}, errors.New("unknown token")
	}
	return auth.Token{Principal: handlers.Principal{Subject: "tester", ClientID: "tests"}, Scopes: auth.AllScopes()}, nil
}

func TestRoutesMapOntoMessages(t *testing.T) {
	cliente := handlers.Cliente{ID: 7, DNI: "10117410", Activo: true}
	body := `{"dni":"10117410","nombre":"Ana","email":"a@b.pe"}`
	tests := []struct {
		method, path, body string
		reply              topics.Reply
		wantType           topics.Type
		wantKey            string
		wantData           string // JSON of the payload
		wantStatus         int
	}{
		{"GET", "/cliente", "", okReply(topics.TypeListar, handlers.PaginaClientes{}), topics.TypeListar, "", `{}`, 200},
		{"GET", "/cliente/activos", "", okReply(topics.TypeListar, handlers.PaginaClientes{}), topics.TypeListar, "", `{"activo":true}`, 200},
		{"GET", "/cliente?q=maria+qui&activo=false&registradoDesde=2026-01-01&limite=5&cursor=eyJkIjo3fQ", "", okReply(topics.TypeBuscar, handlers.PaginaClientes{}), topics.TypeBuscar, "",
			`{"q":"maria qui","activo":false,"registradoDesde":"2026-01-01","limite":5,"cursor":"eyJkIjo3fQ"}`, 200},
		{"GET", "/cliente/7", "", okReply(topics.TypeObtener, cliente), topics.TypeObtener, "", `{"id":7}`, 200},
		{"GET", "/cliente/dni/10117410-2", "", okReply(topics.TypeObtenerPorDNI, cliente), topics.TypeObtenerPorDNI, "", `{"dni":"10117410-2"}`, 200},
		{"GET", "/cliente/email/A@B.pe", "", okReply(topics.TypeObtenerPorEmail, cliente), topics.TypeObtenerPorEmail, "", `{"email":"A@B.pe"}`, 200},
		{"POST", "/cliente", body, okReply(topics.TypeCrear, cliente), topics.TypeCrear, "10117410",
			`{"dni":"10117410","nombre":"Ana","apellido":null,"email":"a@b.pe","telefono":null,"direccion":null,"activo":null}`, 201},
		{"PUT", "/cliente/7", body, okReply(topics.TypeActualizar, cliente), topics.TypeActualizar, "7",
			`{"id":7,"dni":"10117410","nombre":"Ana","apellido":null,"email":"a@b.pe","telefono":null,"direccion":null,"activo":null}`, 200},
		{"DELETE", "/cliente/7", "", okReply(topics.TypeEliminar, cliente), topics.TypeEliminar, "7", `{"id":7}`, 204},
		{"GET", "/cliente/7/compras", "", okReply(topics.TypeCompras, handlers.HistorialCompras{ClienteID: 7}), topics.TypeCompras, "", `{"id":7}`, 200},
		{"GET", "/cliente/7/compras?limite=5&cursor=abc", "", okReply(topics.TypeCompras, handlers.HistorialCompras{ClienteID: 7}), topics.TypeCompras, "",
			`{"id":7,"limite":5,"cursor":"abc"}`, 200},
		{"GET", "/cliente/7/resumen", "", okReply(topics.TypeResumen, handlers.Resumen{ClienteID: 7}), topics.TypeResumen, "", `{"id":7}`, 200},
		{"GET", "/cliente?segmento=leales&moneda=usd&departamento=Cusco", "", okReply(topics.TypeListar, handlers.PaginaClientes{}), topics.TypeListar, "",
			`{"segmento":"leales","moneda":"usd","departamento":"Cusco"}`, 200},
		{"GET", "/cliente/reportes/adquisicion?periodo=semana&desde=2026-01-01&hasta=2026-02-01", "", okReply(topics.TypeReporteAdquisicion, handlers.ReporteAdquisicion{}),
			topics.TypeReporteAdquisicion, "", `{"periodo":"semana","desde":"2026-01-01","hasta":"2026-02-01"}`, 200},
		{"GET", "/cliente/reportes/adquisicion", "", okReply(topics.TypeReporteAdquisicion, handlers.ReporteAdquisicion{}), topics.TypeReporteAdquisicion, "", `{}`, 200},
		{"GET", "/cliente/reportes/retencion", "", okReply(topics.TypeReporteRetencion, handlers.ReporteRetencion{}), topics.TypeReporteRetencion, "", `{}`, 200},
		{"GET", "/cliente/reportes/geografia", "", okReply(topics.TypeReporteGeografia, handlers.ReporteGeografia{}), topics.TypeReporteGeografia, "", `{}`, 200},
		{"GET", "/cliente/reportes/canales", "", okReply(topics.TypeReporteCanales, handlers.ReporteCanales{}), topics.TypeReporteCanales, "", `{}`, 200},
		{"GET", "/cliente/reportes/valor", "", okReply(topics.TypeReporteValor, handlers.ReporteValor{}), topics.TypeReporteValor, "", `{}`, 200},
		{"GET", "/cliente/7/auditoria?limite=5&cursor=eyJ2IjozfQ", "", okReply(topics.TypeAuditoria, handlers.PaginaAuditoria{ClienteID: 7}), topics.TypeAuditoria, "",
			`{"id":7,"limite":5,"cursor":"eyJ2IjozfQ"}`, 200},
		{"GET", "/cliente/7/datos", "", okReply(topics.TypeDatos, handlers.DatosCliente{Cliente: cliente}), topics.TypeDatos, "", `{"id":7}`, 200},
		{"POST", "/cliente/7/anonimizar", "", okReply(topics.TypeAnonimizar, cliente), topics.TypeAnonimizar, "7", `{"id":7}`, 200},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f := &fakeCaller{reply: tc.reply}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			data, _ := json.Marshal(f.got.Data)
			if f.got.Type != tc.wantType || f.got.Key != tc.wantKey || string(data) != tc.wantData {
				t.Fatalf("call %s key %q data %s; want %s key %q data %s", f.got.Type, f.got.Key, data, tc.wantType, tc.wantKey, tc.wantData)
			}
			if tc.wantStatus == 201 && rec.Header().Get("Location") != "/cliente/7" {
				t.Fatalf("Location %q", rec.Header().Get("Location"))
			}
		})
	}
}

func TestErrorsBecomeProblems(t *testing.T) {
	tests := []struct {
		name   string
		caller *fakeCaller
		status int
		code   string
	}{
		{"invalid reply", &fakeCaller{reply: topics.NewReply(topics.TypeObtener, nil, handlers.Errorf(handlers.CodeInvalid, "x"))}, 400, "invalid"},
		{"not found reply", &fakeCaller{reply: topics.NewReply(topics.TypeObtener, nil, handlers.Errorf(handlers.CodeNotFound, "x"))}, 404, "not_found"},
		{"conflict reply", &fakeCaller{reply: topics.NewReply(topics.TypeObtener, nil, handlers.Conflict("email"))}, 409, "conflict"},
		{"unavailable reply", &fakeCaller{reply: topics.NewReply(topics.TypeObtener, nil, handlers.Errorf(handlers.CodeUnavailable, "db down"))}, 503, "unavailable"},
		{"broker unavailable", &fakeCaller{err: handlers.Wrap(handlers.CodeUnavailable, errors.New("dial"), "the message broker is unavailable")}, 503, "unavailable"},
		{"no reply in time", &fakeCaller{wait: true}, 504, "timeout"},
		{"internal reply", &fakeCaller{reply: topics.NewReply(topics.TypeObtener, nil, errors.New("secret detail"))}, 500, "internal"},
		{"undecodable reply data", &fakeCaller{reply: topics.Reply{Type: topics.TypeObtener, Status: topics.StatusOK, Data: json.RawMessage(`[1]`)}}, 500, "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newTestHandler(tc.caller, prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/1", nil))
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || p.Status != tc.status || p.Code != tc.code ||
				rec.Header().Get("Content-Type") != "application/problem+json" || p.Instance != "/cliente/1" {
				t.Fatalf("got %d %+v", rec.Code, p)
			}
			if strings.Contains(rec.Body.String(), "secret detail") {
				t.Fatal("internal error detail leaked to the client")
			}
			// Every 503 says when to retry (a worker shedding commands, a
			// broker down); no other status does.
			if got, want := rec.Header().Get("Retry-After"), map[bool]string{true: "1"}[tc.status == 503]; got != want {
				t.Fatalf("Retry-After %q, want %q", got, want)
			}
		})
	}
}

func TestBodyRules(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		field             string
	}{
		{"too large", "application/json", `{"nombre":"` + strings.Repeat("x", 2<<10) + `"}`, 413, ""},
		{"wrong type", "application/json", `{"dni":12345678}`, 400, "dni"},
		{"json suffix accepted", "application/merge-patch+json", `{"dni":"1"}`, 0, ""},
		{"charset accepted", "application/json; charset=utf-8", `{"dni":"1"}`, 0, ""},
		{"text rejected", "text/plain", `{}`, 415, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCaller{reply: okReply(topics.TypeCrear, handlers.Cliente{ID: 1})}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/cliente", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, req)
			want := tc.status
			if want == 0 {
				want = 201
			}
			if rec.Code != want {
				t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
			}
			if tc.field != "" && !strings.Contains(rec.Body.String(), `"field":"`+tc.field+`"`) {
				t.Fatalf("problem does not name %s: %s", tc.field, rec.Body)
			}
			if want != 201 && f.got.Type != "" {
				t.Fatal("a rejected body must not be sent to the worker")
			}
		})
	}
}

func TestMetricsUseRoutePatterns(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHandler(&fakeCaller{reply: okReply(topics.TypeObtenerPorDNI, handlers.Cliente{ID: 1})}, reg)
	for _, p := range []string{"/cliente/dni/10117410", "/cliente/dni/20000000", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if n := requestCount(t, reg, "GET /cliente/dni/{dni}", "200"); n != 2 {
		t.Fatalf("requests for the dni route = %v, want 2", n)
	}
	if n := requestCount(t, reg, "unmatched", "404"); n != 1 {
		t.Fatalf("unmatched = %v, want 1", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
}

// requestCount reads the edge request counter for route and status.
func requestCount(t *testing.T, reg *prometheus.Registry, route, status string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "cliente_edge_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestIfMatchBecomesExpectedVersion(t *testing.T) {
	never := int64(-1)
	for header, want := range map[string]*int64{
		"":                       nil,
		"*":                      nil,
		`"4"`:                    ptr(int64(4)),
		` "12" `:                 ptr(int64(12)),
		`W/"4"`:                  &never, // weak tags never match If-Match
		`"abc"`:                  &never,
		`"0"`:                    &never,
		`4`:                      &never,
		`"3", "4"`:               &never,
		`"99999999999999999999"`: &never,
	} {
		f := &fakeCaller{reply: okReply(topics.TypeEliminar, handlers.Cliente{ID: 1, Version: 5})}
		req := httptest.NewRequest("DELETE", "/cliente/1", nil)
		if header != "" {
			req.Header.Set("If-Match", header)
		}
		rec := httptest.NewRecorder()
		newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, req)
		got := f.got.Meta.ExpectedVersion
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("If-Match %q: expected version %v, want %v", header, deref(got), deref(want))
		}
		if rec.Header().Get("ETag") != `"5"` {
			t.Errorf("ETag %q, want \"5\"", rec.Header().Get("ETag"))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// FuzzEdgeRequest: no method, path, header or body makes the edge answer
// 500, or send a request the worker would find malformed.
// encodingCaller encodes each call as the Kafka requester does (refusing
// one over the record limit) and answers ok.
type encodingCaller struct {
	fakeCaller
	largest int
}

func (e *encodingCaller) Call(ctx context.Context, c topics.Call) (topics.Reply, error) {
	body, err := topics.EncodeRequest(c)
	if err != nil {
		return topics.Reply{}, err
	}
	e.largest = max(e.largest, len(body))
	return e.fakeCaller.Call(ctx, c)
}

// FuzzEdgeRequest: whatever the method, path, headers and body, the edge
// never answers 5xx, and never sends a request over the record limit.
func FuzzEdgeRequest(f *testing.F) {
	f.Add("POST", "/cliente", "application/json", `{"dni":"10117410","nombre":"Ana","email":"a@b.pe"}`, "")
	f.Add("PUT", "/cliente/3", "application/json; charset=utf-8", `{"activo":false}`, `"3"`)
	f.Add("DELETE", "/cliente/-1", "", ``, `W/"1"`)
	f.Add("GET", "/cliente/dni/%7B%22$ne%22:1%7D", "", ``, "")
	f.Add("POST", "/cliente", "text/plain", `[`, "*")
	f.Add("POST", "/cliente", "application/json", `{"direccion":"`+strings.Repeat("<&>", 300)+`"}`, "")
	f.Add("POST", "/cliente", "application/json", "{\"nombre\":\"\xff\xfe\",\"email\":\"\\ud800\"}", "")
	f.Add("GET", "/cliente/email/"+strings.Repeat("%E2%80%A8", 200), "", "", "")
	f.Add("GET", "/cliente?q=mar%C3%ADa+qui&limite=0&cursor=%FF", "", "", "")
	reg := prometheus.NewRegistry()
	caller := &encodingCaller{fakeCaller: fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 1})}}
	opts := testOptions(caller, reg)
	opts.RequestTimeout, opts.MaxBodyBytes = time.Second, 1<<20
	h := withToken(New(opts))
	f.Fuzz(func(t *testing.T, method, path, ctype, body, ifMatch string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		req, err := http.NewRequest(method, "http://edge"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("If-Match", ifMatch)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s -> %d %s", method, path, rec.Code, rec.Body)
		}
		if caller.largest > topics.MaxMessageBytes {
			t.Fatalf("sent a request of %d bytes", caller.largest)
		}
		if rec.Body.Len() > 64<<10 && rec.Code >= 400 {
			t.Fatalf("an error body of %d bytes", rec.Body.Len())
		}
	})
}

func TestPurchaseHistoryRoutes(t *testing.T) {
	page := handlers.HistorialCompras{ClienteID: 7, Compras: []handlers.Compra{}, Siguiente: "eyJ4Ijox"}
	f := &fakeCaller{reply: okReply(topics.TypeCompras, page)}
	h := newTestHandler(f, prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/7/compras?limite=2", nil))
	if rec.Code != 200 || rec.Header().Get("Link") != `</cliente/7/compras?cursor=eyJ4Ijox&limite=2>; rel="next"` ||
		!strings.Contains(rec.Body.String(), `"siguiente":"eyJ4Ijox"`) {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Link"), rec.Body)
	}
	for path, field := range map[string]string{
		"/cliente/7/compras?limite=0":   "limite",
		"/cliente/7/compras?limite=101": "limite",
		"/cliente/7/compras?limite=x":   "limite",
		"/cliente/x/resumen":            "id",
	} {
		f.got = topics.Call{}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var p Problem
		json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != field || f.got.Type != "" {
			t.Errorf("GET %s: %d %s (sent %q); want 400 naming %s, nothing sent", path, rec.Code, rec.Body, f.got.Type, field)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/7/pedidos", nil))
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown sub-resource: %d %s", rec.Code, rec.Body)
	}
}

// The audit trail pages like the purchase history, and each sub-resource
// is counted under its own route.
func TestAuditoriaRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	page := handlers.PaginaAuditoria{ClienteID: 7, Entradas: []handlers.EntradaAuditoria{}, Siguiente: "eyJ2IjozfQ"}
	f := &fakeCaller{reply: okReply(topics.TypeAuditoria, page)}
	h := newTestHandler(f, reg)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/7/auditoria?limite=2", nil))
	if rec.Code != 200 || rec.Header().Get("Link") != `</cliente/7/auditoria?cursor=eyJ2IjozfQ&limite=2>; rel="next"` ||
		!strings.Contains(rec.Body.String(), `"siguiente":"eyJ2IjozfQ"`) {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Link"), rec.Body)
	}
	if n := requestCount(t, reg, "GET /cliente/{id}/auditoria", "200"); n != 1 {
		t.Fatalf("requests counted for the auditoria route = %v, want 1", n)
	}
	f.got = topics.Call{}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/7/auditoria?limite=x", nil))
	if rec.Code != 400 || f.got.Type != "" || !strings.Contains(rec.Body.String(), `"field":"limite"`) {
		t.Fatalf("limite=x: %d %s (sent %q)", rec.Code, rec.Body, f.got.Type)
	}
}

// Anonymisation is a change like PUT and DELETE: If-Match and
// Idempotency-Key travel in meta, the answer carries the ETag.
func TestAnonimizarRoute(t *testing.T) {
	f := &fakeCaller{reply: okReply(topics.TypeAnonimizar, handlers.Cliente{ID: 7, Version: 4, Anonimizado: true})}
	req := httptest.NewRequest("POST", "/cliente/7/anonimizar", nil)
	req.Header.Set("If-Match", `"3"`)
	req.Header.Set("Idempotency-Key", "anon-7")
	rec := httptest.NewRecorder()
	newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, req)
	if m := f.got.Meta; rec.Code != 200 || m.ExpectedVersion == nil || *m.ExpectedVersion != 3 || m.IdempotencyKey != "anon-7" ||
		rec.Header().Get("ETag") != `"4"` || !strings.Contains(rec.Body.String(), `"anonimizado":true`) {
		t.Fatalf("%d %q %s; sent meta %+v", rec.Code, rec.Header().Get("ETag"), rec.Body, f.got.Meta)
	}
}

// Input that would be silently changed or grow is refused with 400 naming
// its field, before anything is sent; error bodies stay small.
func TestBadInputIsNamedNotForwarded(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body, field string
	}{
		{"invalid UTF-8", "POST", "/cliente", "{\"dni\":\"10117410\",\"nombre\":\"Ana\xff\",\"email\":\"a@b.pe\"}", "nombre"},
		{"lone surrogate", "PUT", "/cliente/7", `{"dni":"10117410","nombre":"Ana","email":"a\udc00@b.pe"}`, "email"},
		{"long DNI segment", "GET", "/cliente/dni/" + strings.Repeat("9", 400_000), "", "dni"},
		{"long email segment", "GET", "/cliente/email/" + strings.Repeat("a", 400_000) + "@b.pe", "", "email"},
		{"limite not a number", "GET", "/cliente?limite=mucho", "", "limite"},
		{"activo not a boolean", "GET", "/cliente?activo=si", "", "activo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCaller{reply: okReply(topics.TypeObtener, handlers.Cliente{ID: 7})}
			rec := httptest.NewRecorder()
			opts := testOptions(f, prometheus.NewRegistry())
			opts.RequestTimeout, opts.MaxBodyBytes = time.Second, 1<<20
			h := withToken(New(opts))
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			var p Problem
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field || f.got.Type != "" || rec.Body.Len() > 2048 {
				t.Fatalf("%d (%d bytes) %.300s, sent %q; want 400 naming %s, nothing sent", rec.Code, rec.Body.Len(), rec.Body, f.got.Type, tc.field)
			}
		})
	}
}

// The next page of a listing is linked with the same parameters and the
// reply's cursor; the body stays a bare array.
func TestListingLinksNextPage(t *testing.T) {
	page := handlers.PaginaClientes{Clientes: []handlers.Cliente{{ID: 1}, {ID: 2}}, Siguiente: "eyJkIjoyfQ"}
	f := &fakeCaller{reply: okReply(topics.TypeBuscar, page)}
	rec := httptest.NewRecorder()
	newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/cliente/activos?q=ana&limite=2", nil))
	var list []handlers.Cliente
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 2 ||
		rec.Header().Get("Link") != `</cliente/activos?cursor=eyJkIjoyfQ&limite=2&q=ana>; rel="next"` {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Link"), rec.Body)
	}
	f.reply = okReply(topics.TypeListar, handlers.PaginaClientes{Clientes: []handlers.Cliente{}})
	rec = httptest.NewRecorder()
	newTestHandler(f, prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/cliente", nil))
	if rec.Code != 200 || rec.Body.String() != "[]\n" && rec.Body.String() != "[]" || rec.Header().Get("Link") != "" {
		t.Fatalf("last page: %d %q %q", rec.Code, rec.Header().Get("Link"), rec.Body)
	}
}
