package topics

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers/backoff"
)

// ConsumerConfig configures Consume.
type ConsumerConfig struct {
	Cluster Cluster
	GroupID string
	Topic   string
	// Ordered keeps messages with one key in order: they are handled one
	// after another, in offset order. Without it any message may run
	// concurrently with any other (for queries).
	Ordered bool
	// Concurrency is how many messages are handled at once.
	Concurrency int
	Handler     Handler
	Log         zerolog.Logger
	// DrainTimeout bounds shutdown: in-flight messages get this long to
	// finish, reply and commit after ctx ends.
	DrainTimeout time.Duration
	// LaneKey, if set, replaces the record key as what Ordered keeps in
	// order (it gets the record's key and body).
	LaneKey func(key, body []byte) []byte
}

// Consume reads cfg.Topic as member of cfg.GroupID until ctx ends, handing
// each message to cfg.Handler and sending the reply made from what it
// returns, if the message asked for one.
//
// Delivery is at-least-once: a message's offset is committed only after its
// handler returned and its reply was written (or it asked for none), and
// offsets are committed in order per partition, so a crash at any point
// leads to redelivery, never to loss. A message that cannot be decoded gets
// an error reply and is committed like any other: it never stops the loop.
// Only a message the handler abandoned (errAbandoned) stays uncommitted.
//
// On ctx end Consume stops fetching, lets in-flight messages finish within
// DrainTimeout, commits what finished, leaves the group and returns nil.
func Consume(ctx context.Context, cfg ConsumerConfig) error {
	reader := kafka.NewReader(cfg.Cluster.ReaderConfig(kafka.ReaderConfig{
		GroupID:           cfg.GroupID,
		Topic:             cfg.Topic,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           500 * time.Millisecond,
		CommitInterval:    0, // synchronous commits: we decide when
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  250 * time.Millisecond,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		ReadLagInterval:   -1,
		ErrorLogger:       kafkaLogger(cfg.Log),
	}))
	// Replies of concurrent handlers share produce requests.
	writer := newBatchWriter(cfg.Cluster, replyBalancer{}, false)
	log := cfg.Log.With().Str("topic", cfg.Topic).Logger()

	// Work outlives ctx by up to DrainTimeout so in-flight messages can
	// finish, reply and commit during shutdown.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	commits := newCommitter(reader.CommitMessages, commitInterval, log)
	go commits.run(workCtx)

	lanes := newLanes(cfg.Ordered, max(cfg.Concurrency, 1), cfg.LaneKey)
	var wg sync.WaitGroup
	for _, ch := range lanes.queues {
		for range lanes.workersPerQueue {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range ch {
					if handleOne(workCtx, cfg, writer, log, m) {
						commits.done(m)
					}
				}
			}()
		}
	}

	err := fetchLoop(ctx, reader, lanes, commits, log)

	lanes.close()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.DrainTimeout):
		log.Warn().Msg("drain timeout: abandoning in-flight messages, they will be redelivered")
		cancelWork()
		<-drained
	}
	commits.close()
	closeBounded(log, "writer", writer.Close)
	closeBounded(log, "reader", reader.Close)
	return err
}

func fetchLoop(ctx context.Context, reader *kafka.Reader, lanes *lanes, commits *committer, log zerolog.Logger) error {
	wait := backoff.New(50*time.Millisecond, 2*time.Second)
	for {
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn().Err(err).Msg("fetch failed")
			if !wait.Wait(ctx) {
				return nil
			}
			continue
		}
		wait.Reset()
		commits.fetched(m)
		select {
		case lanes.pick(m) <- m:
		case <-ctx.Done():
			// Not handled, so not committed: it will be redelivered.
			return nil
		}
	}
}

