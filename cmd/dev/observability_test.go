package main

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// The worker of the running stack exports the group's lag on each of its
// topics and the outbox gauges, and the edge serves its OpenAPI document.
func TestLagOutboxAndOpenAPIServed(t *testing.T) {
	r := do(t, "GET", "/openapi.json", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"openapi": "3.1.0"`)) {
		t.Fatalf("GET /openapi.json: %d %.100s", r.status, r.body)
	}
	want := [][]byte{[]byte("cliente_worker_outbox_events "), []byte("cliente_worker_outbox_oldest_event_age_seconds ")}
	for _, topic := range []string{"comandos", "consultas", "ventas"} {
		want = append(want, []byte(fmt.Sprintf(`cliente_worker_consumer_lag_messages{group="e2e-%d",partition="0",topic="e2e.%d.%s"}`, runID, runID, topic)))
	}
	eventually(t, 20*time.Second, func() error {
		resp, err := client.Get(workerURL + "/metrics")
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !bytes.Contains(raw, w) {
				return fmt.Errorf("worker /metrics lacks %s", w)
			}
		}
		return nil
	})
}
