package main

// Every request the end-to-end tests send to an edge, and every response
// they get, is validated against the OpenAPI document the edge serves at
// /openapi.json, so the document cannot drift from the behaviour. A
// mismatch fails the request (client.Do returns the error), hence the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

func init() {
	// The token goes on first, so what is validated is what is sent.
	client.Transport = withDevToken{next: &validatingTransport{next: http.DefaultTransport}}
}

type validatingTransport struct {
	next   http.RoundTripper
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// load fetches the document from the first edge asked, unvalidated.
func (v *validatingTransport) load(base string) error {
	v.once.Do(func() {
		req, err := http.NewRequest(http.MethodGet, base+"/openapi.json", nil)
		if err != nil {
			v.err = err
			return
		}
		req.Header.Set("Authorization", "Bearer "+devToken)
		resp, err := v.next.RoundTrip(req)
		if err != nil {
			v.err = err
			return
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			v.err = fmt.Errorf("GET /openapi.json: %d %v", resp.StatusCode, err)
			return
		}
		loader := openapi3.NewLoader()
		if v.doc, v.err = loader.LoadFromData(raw); v.err != nil {
			return
		}
		v.router, v.err = legacyrouter.NewRouter(v.doc)
	})
	return v.err
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The worker's probes and metrics, and the edge's internal metrics
	// listener, are not part of the edge's API.
	for _, internal := range []string{workerURL, edgeMetricsURL} {
		if internal != "" && req.URL.Host == strings.TrimPrefix(internal, "http://") {
			return v.next.RoundTrip(req)
		}
	}
	if err := v.load(req.URL.Scheme + "://" + req.URL.Host); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := v.check(req, reqBody, resp, body); err != nil {
		return nil, fmt.Errorf("openapi: %s %s -> %d: %w\nresponse body: %.300s", req.Method, req.URL.RequestURI(), resp.StatusCode, err, body)
	}
	return resp, nil
}

// check validates one exchange:
//   - a request the document does not route (unknown path or method) must
//     get the 404 or 405 problem: anything else is a route it lacks;
//   - a request the document rejects must be rejected with a 4xx;
//   - every response must be one the operation documents: status,
//     headers, media type and body.
func (v *validatingTransport) check(req *http.Request, reqBody []byte, resp *http.Response, body []byte) error {
	ctx := context.Background()
	clone := req.Clone(ctx)
	clone.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(clone)
	if err != nil {
		// The router reports an unknown method of a templated path as an
		// unknown path: either status will do.
		var re *routers.RouteError
		if !errors.As(err, &re) || (re.Error() != routers.ErrPathNotFound.Error() && re.Error() != routers.ErrMethodNotAllowed.Error()) {
			return err
		}
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("the document has no such route (%v), but the edge answered %d, not 404 or 405", err, resp.StatusCode)
		}
		return v.checkProblem(resp, body)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: clone, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, IncludeResponseStatus: true,
			AuthenticationFunc: bearerPresent},
	}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		return fmt.Errorf("the document rejects this request (%v), but the edge answered %d", reqErr, resp.StatusCode)
	}
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                in.Options,
	})
}

// bearerPresent is the document's security requirement as a client can
// check it: a bearer token is sent (the edge checks the rest).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}

// checkProblem validates a problem body against the document's Problem.
func (v *validatingTransport) checkProblem(resp *http.Response, body []byte) error {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return err
	}
	return v.doc.Components.Schemas["Problem"].Value.VisitJSON(data, openapi3.EnableJSONSchema2020())
}

// The validation is on: a response shape the document does not allow
// fails the request.
func TestOpenAPIValidationRejectsDrift(t *testing.T) {
	r := do(t, "GET", "/healthz", nil)
	if r.status != 200 {
		t.Fatalf("GET /healthz: %d", r.status)
	}
	vt := client.Transport.(withDevToken).next.(*validatingTransport)
	if vt.doc == nil || vt.doc.Paths.Find("/cliente/{id}") == nil {
		t.Fatal("the document was not loaded from the edge")
	}
	req, _ := http.NewRequest(http.MethodGet, apiBase+"/cliente/1", nil)
	req.Header.Set("Authorization", "Bearer "+devToken)
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"1"`}}}
	for _, body := range []string{
		`{"id":1}`, // members missing
		`{"id":1,"dni":"10117410","nombre":"Ana","apellido":"","email":"a@b.pe","telefono":"","direccion":"","fechaRegistro":"2026-01-01T00:00:00.000Z","activo":true,"version":"1"}`, // version a string
	} {
		if err := vt.check(req, nil, resp, []byte(body)); err == nil {
			t.Errorf("a response %s passed validation", body)
		}
	}
	ok := `{"id":1,"dni":"10117410","nombre":"Ana","apellido":"","email":"a@b.pe","telefono":"","direccion":"","fechaRegistro":"2026-01-01T00:00:00.000Z","activo":true,"version":1}`
	if err := vt.check(req, nil, resp, []byte(ok)); err != nil {
		t.Errorf("a valid response failed validation: %v", err)
	}
	if !slices.Contains(strings.Split(vt.doc.OpenAPI, "."), "1") {
		t.Errorf("openapi %s, want 3.1", vt.doc.OpenAPI)
	}
}
