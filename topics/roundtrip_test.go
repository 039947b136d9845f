package topics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/embedded"
)

// brokers returns KAFKA_BROKERS with the KAFKA_SASL_* credentials when set
// (a real broker), else starts kfake.
func brokers(t *testing.T) topics.Cluster {
	t.Helper()
	if os.Getenv("KAFKA_BROKERS") != "" {
		c, err := topics.ClusterFromEnv(os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b, err := embedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return topics.Cluster{Brokers: b.Addrs()}
}

// provision creates uniquely named topics <prefix>cmd and <prefix>qry (3
// partitions), <prefix>adm and <prefix>dlq on the test's broker.
func provision(t *testing.T, ctx context.Context) (zerolog.Logger, topics.Cluster, string) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	bs := brokers(t)
	prefix := fmt.Sprintf("t%d.", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, bs, log,
		topics.TopicSpec{Name: prefix + "cmd", Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: prefix + "qry", Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: prefix + "adm", Partitions: 1, ReplicationFactor: 1},
		topics.TopicSpec{Name: prefix + "dlq", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	return log, bs, prefix
}

type stack struct {
	brokers   topics.Cluster
	requester *topics.Requester
	cmdTopic  string
	dlqTopic  string
}

// startStack provisions uniquely named topics, runs command, query and
// admin consumers over a memstore-backed service, and returns a requester.
func startStack(t *testing.T, svc *handlers.Service) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log, bs, prefix := provision(t, ctx)
	cmd, qry, adm := prefix+"cmd", prefix+"qry", prefix+"adm"
	startCtx, startCancel := context.WithTimeout(ctx, 30*time.Second)
	defer startCancel()
	reg := prometheus.NewRegistry()
	dl := topics.NewDeadLetters(bs, prefix+"dlq", log, reg)
	metrics := topics.NewWorkerMetrics(reg)
	h := func(served topics.Requests) topics.Handler {
		return topics.Chain(topics.Dispatcher(svc, served), topics.Observe(log, metrics), dl.Middleware(), topics.Recover(log))
	}
	consumers := []topics.ConsumerConfig{
		{Topic: cmd, Ordered: true, Handler: h(topics.ServiceRequests)},
		{Topic: qry, Handler: h(topics.ServiceRequests)},
		{Topic: adm, Ordered: true, Handler: h(topics.AdminRequests)},
	}
	done := make(chan struct{}, len(consumers))
	for _, c := range consumers {
		c.Cluster, c.GroupID, c.Concurrency, c.Log, c.DrainTimeout = bs, prefix+"g", 4, log, 5*time.Second
		go func() { topics.Consume(ctx, c); done <- struct{}{} }()
	}
	req, err := topics.NewRequester(startCtx, topics.RequesterConfig{
		Cluster: bs, CommandTopic: cmd, QueryTopic: qry, AdminTopic: adm, ReplyTopic: prefix + "replies", Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		req.Close()
		cancel()
		defer dl.Close()
		for range consumers {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("consumer did not stop within 20s of cancel")
			}
		}
	})
	return &stack{brokers: bs, requester: req, cmdTopic: cmd, dlqTopic: prefix + "dlq"}
}

func call(t *testing.T, s *stack, c topics.Call) topics.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := s.requester.Call(ctx, c)
	if err != nil {
		t.Fatalf("Call(%s): %v", c.Type, err)
	}
	if r.Type != c.Type {
		t.Fatalf("reply type %q, want %q", r.Type, c.Type)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func TestRoundTrip(t *testing.T) {
	s := startStack(t, newService())

	var created handlers.Cliente
	r := call(t, s, topics.Crear(handlers.Datos{DNI: ptr("10117410-2"), Nombre: ptr("Ana"), Email: ptr("Ana@Example.PE")}))
	if err := r.Decode(&created); err != nil {
		t.Fatal(err)
	}
	if created.ID <= 0 || created.DNI != "10117410" || created.Email != "ana@example.pe" || !created.Activo {
		t.Fatalf("created %+v", created)
	}

	var got handlers.Cliente
	if err := call(t, s, topics.Obtener(created.ID)).Decode(&got); err != nil || got.ID != created.ID {
		t.Fatalf("Obtener = %+v, %v", got, err)
	}

	r = call(t, s, topics.Crear(handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Otra"), Email: ptr("otra@example.pe")}))
	e := handlers.AsError(r.Err())
	if e == nil || e.Code != handlers.CodeConflict || len(e.Fields) != 1 || e.Fields[0].Field != "dni" {
		t.Fatalf("duplicate dni reply: %+v", r)
	}

	r = call(t, s, topics.Obtener(987654))
	if handlers.ErrorCode(r.Err()) != handlers.CodeNotFound {
		t.Fatalf("missing customer reply: %+v", r)
	}

	var list handlers.PaginaClientes
	if err := call(t, s, topics.ListarClientes(handlers.ConsultaClientes{Activo: ptr(true)})).Decode(&list); err != nil || len(list.Clientes) != 1 {
		t.Fatalf("Listar = %v, %v", list, err)
	}
}

// A raw message (as a Spring or hand-written client would send) that is not
// a valid request gets an error reply with the error headers, and the worker
// keeps serving afterwards.
func TestPoisonMessagesGetErrorReplies(t *testing.T) {
	s := startStack(t, newService())
	replyTopic := s.cmdTopic + ".raw-replies"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, s.brokers, zerolog.Nop(), topics.TopicSpec{Name: replyTopic, Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	bodies := []string{`{not json`, `{"type":"cliente.borrarTodo","data":{}}`, `{"type":"cliente.eliminar","data":{"id":"x"}}`, `{"type":"cliente.crear"}`}
	for i, body := range bodies {
		err := w.WriteMessages(ctx, kafka.Message{Topic: s.cmdTopic, Value: []byte(body), Headers: []kafka.Header{
			{Key: topics.HeaderCorrelationID, Value: []byte(fmt.Sprintf("corr-%d", i))},
			{Key: topics.HeaderReplyTopic, Value: []byte(replyTopic)},
			{Key: topics.HeaderReplyPartition, Value: topics.EncodePartition(1)},
			{Key: "__TypeId__", Value: []byte("com.example.Ignored")},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	rd := kafka.NewReader(s.brokers.ReaderConfig(kafka.ReaderConfig{Topic: replyTopic, Partition: 1, MaxWait: 200 * time.Millisecond}))
	defer rd.Close()
	seen := map[string]bool{}
	for len(seen) < len(bodies) {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(seen), err)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		corr := headers[topics.HeaderCorrelationID]
		if string(m.Key) != corr || headers[topics.HeaderErrorCode] != "invalid" || headers[topics.HeaderErrorMessage] == "" {
			t.Fatalf("reply %q: key %q headers %v", m.Value, m.Key, headers)
		}
		seen[corr] = true
	}
	// Each poison message is copied to the dead-letter topic with its
	// reason and source; valid-but-invalid requests are not.
	dlq := kafka.NewReader(s.brokers.ReaderConfig(kafka.ReaderConfig{Topic: s.dlqTopic, MaxWait: 200 * time.Millisecond}))
	defer dlq.Close()
	wantReasons := map[string]string{"corr-0": "undecodable", "corr-1": "unknown_type", "corr-2": "undecodable", "corr-3": "undecodable"}
	for len(wantReasons) > 0 {
		m, err := dlq.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letters still missing %v: %v", wantReasons, err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		corr := h[topics.HeaderCorrelationID]
		if h[topics.HeaderDLQReason] != wantReasons[corr] || h[topics.HeaderDLQSourceTopic] != s.cmdTopic ||
			h[topics.HeaderDLQSourceOffset] == "" || h[topics.HeaderDLQSourcePartition] == "" || h[topics.HeaderDLQError] == "" ||
			h["__TypeId__"] != "com.example.Ignored" {
			t.Fatalf("dead letter %s: headers %v", corr, h)
		}
		delete(wantReasons, corr)
	}
	if r := call(t, s, topics.Crear(handlers.Datos{DNI: ptr("1")})); handlers.ErrorCode(r.Err()) != handlers.CodeInvalid {
		t.Fatalf("invalid create: %+v", r)
	}
	// Still alive.
	r := call(t, s, topics.Crear(handlers.Datos{DNI: ptr("12345678"), Nombre: ptr("Luis"), Email: ptr("luis@example.pe")}))
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

// panicky is a store whose lookups by id panic.
type panicky struct{ *memstore.Store }

func (panicky) Get(context.Context, int64) (handlers.Cliente, error) { panic("boom") }

func TestPanickingHandlerRepliesInternal(t *testing.T) {
	s := startStack(t, memstore.Service(handlers.Deps{Store: panicky{memstore.New()}}))
	r := call(t, s, topics.Obtener(1))
	if handlers.ErrorCode(r.Err()) != handlers.CodeInternal {
		t.Fatalf("reply %+v, want internal error", r)
	}
	if r := call(t, s, topics.Obtener(2)); handlers.ErrorCode(r.Err()) != handlers.CodeInternal {
		t.Fatalf("second call after panic: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dlq := kafka.NewReader(s.brokers.ReaderConfig(kafka.ReaderConfig{Topic: s.dlqTopic, MaxWait: 200 * time.Millisecond}))
	defer dlq.Close()
	m, err := dlq.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range m.Headers {
		if h.Key == topics.HeaderDLQReason && string(h.Value) != "panic" {
			t.Fatalf("dead-letter reason %q, want panic", h.Value)
		}
	}
}

func TestCallTimesOutWithoutWorker(t *testing.T) {
	bs := brokers(t)
	prefix := fmt.Sprintf("t%d.", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, bs, zerolog.Nop(), topics.TopicSpec{Name: prefix + "q", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{Cluster: bs, CommandTopic: prefix + "q", QueryTopic: prefix + "q", ReplyTopic: prefix + "r", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	callCtx, callCancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer callCancel()
	_, err = req.Call(callCtx, topics.Obtener(1))
	if err == nil || !strings.Contains(err.Error(), "no reply") || ctx.Err() != nil {
		t.Fatalf("err = %v, want no reply after deadline", err)
	}
	if n := req.Pending(); n != 0 {
		t.Fatalf("%d calls still pending after timeout: late replies would leak", n)
	}
}

// A requester whose reply topic is created after the worker's writer has
// cached topic metadata must still get its first reply.
func TestLateReplyTopicGetsFirstReply(t *testing.T) {
	s := startStack(t, newService())
	call(t, s, topics.ListarClientes(handlers.ConsultaClientes{})) // worker writer now has metadata cached
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	late, err := topics.NewRequester(ctx, topics.RequesterConfig{
		Cluster: s.brokers, CommandTopic: s.cmdTopic, QueryTopic: strings.TrimSuffix(s.cmdTopic, "cmd") + "qry",
		ReplyTopic: s.cmdTopic + ".late-replies", Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
	defer callCancel()
	r, err := late.Call(callCtx, topics.ListarClientes(handlers.ConsultaClientes{}))
	if err != nil || r.Err() != nil {
		t.Fatalf("first call on a new reply topic: %v / %v", err, r.Err())
	}
}

// Commands for one customer, produced back to back, are applied in the
// order they were sent even though the worker handles several keys at once.
func TestCommandsForOneCustomerApplyInOrder(t *testing.T) {
	s := startStack(t, newService())
	var c handlers.Cliente
	if err := call(t, s, topics.Crear(handlers.Datos{DNI: ptr("23456789"), Nombre: ptr("v0"), Email: ptr("v@example.pe")})).Decode(&c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replyTopic := s.cmdTopic + ".order-replies"
	if err := topics.EnsureTopics(ctx, s.brokers, zerolog.Nop(), topics.TopicSpec{Name: replyTopic, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 30
	var msgs []kafka.Message
	for i := 1; i <= n; i++ {
		call := topics.ActualizarCliente(c.ID, handlers.Datos{DNI: ptr("23456789"), Nombre: ptr(fmt.Sprintf("v%d", i)), Email: ptr("v@example.pe")})
		body, err := topics.EncodeRequest(call)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: s.cmdTopic, Key: []byte(call.Key), Value: body, Headers: []kafka.Header{
			{Key: topics.HeaderCorrelationID, Value: []byte(fmt.Sprint(i))},
			{Key: topics.HeaderReplyTopic, Value: []byte(replyTopic)},
		}})
	}
	w := &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	rd := kafka.NewReader(s.brokers.ReaderConfig(kafka.ReaderConfig{Topic: replyTopic, MaxWait: 200 * time.Millisecond}))
	defer rd.Close()
	versionOf := map[string]int64{}
	for len(versionOf) < n {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(versionOf), err)
		}
		var r topics.Reply
		var got handlers.Cliente
		if err := json.Unmarshal(m.Value, &r); err != nil || r.Decode(&got) != nil {
			t.Fatalf("reply %s", m.Value)
		}
		versionOf[string(m.Key)] = got.Version
		if got.Nombre != "v"+string(m.Key) {
			t.Fatalf("reply to update %s shows nombre %q", m.Key, got.Nombre)
		}
	}
	for i := 2; i <= n; i++ {
		if versionOf[fmt.Sprint(i)] != versionOf[fmt.Sprint(i-1)]+1 {
			t.Fatalf("update %d applied at version %d, update %d at %d: out of order", i-1, versionOf[fmt.Sprint(i-1)], i, versionOf[fmt.Sprint(i)])
		}
	}
	var final handlers.Cliente
	if err := call(t, s, topics.Obtener(c.ID)).Decode(&final); err != nil || final.Nombre != fmt.Sprintf("v%d", n) {
		t.Fatalf("final %+v, %v", final, err)
	}
}

func newService() *handlers.Service {
	return memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now, Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour})
}

// Kafka redelivers: the same message (same correlation id, no explicit
// key) handled twice creates one customer and answers the same twice.
func TestRedeliveredCommandAppliesOnce(t *testing.T) {
	s := startStack(t, newService())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replyTopic := s.cmdTopic + ".redelivery-replies"
	if err := topics.EnsureTopics(ctx, s.brokers, zerolog.Nop(), topics.TopicSpec{Name: replyTopic, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	crear := topics.Crear(handlers.Datos{DNI: ptr("34567890"), Nombre: ptr("Rosa"), Email: ptr("rosa@example.pe")})
	body, _ := topics.EncodeRequest(crear)
	msg := kafka.Message{Topic: s.cmdTopic, Key: []byte(crear.Key), Value: body, Headers: []kafka.Header{
		{Key: topics.HeaderCorrelationID, Value: []byte{0xca, 0xfe, 0, 1}},
		{Key: topics.HeaderReplyTopic, Value: []byte(replyTopic)},
	}}
	w := &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for range 2 {
		if err := w.WriteMessages(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	rd := kafka.NewReader(s.brokers.ReaderConfig(kafka.ReaderConfig{Topic: replyTopic, MaxWait: 200 * time.Millisecond}))
	defer rd.Close()
	var bodies [2][]byte
	for i := range bodies {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = m.Value
	}
	if !bytes.Equal(bodies[0], bodies[1]) || bytes.Contains(bodies[0], []byte(`"error"`)) {
		t.Fatalf("replies differ or failed:\n%s\n%s", bodies[0], bodies[1])
	}
	var list handlers.PaginaClientes
	if err := call(t, s, topics.ListarClientes(handlers.ConsultaClientes{})).Decode(&list); err != nil || len(list.Clientes) != 1 {
		t.Fatalf("%d customers after a redelivered create, want 1 (%v)", len(list.Clientes), err)
	}
}

// Requests are placed by their key over all partitions, not pinned to the
// partition their reply header names.
func TestRequestsSpreadOverPartitions(t *testing.T) {
	s := startStack(t, newService())
	for i := range 24 {
		dni := fmt.Sprintf("%08d", 40_000_000+i*7_919)
		r := call(t, s, topics.Crear(handlers.Datos{DNI: &dni, Nombre: ptr("Ana"), Email: ptr("a" + dni + "@example.pe")}))
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := s.brokers.Client(10 * time.Second)
	var reqs []kafka.OffsetRequest
	for p := range 3 {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{s.cmdTopic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, p := range resp.Topics[s.cmdTopic] {
		if p.LastOffset > 0 {
			used++
		}
	}
	if used < 2 {
		t.Fatalf("24 creates with distinct keys landed on %d of 3 partitions: %+v", used, resp.Topics[s.cmdTopic])
	}
}
