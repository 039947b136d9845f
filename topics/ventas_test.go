package topics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
)

// fakeSales answers with a fixed result or error, counting calls.
type fakeSales struct {
	res   handlers.ResultadoVenta
	err   error
	calls atomic.Int32
}

func (f *fakeSales) RegistrarVenta(context.Context, handlers.DatosVenta) (handlers.ResultadoVenta, error) {
	f.calls.Add(1)
	return f.res, f.err
}

func (f *fakeSales) AnularVenta(context.Context, handlers.DatosAnulacion) (handlers.ResultadoVenta, error) {
	f.calls.Add(1)
	return f.res, f.err
}

func TestSalesEventOutcomes(t *testing.T) {
	registrada := `{"type":"venta.registrada","data":{"ventaId":"V1","clienteId":7}}`
	tests := []struct {
		name    string
		body    string
		res     handlers.ResultadoVenta
		err     error
		outcome string
		poison  string // dead-letter reason, "" for none
		calls   int32
	}{
		{"applied", registrada, handlers.ResultadoVenta{Resultado: handlers.VentaAplicada}, nil, topics.OutcomeApplied, "", 1},
		{"duplicate", registrada, handlers.ResultadoVenta{Resultado: handlers.VentaDuplicada}, nil, topics.OutcomeDuplicate, "", 1},
		{"cancelled", `{"type":"venta.anulada","data":{"ventaId":"V1"}}`, handlers.ResultadoVenta{Resultado: handlers.VentaAplicada}, nil, topics.OutcomeApplied, "", 1},
		{"inactive customer", registrada, handlers.ResultadoVenta{Resultado: handlers.VentaAplicada, Motivo: handlers.MotivoInactivo}, nil, topics.OutcomeInactiveCustomer, "", 1},
		{"unknown customer", registrada, handlers.ResultadoVenta{Resultado: handlers.VentaRechazada, Motivo: handlers.MotivoNoEncontrado}, nil, topics.OutcomeUnknownCustomer, topics.DeadLetterUnknownCustomer, 1},
		{"reused sale id", registrada, handlers.ResultadoVenta{Resultado: handlers.VentaRechazada, Motivo: handlers.MotivoConflicto}, nil, topics.OutcomeConflictingSale, topics.DeadLetterConflictingSale, 1},
		{"invalid data", registrada, handlers.ResultadoVenta{}, handlers.Errorf(handlers.CodeInvalid, "bad"), topics.OutcomeInvalid, topics.DeadLetterInvalid, 1},
		{"internal failure", registrada, handlers.ResultadoVenta{}, handlers.Errorf(handlers.CodeInternal, "bug"), "internal", topics.DeadLetterFailed, 1},
		{"database down", registrada, handlers.ResultadoVenta{}, handlers.Errorf(handlers.CodeUnavailable, "down"), "unavailable", "", 1},
		{"not JSON", `venta`, handlers.ResultadoVenta{}, nil, topics.OutcomeInvalid, topics.DeadLetterUndecodable, 0},
		{"a request on the sales topic", `{"type":"cliente.crear","data":{}}`, handlers.ResultadoVenta{}, nil, topics.OutcomeInvalid, topics.DeadLetterUnknownType, 0},
		{"wrong payload shape", `{"type":"venta.registrada","data":{"clienteId":"7"}}`, handlers.ResultadoVenta{}, nil, topics.OutcomeInvalid, topics.DeadLetterInvalid, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &fakeSales{res: tc.res, err: tc.err}
			res, err := topics.SalesEvents(svc)(context.Background(), topics.Message{Body: []byte(tc.body)})
			if got := topics.OutcomeOf(res, err); got != tc.outcome {
				t.Errorf("outcome %q, want %q", got, tc.outcome)
			}
			if got := topics.DeadLetterReasonOf(err); got != tc.poison {
				t.Errorf("dead-letter reason %q, want %q", got, tc.poison)
			}
			if svc.calls.Load() != tc.calls {
				t.Errorf("%d calls to the service, want %d", svc.calls.Load(), tc.calls)
			}
		})
	}
}

