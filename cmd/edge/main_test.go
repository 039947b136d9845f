package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/jea/cliente/cmd/internal/devissuer"
	kafkaembedded "github.com/jea/cliente/topics/embedded"
)

func TestRunRejectsBadConfig(t *testing.T) {
	const iss = "AUTH_ISSUER=http://127.0.0.1:1"
	// No issuer, no edge: access control cannot be left out by omission.
	for _, env := range [][]string{{"LOG_LEVEL=loud", iss}, {"REQUEST_TIMEOUT=0s", iss}, {"MAX_BODY_BYTES=-1", iss}, {"METRICS_ADDR=127.0.0.1:0"}} {
		if err := run(context.Background(), env, io.Discard); err == nil {
			t.Errorf("run(%v) = nil, want a config error", env)
		}
	}
}

// /healthz answers while the edge is still starting; /readyz only once the
// request topics exist and the reply reader runs. With no worker having
// created the topics, the edge is alive but not ready.
func TestRunIsAliveButNotReadyWithoutTopics(t *testing.T) {
	broker, err := kafkaembedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	issuer := startIssuer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"KAFKA_BROKERS=" + broker.Addrs()[0], "HTTP_ADDR=" + addr, "LOG_LEVEL=error", "REPLY_TOPIC=edge-test",
			"METRICS_ADDR=127.0.0.1:0", "AUTH_ISSUER=" + issuer.URL()}, io.Discard)
	}()
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for get("/healthz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/healthz never answered 200")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let the requester start
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d without request topics, want 503", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of cancel")
	}
}

// startIssuer serves an OpenID issuer on 127.0.0.1, so the edge gets past
// discovery and only the missing topics keep it from being ready.
func startIssuer(t *testing.T) *devissuer.Issuer {
	t.Helper()
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := devissuer.ServeTest(t, key)
	return iss
}
