package topics

import (
	"context"
	"errors"
	"sync"

	"github.com/segmentio/kafka-go"
)

// batchWriter produces with natural batching: a message waits only while a
// produce to its topic is in flight, and everything that queued meanwhile
// goes out in the next produce. An idle writer sends at once; a busy one
// sends one request per topic and partition per round trip instead of one
// per message, which is what the broker's CPU is spent on. Per topic,
// messages are produced in the order write was called, so one key's order
// holds. Safe for concurrent use.
type batchWriter struct {
	w *kafka.Writer
	// sticky, if set, places keyless messages: all of one round on one
	// partition, so that round is one produce request.
	sticky *stickyBalancer

	mu     sync.Mutex
	topics map[string]*topicQueue
}

// maxRound bounds the messages of one round (kafka-go's batch size).
const maxRound = 1000

type topicQueue struct {
	queue []pendingWrite
	busy  bool // a goroutine is producing this topic's rounds
}

type pendingWrite struct {
	msg  kafka.Message
	done chan error // buffered: the round never blocks on a caller gone
}

// newBatchWriter wraps a writer from newWriter. balancer places the
// messages, except keyless ones when stickyKeyless is set.
func newBatchWriter(cluster Cluster, balancer kafka.Balancer, stickyKeyless bool) *batchWriter {
	sticky := &stickyBalancer{keyed: balancer, keyless: stickyKeyless, round: map[string]int{}}
	w := newWriter(cluster, sticky)
	w.BatchSize = maxRound
	return &batchWriter{w: w, sticky: sticky, topics: map[string]*topicQueue{}}
}

// WriteMessages produces msgs (each with its Topic set), in order, and
// waits for the broker's acknowledgement of all or for ctx. A write whose
// ctx ends may still be produced. The error is the first message's that
// failed.
func (b *batchWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	pending := make([]pendingWrite, len(msgs))
	b.mu.Lock()
	for i, msg := range msgs {
		pending[i] = pendingWrite{msg: msg, done: make(chan error, 1)}
		q := b.topics[msg.Topic]
		if q == nil {
			q = &topicQueue{}
			b.topics[msg.Topic] = q
		}
		q.queue = append(q.queue, pending[i])
		if !q.busy {
			q.busy = true
			go b.rounds(msg.Topic, q)
		}
	}
	b.mu.Unlock()
	var first error
	for _, p := range pending {
		select {
		case err := <-p.done:
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// rounds produces the topic's queue, one round after another, until it is
// empty.
func (b *batchWriter) rounds(topic string, q *topicQueue) {
	for {
		b.mu.Lock()
		n := min(len(q.queue), maxRound)
		if n == 0 {
			q.busy = false
			b.mu.Unlock()
			return
		}
		round := q.queue[:n:n]
		q.queue = q.queue[n:]
		b.mu.Unlock()

		msgs := make([]kafka.Message, n)
		for i, p := range round {
			msgs[i] = p.msg
		}
		b.sticky.next(topic)
		// Bounded by the writer's WriteTimeout and MaxAttempts; the
		// callers' contexts only bound their own waits.
		err := b.w.WriteMessages(context.Background(), msgs...)
		var perMsg kafka.WriteErrors
		var tooLarge kafka.MessageTooLargeError
		switch {
		case errors.As(err, &perMsg) && len(perMsg) == n:
			for i, p := range round {
				p.done <- perMsg[i]
			}
		case errors.As(err, &tooLarge) && n > 1:
			// One message is refused for its size before anything is
			// sent: the others go on their own.
			for _, p := range round {
				p.done <- b.w.WriteMessages(context.Background(), p.msg)
			}
		default:
			for _, p := range round {
				p.done <- err
			}
		}
	}
}

// Close flushes and closes the writer. Writes still queued fail.
func (b *batchWriter) Close() error { return b.w.Close() }

// stickyBalancer places keyed messages with keyed, and every keyless
// message of one round of a topic on one partition, moving on to the next
// partition each round so keyless load still spreads.
type stickyBalancer struct {
	keyed   kafka.Balancer
	keyless bool // else keyless messages go to keyed too

	mu    sync.Mutex
	round map[string]int
}

func (s *stickyBalancer) next(topic string) {
	s.mu.Lock()
	s.round[topic]++
	s.mu.Unlock()
}

func (s *stickyBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if msg.Key != nil || !s.keyless || len(partitions) == 0 {
		return s.keyed.Balance(msg, partitions...)
	}
	s.mu.Lock()
	r := s.round[msg.Topic]
	s.mu.Unlock()
	return partitions[r%len(partitions)]
}
