package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

// recordingCaller keeps the calls it gets and answers each with data.
type recordingCaller struct {
	calls []topics.Call
	data  any
}

func (r *recordingCaller) Call(_ context.Context, c topics.Call) (topics.Reply, error) {
	r.calls = append(r.calls, c)
	return topics.NewReply(c.Type, r.data, nil), nil
}

// The principal in the context reaches every request's meta, for commands
// and queries alike, and goes on the wire as meta.principal and
// meta.clientId; without one, meta has neither.
func TestPrincipalTravelsInMeta(t *testing.T) {
	rc := &recordingCaller{data: handlers.Cliente{ID: 1}}
	cl := client.Over(rc, time.Second)
	ctx := handlers.WithPrincipal(context.Background(), handlers.Principal{Subject: "user-7", ClientID: "ventas-web"})
	cl.Obtener(ctx, 1)
	cl.Crear(ctx, handlers.Datos{}, handlers.Cambio{IdempotencyKey: "k1"})
	cl.Eliminar(ctx, 1, handlers.Cambio{})
	cl.Obtener(context.Background(), 1)
	if len(rc.calls) != 4 {
		t.Fatalf("%d calls, want 4", len(rc.calls))
	}
	for _, c := range rc.calls[:3] {
		if c.Meta.Principal != "user-7" || c.Meta.ClientID != "ventas-web" {
			t.Errorf("%s: meta %+v, want principal user-7, clientId ventas-web", c.Type, c.Meta)
		}
	}
	if rc.calls[1].Meta.IdempotencyKey != "k1" {
		t.Errorf("the principal replaced the idempotency key: %+v", rc.calls[1].Meta)
	}
	raw, err := topics.EncodeRequest(rc.calls[0])
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	if wire.Meta["principal"] != "user-7" || wire.Meta["clientId"] != "ventas-web" {
		t.Errorf("wire meta %v, want principal and clientId", wire.Meta)
	}
	if m := rc.calls[3].Meta; m.Principal != "" || m.ClientID != "" {
		t.Errorf("no principal in ctx, meta %+v", m)
	}
}
