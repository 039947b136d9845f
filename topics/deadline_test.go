package topics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
)

// A create whose requester gave up while it waited in the topic (no
// worker was consuming) is neither applied nor answered when a worker gets
// to it; it is counted as expired, and a request sent later is served.
func TestRequestPastItsDeadlineIsNotApplied(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, bs, prefix := provision(t, ctx)
	cmd, qry := prefix+"cmd", prefix+"qry"
	startCtx, startCancel := context.WithTimeout(ctx, 30*time.Second)
	defer startCancel()
	req, err := topics.NewRequester(startCtx, topics.RequesterConfig{
		Cluster: bs, CommandTopic: cmd, QueryTopic: qry, ReplyTopic: prefix + "replies", Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()

	// No worker yet: the request waits in the topic past its deadline.
	late := topics.Crear(handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Tarde"), Email: ptr("tarde@example.pe")})
	shortCtx, shortCancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = req.Call(shortCtx, late)
	shortCancel()
	if !errors.Is(err, topics.ErrNoReply) {
		t.Fatalf("call without a worker: %v, want ErrNoReply", err)
	}

	store := memstore.New()
	svc := memstore.Service(handlers.Deps{Store: store, Now: time.Now, Idempotency: memstore.NewIdempotency(), IdempotencyTTL: time.Hour})
	reg := prometheus.NewRegistry()
	h := topics.Chain(topics.Dispatcher(svc, topics.ServiceRequests), topics.Observe(log, topics.NewWorkerMetrics(reg)), topics.Recover(log),
		topics.Deadlines(time.Now), topics.Retry(topics.RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, Max: 10 * time.Millisecond}))
	done := make(chan struct{}, 2)
	for _, c := range []topics.ConsumerConfig{{Topic: cmd, Ordered: true}, {Topic: qry}} {
		c.Cluster, c.GroupID, c.Concurrency, c.Handler, c.Log, c.DrainTimeout = bs, prefix+"g", 4, h, log, 5*time.Second
		go func() { topics.Consume(ctx, c); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		for range 2 {
			<-done
		}
	}()

	callCtx, callCancel := context.WithTimeout(ctx, 20*time.Second)
	defer callCancel()
	r, err := req.Call(callCtx, topics.Crear(handlers.Datos{DNI: ptr("20000000"), Nombre: ptr("A Tiempo"), Email: ptr("atiempo@example.pe")}))
	if err != nil || r.Err() != nil {
		t.Fatalf("call in time: %v %v", err, r.Err())
	}
	// The expired one may be handled after the one in time (another
	// partition): wait for its count, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for expiredCount(t, reg) < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := expiredCount(t, reg); n != 1 {
		t.Fatalf("%v requests counted expired, want 1", n)
	}
	list, _ := store.List(ctx, handlers.Filtro{})
	if len(list) != 1 || list[0].DNI != "20000000" {
		t.Fatalf("stored %+v, want only the customer sent in time", list)
	}
}

func expiredCount(t *testing.T, g prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "cliente_worker_messages_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "expired" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func TestDeadlineOf(t *testing.T) {
	rec := time.UnixMilli(1_700_000_000_000)
	withReply := topics.Routing{ReplyTopic: "r", ReplyPartition: -1}
	for _, tc := range []struct {
		name   string
		header string
		has    bool
		r      topics.Routing
		want   time.Time
	}{
		{"header", "1700000001234", true, withReply, time.UnixMilli(1_700_000_001_234)},
		{"header without a reply topic", "1700000001234", true, topics.Routing{ReplyPartition: -1}, time.UnixMilli(1_700_000_001_234)},
		{"no header: the record's time plus the default reply timeout", "", false, withReply, rec.Add(topics.DefaultReplyTimeout)},
		{"unreadable header counts as absent", "soon", true, withReply, rec.Add(topics.DefaultReplyTimeout)},
		{"nobody waits: no deadline", "", false, topics.Routing{ReplyPartition: -1}, time.Time{}},
		{"a record without a timestamp gets none", "", false, withReply, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recTime := rec
			if strings.Contains(tc.name, "without a timestamp") {
				recTime = time.UnixMilli(-1)
			}
			if got := topics.DeadlineOf([]byte(tc.header), tc.has, tc.r, recTime); !got.Equal(tc.want) {
				t.Fatalf("deadline %v, want %v", got, tc.want)
			}
		})
	}
	if got := string(topics.EncodeDeadline(time.UnixMilli(1_700_000_001_234))); got != "1700000001234" {
		t.Fatalf("EncodeDeadline = %q", got)
	}
}