// handleOne runs the handler and writes the reply, if one was asked for.
// It reports whether the message may be committed: not if the handler
// abandoned it.
func handleOne(ctx context.Context, cfg ConsumerConfig, w *batchWriter, log zerolog.Logger, km kafka.Message) bool {
	m := Message{
		Topic: km.Topic, Partition: km.Partition, Offset: km.Offset,
		Key: km.Key, Body: km.Value, Routing: routingOf(km.Headers), Type: peekType(km.Value), headers: km.Headers,
	}
	dl, hasDL := header(km.Headers, HeaderDeadline)
	m.Deadline = deadlineOf(dl, hasDL, m.Routing, km.Time)
	res, err := cfg.Handler(ctx, m)
	if errors.Is(err, errAbandoned) {
		return false
	}
	// Nobody waits for the reply of an expired request: sending it would
	// only add to the load that made it expire.
	if !m.Routing.HasReply() || errors.Is(err, errExpired) {
		return true
	}
	msg, err := replyMessage(m.Routing, NewReply(m.Type, res, err))
	if err != nil {
		log.Error().Err(err).Msg("cannot encode reply")
		return true
	}
	// A reply that cannot be written after the writer's own retries is
	// dropped: the requester times out, and the effect (already durable) is
	// not undone or repeated by withholding the commit.
	writeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := writeReply(writeCtx, w, msg); err != nil {
		log.Error().Err(err).Str("reply_topic", m.Routing.ReplyTopic).
			Str("correlation_id", FormatCorrelationID(m.Routing.CorrelationID)).Msg("reply not delivered")
	}
	return true
}

// messageWriter is a kafka.Writer or a batchWriter.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// writeReply writes msgs, retrying while its topic is unknown: a requester
// may create its reply topic moments before its first request, and the
// writer learns of it only at its next metadata refresh.
func writeReply(ctx context.Context, w messageWriter, msgs ...kafka.Message) error {
	for {
		err := w.WriteMessages(ctx, msgs...)
		if !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// replyMessage builds the reply record: same correlation bytes, keyed by
// them, routed to the requested topic and partition, with the error headers
// on failure.
func replyMessage(r Routing, reply Reply) (kafka.Message, error) {
	body, err := json.Marshal(reply)
	if err != nil {
		return kafka.Message{}, err
	}
	msg := kafka.Message{Topic: r.ReplyTopic, Key: r.CorrelationID, Value: body}
	if r.CorrelationID != nil {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderCorrelationID, Value: r.CorrelationID})
	}
	if r.ReplyPartition >= 0 {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderReplyPartition, Value: EncodePartition(r.ReplyPartition)})
	}
	if reply.Error != nil {
		msg.Headers = append(msg.Headers,
			kafka.Header{Key: HeaderErrorCode, Value: []byte(reply.Error.Code)},
			kafka.Header{Key: HeaderErrorMessage, Value: []byte(reply.Error.Message)})
	}
	return msg, nil
}

// lanes spread messages over worker goroutines. Ordered lanes have one
// queue per worker and route by key hash, so one key is never handled twice
// at once; unordered lanes share one queue.
type lanes struct {
	queues          []chan kafka.Message
	workersPerQueue int
	key             func(key, body []byte) []byte
}

func newLanes(ordered bool, n int, key func(key, body []byte) []byte) *lanes {
	if !ordered {
		return &lanes{queues: []chan kafka.Message{make(chan kafka.Message, n)}, workersPerQueue: n}
	}
	l := &lanes{queues: make([]chan kafka.Message, n), workersPerQueue: 1, key: key}
	for i := range l.queues {
		l.queues[i] = make(chan kafka.Message, 1)
	}
	return l
}

func (l *lanes) pick(m kafka.Message) chan kafka.Message {
	if len(l.queues) == 1 {
		return l.queues[0]
	}
	h := fnv.New32a()
	key := m.Key
	if l.key != nil {
		key = l.key(m.Key, m.Value)
	}
	if len(key) > 0 {
		h.Write(key)
	} else {
		// Keyless commands keep their partition's order.
		h.Write([]byte{byte(m.Partition >> 8), byte(m.Partition)})
	}
	return l.queues[h.Sum32()%uint32(len(l.queues))]
}

func (l *lanes) close() {
	for _, q := range l.queues {
		close(q)
	}
}

