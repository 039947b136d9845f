package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// gateCaller holds every call until the gate opens, and says when a call
// has arrived.
type gateCaller struct {
	gate    chan struct{}
	arrived chan struct{}
}

func (g *gateCaller) Call(ctx context.Context, c topics.Call) (topics.Reply, error) {
	g.arrived <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	return okReply(c.Type, handlers.Cliente{ID: 1}), nil
}

func TestInFlightBeyondTheBoundIs503WithRetryAfter(t *testing.T) {
	g := &gateCaller{gate: make(chan struct{}), arrived: make(chan struct{}, 10)}
	opts := testOptions(g, prometheus.NewRegistry())
	opts.RequestTimeout, opts.MaxInFlight = 10*time.Second, 2
	h := withToken(New(opts))
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}

	var wg sync.WaitGroup
	held := make([]*httptest.ResponseRecorder, 2)
	for i := range held {
		wg.Add(1)
		go func() { defer wg.Done(); held[i] = get("/cliente/1") }()
		<-g.arrived
	}
	over := get("/cliente/1")
	if over.Code != http.StatusServiceUnavailable || over.Header().Get("Retry-After") != "1" ||
		over.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over the bound: %d, Retry-After %q, %s", over.Code, over.Header().Get("Retry-After"), over.Header().Get("Content-Type"))
	}
	var p Problem
	if err := json.NewDecoder(over.Body).Decode(&p); err != nil || p.Code != string(handlers.CodeUnavailable) {
		t.Fatalf("problem %+v, %v", p, err)
	}
	if rec := get("/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("a probe at the bound: %d, want 200", rec.Code)
	}
	close(g.gate)
	wg.Wait()
	for _, rec := range held {
		if rec.Code != http.StatusOK {
			t.Fatalf("held request: %d", rec.Code)
		}
	}
	if rec := get("/cliente/1"); rec.Code != http.StatusOK {
		t.Fatalf("after the others finished: %d, want 200", rec.Code)
	}
}

func TestWritesHaveABoundOfTheirOwn(t *testing.T) {
	g := &gateCaller{gate: make(chan struct{}), arrived: make(chan struct{}, 10)}
	opts := testOptions(g, prometheus.NewRegistry())
	opts.RequestTimeout, opts.MaxInFlight, opts.MaxWritesInFlight = 10*time.Second, 10, 1
	h := withToken(New(opts))
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	var wg sync.WaitGroup
	var held, read *httptest.ResponseRecorder
	wg.Add(2)
	go func() { defer wg.Done(); held = do(http.MethodDelete, "/cliente/1") }()
	<-g.arrived
	if over := do(http.MethodDelete, "/cliente/2"); over.Code != http.StatusServiceUnavailable || over.Header().Get("Retry-After") != "1" {
		t.Fatalf("a second write at the writes' bound: %d, Retry-After %q; want 503", over.Code, over.Header().Get("Retry-After"))
	}
	go func() { defer wg.Done(); read = do(http.MethodGet, "/cliente/1") }()
	<-g.arrived // a read is still admitted
	close(g.gate)
	wg.Wait()
	if held.Code >= 300 || read.Code != http.StatusOK {
		t.Fatalf("held write %d, read %d", held.Code, read.Code)
	}
	if rec := do(http.MethodDelete, "/cliente/2"); rec.Code >= 300 {
		t.Fatalf("a write after the first finished: %d", rec.Code)
	}
}
