package topics_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/topics"
)

// The lag gauge follows the group: zero while the consumer keeps up, the
// number of requests produced while it is stopped, and zero again once it
// resumes and commits.
func TestConsumerLag(t *testing.T) {
	bs := brokers(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	prefix := fmt.Sprintf("lag%d.", time.Now().UnixNano())
	topic, group := prefix+"cmd", prefix+"g"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setup, setupCancel := context.WithTimeout(ctx, 30*time.Second)
	defer setupCancel()
	if err := topics.EnsureTopics(setup, bs, log, topics.TopicSpec{Name: topic, Partitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	mon := topics.NewLagMonitor(reg, topics.LagConfig{Cluster: bs, GroupID: group, Topics: []string{topic}, Interval: 50 * time.Millisecond, Log: log})
	go mon.Run(ctx)
	// lag sums the gauge over the partitions it has a value for.
	lag := func() (float64, int) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		n := 0
		for _, mf := range mfs {
			if mf.GetName() != "cliente_worker_consumer_lag_messages" {
				continue
			}
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
				n++
			}
		}
		return sum, n
	}
	waitLag := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, n := lag()
			if got == want && n == 3 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumer lag %v over %d partitions, want %v over 3", got, n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var handled atomic.Int64
	consume := func() (stop func()) {
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			topics.Consume(cctx, topics.ConsumerConfig{
				Cluster: bs, GroupID: group, Topic: topic, Concurrency: 2, Log: log, DrainTimeout: 5 * time.Second,
				Handler: func(context.Context, topics.Message) (any, error) { handled.Add(1); return nil, nil },
			})
		}()
		return func() { ccancel(); <-done }
	}
	w := &kafka.Writer{Addr: bs.Addr(), Transport: bs.Transport(), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	produce := func(n int) {
		t.Helper()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(`{}`)}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}

	waitHandled := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for handled.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("handled %d, want %d", handled.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	stop := consume()
	produce(30)
	// A lag of 0 read before the messages arrived would prove nothing:
	// first see them handled, then the committed offsets caught up.
	waitHandled(30)
	waitLag(0)
	stop()

	produce(50) // nobody consumes: the lag grows by exactly these
	waitLag(50)

	stop = consume()
	defer stop()
	waitHandled(80)
	waitLag(0)
	if handled.Load() != 80 {
		t.Fatalf("handled %d, want 80", handled.Load())
	}
}
