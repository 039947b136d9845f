package topics

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"

	"github.com/jea/cliente/topics/embedded"
)

// newBatchTopic starts kfake with a topic of its own and a batch writer
// for it, all stopped when the test ends.
func newBatchTopic(t *testing.T, partitions int) (context.Context, Cluster, string, *batchWriter) {
	t.Helper()
	b, err := embedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cluster := Cluster{Brokers: b.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	topic := fmt.Sprintf("batch%d", time.Now().UnixNano())
	if err := EnsureTopics(ctx, cluster, zerolog.Nop(), TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	w := newBatchWriter(cluster, requestBalancer, true)
	t.Cleanup(func() { w.Close() })
	return ctx, cluster, topic, w
}

// Every message of concurrent writers arrives, and one key's messages keep
// their order.
func TestBatchWriterKeepsOrder(t *testing.T) {
	ctx, cluster, topic, w := newBatchTopic(t, 3)

	const keys, perKey, keyless = 20, 25, 100
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perKey {
				msg := kafka.Message{Topic: topic, Key: []byte(strconv.Itoa(k)), Value: []byte(strconv.Itoa(i))}
				if err := w.WriteMessages(ctx, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range keyless {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: []byte("q")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	total := keys*perKey + keyless
	if stats := w.w.Stats(); stats.Messages != int64(total) {
		t.Fatalf("%d messages produced, want %d", stats.Messages, total)
	}

	next := map[string]int{}
	got := 0
	for p := range 3 {
		r := kafka.NewReader(cluster.ReaderConfig(kafka.ReaderConfig{Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond}))
		end, err := lastOffset(ctx, cluster, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < end; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got++
			if m.Key == nil {
				continue
			}
			seq, _ := strconv.Atoi(string(m.Value))
			if seq != next[string(m.Key)] {
				t.Fatalf("key %s: message %d after %d", m.Key, seq, next[string(m.Key)]-1)
			}
			next[string(m.Key)]++
		}
		r.Close()
	}
	if got != total {
		t.Fatalf("read %d messages, want %d", got, total)
	}
}

func lastOffset(ctx context.Context, cluster Cluster, topic string, p int) (int64, error) {
	resp, err := cluster.Client(10*time.Second).ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(p)}},
	})
	if err != nil {
		return 0, err
	}
	return resp.Topics[topic][0].LastOffset, nil
}

func TestStickyBalancerPutsARoundsKeylessMessagesOnOnePartition(t *testing.T) {
	s := &stickyBalancer{keyed: requestBalancer, keyless: true, round: map[string]int{}}
	parts := []int{0, 1, 2}
	seen := map[int]bool{}
	for range 3 {
		s.next("t")
		first := s.Balance(kafka.Message{Topic: "t"}, parts...)
		for range 10 {
			if p := s.Balance(kafka.Message{Topic: "t"}, parts...); p != first {
				t.Fatalf("keyless messages of one round on partitions %d and %d", first, p)
			}
		}
		seen[first] = true
	}
	if len(seen) != 3 {
		t.Fatalf("rounds used partitions %v, want all three in turn", seen)
	}
	keyed := kafka.Message{Topic: "t", Key: []byte("42")}
	if got, want := s.Balance(keyed, parts...), requestBalancer.Balance(keyed, parts...); got != want {
		t.Fatalf("keyed message on %d, want %d (murmur2)", got, want)
	}
}

// slowProduce delays every produce request, as a busy broker would.
type slowProduce struct {
	kafka.RoundTripper
	delay time.Duration
}

func (s slowProduce) RoundTrip(ctx context.Context, addr net.Addr, req protocol.Message) (protocol.Message, error) {
	if _, ok := req.(*produce.Request); ok {
		time.Sleep(s.delay)
	}
	return s.RoundTripper.RoundTrip(ctx, addr, req)
}

// While a produce is in flight, what the callers write queues and goes out
// in the next one: 100 concurrent writes to one partition take a few
// produce requests, not 100.
func TestBatchWriterSendsWhatQueuedDuringAProduceInOne(t *testing.T) {
	ctx, _, topic, w := newBatchTopic(t, 1)
	w.w.Transport = slowProduce{RoundTripper: w.w.Transport, delay: 50 * time.Millisecond}
	// The first write alone: an idle writer sends at once.
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Value: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("x")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	stats := w.w.Stats()
	if stats.Messages != n+1 {
		t.Fatalf("%d messages produced, want %d", stats.Messages, n+1)
	}
	if stats.Writes > 6 {
		t.Fatalf("%d produce requests for %d concurrent messages: not batched while one was in flight", stats.Writes, n+1)
	}
}
