package infratest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/infratest"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

// The ACLs are enough for the real thing: the worker and the edge, each as
// its own user on the default topic names, serve a create and a read to
// callers holding Hydra's access tokens (the edge trusts Hydra as its
// issuer), and the audit trail to the admin client only, naming the
// writer's client as the author; the sales service, as its user,
// validates that customer over its own reply topic and follows the
// customer's event with a group of its own.
func TestServicesRunAsTheirOwnUsers(t *testing.T) {
	dir := infratest.Dir(t)
	mongoURI := os.Getenv("MONGODB_URI")
	if mongoURI == "" {
		t.Fatal("needs MONGODB_URI (make test-infra)")
	}
	run := time.Now().UnixNano()
	saslEnv := func(user string) []string {
		s, err := infratest.KafkaUser(dir, user)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"KAFKA_BROKERS=" + os.Getenv("KAFKA_BROKERS"),
			"KAFKA_SASL_MECHANISM=" + s.Mechanism, "KAFKA_SASL_USERNAME=" + s.Username, "KAFKA_SASL_PASSWORD=" + s.Password,
			"HTTP_ADDR=127.0.0.1:0", "SHUTDOWN_TIMEOUT=5s"}
	}
	workerCfg, err := config.Load[config.Worker](append(saslEnv("cliente-worker"),
		"MONGODB_URI="+mongoURI, fmt.Sprintf("MONGODB_DATABASE=acl_%d", run), "EVENTS_RELAY_INTERVAL=200ms"))
	if err != nil {
		t.Fatal(err)
	}
	hydra, err := infratest.LoadHydra(dir)
	if err != nil {
		t.Fatal(err)
	}
	edgeCfg, err := config.Load[config.Edge](append(saslEnv("cliente-edge"),
		fmt.Sprintf("REPLY_TOPIC=%sacl-%d", topics.EdgeReplyPrefix, run), "REQUEST_TIMEOUT=10s",
		"AUTH_ISSUER="+hydra.Issuer, "AUTH_AUDIENCE="+hydra.Audience, "METRICS_ADDR=127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	edgeAddr := make(chan string, 1)
	ready := make(chan struct{}, 2)
	start := func(run func() error) { go func() { done <- run() }() }
	reg := app.NewRegistry()
	start(func() error {
		return app.RunWorker(ctx, workerCfg, zerolog.Nop(), app.Metrics{Registerer: reg, Gatherer: reg},
			app.Hooks{Ready: func() { ready <- struct{}{} }})
	})
	reg2 := app.NewRegistry()
	start(func() error {
		return app.RunEdge(ctx, edgeCfg, zerolog.Nop(), app.Metrics{Registerer: reg2, Gatherer: reg2},
			app.Hooks{Listening: func(a string) { edgeAddr <- a }, Ready: func() { ready <- struct{}{} }})
	})
	base := "http://" + <-edgeAddr
	for range 2 {
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("a service stopped while starting: %v", err)
		case <-time.After(2 * time.Minute):
			t.Fatal("worker and edge not ready within 2 minutes")
		}
	}

	// Create and read through the edge with Hydra's tokens (the worker's
	// group may still be joining: the first request waits for it within
	// REQUEST_TIMEOUT); a reader's token may not write.
	tokenCtx, tokenCancel := context.WithTimeout(ctx, 30*time.Second)
	defer tokenCancel()
	escritor, err := hydra.Token(tokenCtx, "escritor")
	if err != nil {
		t.Fatal(err)
	}
	lector, err := hydra.Token(tokenCtx, "lector")
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string, tok infratest.Token, body []byte) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok.AccessToken != "" {
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	dni := fmt.Sprintf("%08d", run%100_000_000)
	body, _ := json.Marshal(map[string]string{"dni": dni, "nombre": "Acl", "apellido": "Prueba", "email": fmt.Sprintf("acl%d@example.pe", run)})
	for _, refused := range []struct {
		tok  infratest.Token
		want int
	}{{infratest.Token{}, http.StatusUnauthorized}, {lector, http.StatusForbidden}} {
		resp := send("POST", "/cliente", refused.tok, body)
		resp.Body.Close()
		if resp.StatusCode != refused.want {
			t.Fatalf("POST /cliente with token %.10q: %d, want %d", refused.tok.AccessToken, resp.StatusCode, refused.want)
		}
	}
	var created struct {
		ID int64 `json:"id"`
	}
	for attempt := 1; ; attempt++ {
		resp := send("POST", "/cliente", escritor, body)
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated && err == nil && created.ID > 0 {
			break
		}
		if resp.StatusCode != http.StatusGatewayTimeout || attempt == 6 {
			t.Fatalf("POST /cliente as cliente-edge: %d (%v)", resp.StatusCode, err)
		}
	}
	resp := send("GET", fmt.Sprintf("/cliente/%d", created.ID), lector, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /cliente/%d: %d", created.ID, resp.StatusCode)
	}

	// The audit trail is the admin scope's: a writer's token is refused;
	// the admin's reads that the worker recorded the writer's client as
	// the author of the registration.
	trail := fmt.Sprintf("/cliente/%d/auditoria", created.ID)
	resp = send("GET", trail, escritor, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Fatalf("GET %s with the writer's token: %d %q, want 403 naming admin", trail, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	admin, err := hydra.Token(tokenCtx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	resp = send("GET", trail, admin, nil)
	var page struct {
		Entradas []struct {
			Version int64  `json:"version"`
			Tipo    string `json:"tipo"`
			Autor   struct {
				Principal string `json:"principal"`
				ClientID  string `json:"clientId"`
			} `json:"autor"`
		} `json:"entradas"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	writerID := hydra.Clients["escritor"].ClientID
	if resp.StatusCode != http.StatusOK || err != nil || len(page.Entradas) != 1 || page.Entradas[0].Tipo != "registrado" ||
		page.Entradas[0].Autor.Principal != writerID || page.Entradas[0].Autor.ClientID != writerID {
		t.Fatalf("GET %s as admin: %d %v %+v, want the registration by %s", trail, resp.StatusCode, err, page, writerID)
	}

	// The sales service's calls and event following.
	s, err := infratest.KafkaUser(dir, "ventas")
	if err != nil {
		t.Fatal(err)
	}
	ventas, err := topics.NewCluster(workerCfg.Brokers, s)
	if err != nil {
		t.Fatal(err)
	}
	callCtx, callCancel := context.WithTimeout(ctx, time.Minute)
	defer callCancel()
	cl, err := client.New(callCtx, client.Config{Cluster: ventas, ReplyTopic: fmt.Sprintf("%sacl-%d", topics.VentasReplyPrefix, run), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if c, err := cl.ValidarParaVenta(callCtx, created.ID); err != nil || c.ID != created.ID {
		t.Fatalf("ValidarParaVenta(%d) as ventas: %+v, %v", created.ID, c, err)
	}
	events := topics.NewCustomerEventReader(ventas, topics.DefaultCustomerEventsTopic, fmt.Sprintf("%sacl-%d", topics.VentasGroupPrefix, run))
	defer events.Close()
	for {
		ev, err := events.Next(callCtx)
		if err != nil {
			t.Fatalf("following %s as ventas: %v", topics.DefaultCustomerEventsTopic, err)
		}
		if ev.ClienteID == created.ID && ev.Type == "cliente.registrado" {
			break
		}
	}

	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("service stopped with %v", err)
		}
	}
}
