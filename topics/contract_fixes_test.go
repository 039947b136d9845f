package topics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
)

// Where the worker and CONTRACT.md once disagreed (found by a client
// written from the document alone): one test each.

// §5.7c: limite is 1..100; an explicit 0 is invalid, naming limite.
func TestComprasLimiteZeroIsInvalid(t *testing.T) {
	s := startStack(t, newService())
	r := call(t, s, topics.Call{Type: topics.TypeCompras, Data: json.RawMessage(`{"id":1,"limite":0}`)})
	e := handlers.AsError(r.Err())
	if e == nil || e.Code != handlers.CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "limite" {
		t.Fatalf("limite 0: %+v, want invalid naming limite", r)
	}
}

// §3, §5.8: the reply echoes the request's type, also an unknown one.
func TestUnknownTypeReplyEchoesType(t *testing.T) {
	s := startStack(t, newService())
	r := call(t, s, topics.Call{Type: "cliente.borrarTodo", Data: json.RawMessage(`{}`)})
	if r.Type != "cliente.borrarTodo" || handlers.ErrorCode(r.Err()) != handlers.CodeInvalid {
		t.Fatalf("reply %+v, want type cliente.borrarTodo and invalid", r)
	}
}

// §2.3: one limit, 1 MiB of value. A larger request is refused by the Go
// requester before sending; sent anyway (by another client), it is
// answered invalid, not executed, and dead-lettered as oversize.
func TestRequestOverTheLimitIsInvalid(t *testing.T) {
	s := startStack(t, newService())
	padding := strings.Repeat("x", topics.MaxMessageBytes/2*3) // 1.5 MiB
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := s.requester.Call(ctx, topics.Call{Type: topics.TypeListar, Data: map[string]any{"relleno": padding, "q": "x"}})
	if e := handlers.AsError(err); e == nil || e.Code != handlers.CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "relleno" {
		t.Fatalf("requester: %v, want invalid naming the largest field", err)
	}
	body := `{"type":"cliente.listar","data":{"relleno":"` + padding + `"}}`
	w := &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), Topic: strings.TrimSuffix(s.cmdTopic, "cmd") + "qry",
		BatchBytes: 4 << 20, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	h := nextDeadLetter(t, s.brokers, s.dlqTopic)
	if h[topics.HeaderDLQReason] != topics.DeadLetterOversize || !strings.Contains(h[topics.HeaderDLQError], strconv.Itoa(topics.MaxMessageBytes)) {
		t.Fatalf("dead letter headers %v, want reason oversize naming the limit", h)
	}
}

// §6.1: the dead-letter copy of a record too large to copy as it is (here
// one that fitted on the broker only gzip-compressed) is still written:
// truncated, and saying so.
func TestOversizeCompressedRecordIsDeadLettered(t *testing.T) {
	s := startStack(t, newService())
	body := `{"type":"cliente.listar","data":{"relleno":"` + strings.Repeat(" ", 3<<20) + `"}}`
	w := &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), Topic: strings.TrimSuffix(s.cmdTopic, "cmd") + "qry",
		Compression: kafka.Gzip, BatchBytes: 8 << 20, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	h := nextDeadLetter(t, s.brokers, s.dlqTopic)
	if h[topics.HeaderDLQReason] != topics.DeadLetterOversize || h[topics.HeaderDLQTruncated] != strconv.Itoa(len(body)) ||
		len(h["value"]) > 64<<10 || !strings.HasPrefix(body, h["value"]) {
		t.Fatalf("dead letter: reason %q, truncated %q, %d value bytes", h[topics.HeaderDLQReason], h[topics.HeaderDLQTruncated], len(h["value"]))
	}
}

// §6.1: every dead letter carries cliente_dlq_error, sales events
// (which get no reply) included.
func TestSalesDeadLettersCarryTheirError(t *testing.T) {
	bs := brokers(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	prefix := fmt.Sprintf("t%d.", time.Now().UnixNano())
	sales, dlq := prefix+"ventas", prefix+"dlq"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := topics.EnsureTopics(ctx, bs, log, topics.TopicSpec{Name: sales, Partitions: 1, ReplicationFactor: 1},
		topics.TopicSpec{Name: dlq, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	svc := memstore.Service(handlers.Deps{})
	ana, err := svc.Crear(ctx, handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	dl := topics.NewDeadLetters(bs, dlq, log, prometheus.NewRegistry())
	defer dl.Close()
	consumerCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- topics.Consume(consumerCtx, topics.ConsumerConfig{Cluster: bs, GroupID: prefix + "g", Topic: sales, Ordered: true,
			Concurrency: 1, Handler: dl.Middleware()(topics.SalesEvents(svc)), Log: log, DrainTimeout: 5 * time.Second})
	}()
	defer func() { stop(); <-done }()

	fecha, moneda, items := "2026-11-01T10:00:00Z", "PEN", 1
	sale := func(id string, cliente int64, total string) topics.SalesEvent {
		n := json.Number(total)
		return topics.VentaRegistrada(handlers.DatosVenta{VentaID: &id, ClienteID: &cliente, Fecha: &fecha, Total: &n, Moneda: &moneda, Items: &items})
	}
	w := topics.NewSalesEventWriter(bs, sales)
	defer w.Close()
	if err := w.Write(ctx, sale("V1", 999, "10.00"), sale("V2", ana.ID, "10.00"), sale("V2", ana.ID, "99.00")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{topics.DeadLetterUnknownCustomer, topics.DeadLetterConflictingSale} {
		h := nextDeadLetter(t, bs, dlq)
		if h[topics.HeaderDLQReason] != want || h[topics.HeaderDLQError] == "" {
			t.Fatalf("dead letter headers %v, want reason %s and an error", h, want)
		}
	}
}

// nextDeadLetter reads the dead-letter topic from where the last call
// stopped, returning the next record's headers, plus "value".
func nextDeadLetter(t *testing.T, bs topics.Cluster, topic string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := deadLetterReaders[topic]
	if r == nil {
		r = kafka.NewReader(bs.ReaderConfig(kafka.ReaderConfig{Topic: topic, MaxWait: 200 * time.Millisecond, MaxBytes: 4 << 20}))
		deadLetterReaders[topic] = r
		t.Cleanup(func() { r.Close(); delete(deadLetterReaders, topic) })
	}
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no dead letter on %s: %v", topic, err)
	}
	h := map[string]string{"value": string(m.Value)}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

var deadLetterReaders = map[string]*kafka.Reader{}