func TestSalesEventLane(t *testing.T) {
	for _, tc := range []struct{ key, body, want string }{
		{"k", `{"type":"venta.registrada","data":{"clienteId":42,"ventaId":"V"}}`, "42"},
		{"k", `{"type":"venta.anulada","data":{"clienteId":"x"}}`, "k"}, // not a number
		{"k", `not json`, "k"},
		{"", `{"data":{}}`, ""},
	} {
		if got := string(topics.SalesEventLane([]byte(tc.key), []byte(tc.body))); got != tc.want {
			t.Errorf("SalesEventLane(%q, %s) = %q, want %q", tc.key, tc.body, got, tc.want)
		}
	}
}

func TestRetryUntilDoneOrShutdown(t *testing.T) {
	// Retried while unavailable, however long; final once it answers.
	svc := &fakeSales{err: handlers.Errorf(handlers.CodeUnavailable, "down")}
	untilDone := topics.RetryPolicy{Backoff: time.Millisecond, Max: 2 * time.Millisecond}
	h := topics.Retry(untilDone)(func(ctx context.Context, m topics.Message) (any, error) {
		if svc.calls.Load() == 20 {
			svc.err = nil
		}
		return topics.SalesEvents(svc)(ctx, m)
	})
	_, err := h(context.Background(), topics.Message{Body: []byte(`{"type":"venta.anulada","data":{}}`)})
	if err != nil || svc.calls.Load() != 21 {
		t.Fatalf("after %d calls: %v", svc.calls.Load(), err)
	}
	// Shutdown while the database is down: the event is abandoned, so it
	// is not committed and comes again.
	svc = &fakeSales{err: handlers.Errorf(handlers.CodeUnavailable, "down")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	untilDone.Max = 5 * time.Millisecond
	_, err = topics.Retry(untilDone)(topics.SalesEvents(svc))(ctx, topics.Message{Body: []byte(`{"type":"venta.anulada","data":{}}`)})
	if !topics.Abandoned(err) || svc.calls.Load() < 2 {
		t.Fatalf("on shutdown: %v after %d calls; want abandoned", err, svc.calls.Load())
	}
}

func TestObserveSalesCountsOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := topics.NewSalesMetrics(reg)
	var logs strings.Builder
	svc := &fakeSales{res: handlers.ResultadoVenta{Resultado: handlers.VentaRechazada, Motivo: handlers.MotivoNoEncontrado, VentaID: "V9", ClienteID: 77}}
	h := topics.Observe(zerolog.New(&logs), m)(topics.SalesEvents(svc))
	h(context.Background(), topics.Message{Body: []byte(`{"type":"venta.registrada","data":{}}`), Type: topics.TypeVentaRegistrada})
	want := `
# HELP cliente_worker_sales_events_total Sales events handled, by event type and outcome (applied, duplicate, inactive_customer, unknown_customer, conflicting_sale, invalid, unavailable, internal).
# TYPE cliente_worker_sales_events_total counter
cliente_worker_sales_events_total{outcome="unknown_customer",type="venta.registrada"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cliente_worker_sales_events_total"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), `"venta_id":"V9","cliente_id":"77"`) {
		t.Fatalf("an unknown customer's sale must be logged at warn with its ids: %s", logs.String())
	}
}

func FuzzSalesEvent(f *testing.F) {
	f.Add([]byte(`{"type":"venta.registrada","data":{"ventaId":"V1","clienteId":1,"fecha":"2026-11-01T10:00:00Z","total":"149.90","moneda":"PEN","items":2}}`))
	f.Add([]byte(`{"type":"venta.registrada","data":{"ventaId":"V1","clienteId":1,"fecha":"2026-11-01T10:00:00Z","total":149.9,"moneda":"pen","items":2}}`))
	f.Add([]byte(`{"type":"venta.anulada","data":{"ventaId":"V1","clienteId":1,"fecha":"2026-11-02T10:00:00-05:00"}}`))
	f.Add([]byte(`{"type":"venta.registrada","data":{"total":"1e400"}}`))
	f.Add([]byte(`{"type":"venta.anulada","data":null}`))
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		st := memstore.New()
		svc := memstore.Service(handlers.Deps{Store: st, Now: func() time.Time { return now }, Historial: memstore.NewHistorial()})
		if _, err := svc.Crear(context.Background(), handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}, handlers.Cambio{}); err != nil {
			t.Fatal(err)
		}
		out, err := topics.SalesEvents(svc)(context.Background(), topics.Message{Body: body})
		outcome := topics.OutcomeOf(out, err)
		switch {
		case err != nil && handlers.ErrorCode(err) != handlers.CodeInvalid:
			t.Fatalf("error %v from an in-memory store", err)
		case err != nil && topics.DeadLetterReasonOf(err) == "":
			t.Fatalf("invalid event not dead-lettered: %v", err)
		case outcome == "":
			t.Fatalf("no outcome: %v, %v", out, err)
		}
		// Whatever was accepted left consistent totals behind.
		var res handlers.ResultadoVenta
		if err == nil {
			raw, _ := json.Marshal(out)
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatal(err)
			}
			if res.ClienteID == 1 {
				r, err := svc.Resumen(context.Background(), 1)
				if err != nil || r.Compras > 1 {
					t.Fatalf("resumen %+v, %v", r, err)
				}
			}
		}
	})
}

// TestSalesEventsOverKafka publishes sales events with SalesEventWriter,
// consumes them with the worker's consumer, and reads the customer events
// that the changes produced, all over the Kafka protocol.
func TestSalesAndCustomerEventsOverKafka(t *testing.T) {
	bs := brokers(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	prefix := fmt.Sprintf("t%d.", time.Now().UnixNano())
	sales, events, dlq := prefix+"ventas", prefix+"eventos", prefix+"dlq"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := topics.EnsureTopics(ctx, bs, log,
		topics.TopicSpec{Name: sales, Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: events, Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: dlq, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	outbox := memstore.NewOutbox()
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now, Historial: memstore.NewHistorial(), Outbox: outbox})
	ana, err := svc.Crear(ctx, handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Eliminar(ctx, ana.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}

	// The relay publishes the two customer events.
	pub := topics.NewEventPublisher(bs, events)
	defer pub.Close()
	relay := handlers.Relay{Outbox: outbox, Publisher: pub, Now: time.Now, Lease: time.Minute, Batch: 10}
	if n, err := relay.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("relay: %d, %v", n, err)
	}
	reader := topics.NewCustomerEventReader(bs, events, prefix+"follower")
	defer reader.Close()
	for _, want := range []string{"cliente.registrado 1", "cliente.desactivado 2"} {
		ev, err := reader.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s %d", ev.Type, ev.Version); got != want || ev.ClienteID != ana.ID || ev.Data.Activo != (ev.Version == 1) {
			t.Fatalf("event %+v, want %s", ev, want)
		}
	}

	consumerCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	dl := topics.NewDeadLetters(bs, dlq, log, prometheus.NewRegistry())
	defer dl.Close()
	go func() {
		done <- topics.Consume(consumerCtx, topics.ConsumerConfig{
			Cluster: bs, GroupID: prefix + "worker", Topic: sales, Ordered: true, LaneKey: topics.SalesEventLane,
			Concurrency: 4, Handler: dl.Middleware()(topics.SalesEvents(svc)), Log: log, DrainTimeout: 5 * time.Second,
		})
	}()
	w := topics.NewSalesEventWriter(bs, sales)
	defer w.Close()
	fecha, total, moneda, items := "2026-11-01T10:00:00Z", json.Number("12.50"), "PEN", 1
	var evs []topics.SalesEvent
	for i := range 20 {
		id := fmt.Sprintf("V%02d", i)
		evs = append(evs, topics.VentaRegistrada(handlers.DatosVenta{VentaID: &id, ClienteID: &ana.ID, Fecha: &fecha, Total: &total, Moneda: &moneda, Items: &items}))
		if i%5 == 0 {
			evs = append(evs, topics.VentaAnulada(handlers.DatosAnulacion{VentaID: &id, ClienteID: &ana.ID, Fecha: &fecha}))
		}
	}
	if err := w.Write(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := svc.Resumen(ctx, ana.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Compras == 16 && r.Anuladas == 4 && r.PorMoneda[0].TotalGastado == "200.00" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("resumen %+v", r)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