// committer commits offsets in order per partition: an offset is committed
// only when it and every offset fetched before it on its partition are done.
// One goroutine owns the bookkeeping and coalesces commits: at most one
// commit per interval, carrying the highest committable offset of every
// partition. Commits are off the reply path, so the interval adds no
// latency; it only widens what a crash redelivers.
type committer struct {
	commit   func(ctx context.Context, msgs ...kafka.Message) error
	interval time.Duration
	log      zerolog.Logger
	events   chan commitEvent
	stopped  chan struct{}
}

// commitInterval is the committer's: a few commits a second per consumer
// instead of one per handful of messages (the group coordinator's work on
// the broker), for at most this much more redelivery after a crash.
const commitInterval = 20 * time.Millisecond

type commitEvent struct {
	msg  kafka.Message
	done bool
}

type partitionKey struct {
	topic     string
	partition int
}

type partitionOffsets struct {
	pending []int64 // fetched, in fetch order
	done    map[int64]kafka.Message
}

func newCommitter(commit func(ctx context.Context, msgs ...kafka.Message) error, interval time.Duration, log zerolog.Logger) *committer {
	return &committer{commit: commit, interval: interval, log: log, events: make(chan commitEvent, 1024), stopped: make(chan struct{})}
}

func (c *committer) fetched(m kafka.Message) { c.events <- commitEvent{msg: m} }
func (c *committer) done(m kafka.Message)    { c.events <- commitEvent{msg: m, done: true} }

// close flushes what is committable and stops the committer.
func (c *committer) close() {
	close(c.events)
	<-c.stopped
}

func (c *committer) run(ctx context.Context) {
	defer close(c.stopped)
	parts := map[partitionKey]*partitionOffsets{}
	var last time.Time
	ready := map[partitionKey]kafka.Message{}
	for ev := range c.events {
		c.apply(parts, ev, ready)
		if len(ready) == 0 {
			continue
		}
		// Gather what comes until the interval since the last commit is
		// over; a closed queue commits at once.
		wait := time.NewTimer(time.Until(last.Add(c.interval)))
		for more := true; more; {
			select {
			case ev, ok := <-c.events:
				if !ok {
					more = false
					break
				}
				c.apply(parts, ev, ready)
			case <-wait.C:
				more = false
			}
		}
		wait.Stop()
		msgs := make([]kafka.Message, 0, len(ready))
		for _, m := range ready {
			msgs = append(msgs, m)
		}
		commitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.commit(commitCtx, msgs...)
		cancel()
		last = time.Now()
		clear(ready)
		if err != nil && !errors.Is(err, context.Canceled) {
			// After a rebalance the new owner starts from the last commit:
			// a failed commit means redelivery, not loss.
			c.log.Warn().Err(err).Msg("commit failed")
		}
	}
}

func (c *committer) apply(parts map[partitionKey]*partitionOffsets, ev commitEvent, ready map[partitionKey]kafka.Message) {
	key := partitionKey{ev.msg.Topic, ev.msg.Partition}
	p := parts[key]
	if p == nil {
		p = &partitionOffsets{done: map[int64]kafka.Message{}}
		parts[key] = p
	}
	if !ev.done {
		if n := len(p.pending); n > 0 && ev.msg.Offset <= p.pending[n-1] {
			// Redelivery after a rebalance: start over from here.
			p.pending, p.done = nil, map[int64]kafka.Message{}
		}
		p.pending = append(p.pending, ev.msg.Offset)
		return
	}
	if len(p.pending) == 0 || ev.msg.Offset < p.pending[0] {
		return // stale: from before a rebalance
	}
	p.done[ev.msg.Offset] = ev.msg
	for len(p.pending) > 0 {
		m, ok := p.done[p.pending[0]]
		if !ok {
			break
		}
		delete(p.done, p.pending[0])
		p.pending = p.pending[1:]
		ready[key] = m
	}
}

// closeBounded calls closeFn but gives up after a few seconds: kafka-go's
// Reader.Close can hang (upstream #1248, #1353).
func closeBounded(log zerolog.Logger, what string, closeFn func() error) {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn().Err(err).Msgf("closing %s", what)
		}
	case <-time.After(5 * time.Second):
		log.Warn().Msgf("closing %s timed out", what)
	}
}
