package topics

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers/backoff"

	"github.com/jea/cliente/handlers"
)

// ErrNoReply wraps the context error when a call ends before its reply.
var ErrNoReply = errors.New("topics: no reply")

// RequesterConfig configures a Requester.
type RequesterConfig struct {
	Cluster      Cluster
	CommandTopic string
	QueryTopic   string
	// AdminTopic is where the administration operations go; a requester
	// without one cannot send them.
	AdminTopic string
	// ReplyTopic is this requester's own topic, created with one partition
	// if missing. Sharing it between live requesters is harmless (each
	// drops replies it did not ask for) but wasteful.
	ReplyTopic string
	// ReplicationFactor of the reply topic if it has to be created.
	ReplicationFactor int
	Log               zerolog.Logger
}

// Requester sends requests and waits for their correlated replies. It reads
// its reply topic with a plain partition reader, not a consumer group, so
// no rebalance ever pauses replies. Safe for concurrent use.
type Requester struct {
	cfg    RequesterConfig
	writer *batchWriter

	mu      sync.Mutex
	pending map[string]chan Reply

	loopErr atomic.Pointer[error]
	cancel  context.CancelFunc
	stopped chan struct{}
}

// replyPartition is the partition of the reply topic this requester reads.
const replyPartition = 0

// replyRetention bounds how long unread replies are kept: nobody reads
// them after the requester's timeout.
const replyRetention = "3600000" // 1 h in ms

// NewRequester creates the reply topic if needed, positions its reader at
// the end of it, and starts reading. ctx bounds only the start-up.
func NewRequester(ctx context.Context, cfg RequesterConfig) (*Requester, error) {
	err := EnsureTopics(ctx, cfg.Cluster, cfg.Log, TopicSpec{
		Name: cfg.ReplyTopic, Partitions: 1, ReplicationFactor: max(cfg.ReplicationFactor, 1),
		Config: map[string]string{"retention.ms": replyRetention},
	})
	if err != nil {
		return nil, err
	}
	// Start exactly at the current end: replies to requests sent from now on
	// are read, older ones are skipped. Right after creation the broker may
	// briefly answer "not leader" although metadata already names one.
	client := cfg.Cluster.Client(10 * time.Second)
	var end int64
	err = retry(ctx, cfg.Log, "reply topic offset", func() error {
		offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
			Topics: map[string][]kafka.OffsetRequest{cfg.ReplyTopic: {kafka.LastOffsetOf(replyPartition)}},
		})
		if err != nil {
			return err
		}
		parts := offsets.Topics[cfg.ReplyTopic]
		if len(parts) != 1 {
			return fmt.Errorf("%d partitions in the answer, want 1", len(parts))
		}
		if parts[0].Error != nil {
			return parts[0].Error
		}
		end = parts[0].LastOffset
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	r := &Requester{cfg: cfg, writer: newBatchWriter(cfg.Cluster, requestBalancer, true), pending: map[string]chan Reply{}, stopped: make(chan struct{})}
	reader, err := r.openReader(end)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.readReplies(loopCtx, reader, end)
	return r, nil
}

// openReader returns a plain (group-less) reader of the reply partition,
// positioned at offset.
func (r *Requester) openReader(offset int64) (*kafka.Reader, error) {
	reader := kafka.NewReader(r.cfg.Cluster.ReaderConfig(kafka.ReaderConfig{
		Topic:           r.cfg.ReplyTopic,
		Partition:       replyPartition,
		MinBytes:        1,
		MaxBytes:        10 << 20,
		MaxWait:         500 * time.Millisecond,
		ReadBackoffMin:  10 * time.Millisecond,
		ReadBackoffMax:  250 * time.Millisecond,
		ReadLagInterval: -1,
		ErrorLogger:     kafkaLogger(r.cfg.Log),
	}))
	if err := reader.SetOffset(offset); err != nil {
		reader.Close()
		return nil, fmt.Errorf("topics: reply reader: %w", err)
	}
	return reader, nil
}

// Call sends c and waits for its reply until ctx ends. It returns an error
// only when no reply was obtained: a *handlers.Error with CodeUnavailable if
// the request could not be sent, or ErrNoReply wrapping ctx's error.
// A reply that reports a failure is returned as a Reply; see Reply.Err.
func (r *Requester) Call(ctx context.Context, c Call) (Reply, error) {
	body, err := EncodeRequest(c)
	if handlers.ErrorCode(err) == handlers.CodeInvalid {
		return Reply{}, err // too large to send: the caller's to fix
	} else if err != nil {
		return Reply{}, handlers.Wrap(handlers.CodeInternal, err, "cannot encode request")
	}
	topic := r.cfg.QueryTopic
	switch {
	case isAdmin(c.Type):
		if topic = r.cfg.AdminTopic; topic == "" {
			return Reply{}, handlers.Wrap(handlers.CodeInternal, errors.New("topics: requester has no AdminTopic"),
				"this client cannot send administration requests")
		}
	case isCommand(c.Type):
		topic = r.cfg.CommandTopic
	}
	id := make([]byte, 16)
	rand.Read(id)
	ch := make(chan Reply, 1)
	r.mu.Lock()
	r.pending[string(id)] = ch
	r.mu.Unlock()
	// Removing the entry on every exit path is what keeps late replies from
	// leaking: they find no entry and are dropped.
	defer func() {
		r.mu.Lock()
		delete(r.pending, string(id))
		r.mu.Unlock()
	}()

	msg := kafka.Message{
		Topic: topic,
		Value: body,
		Headers: []kafka.Header{
			{Key: HeaderCorrelationID, Value: id},
			{Key: HeaderReplyTopic, Value: []byte(r.cfg.ReplyTopic)},
			{Key: HeaderReplyPartition, Value: EncodePartition(replyPartition)},
		},
	}
	if c.Key != "" {
		msg.Key = []byte(c.Key)
	}
	// The worker neither runs nor applies the request once this passes.
	if d, ok := ctx.Deadline(); ok {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderDeadline, Value: EncodeDeadline(d)})
	}
	if err := r.writer.WriteMessages(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return Reply{}, fmt.Errorf("%w: %w", ErrNoReply, ctx.Err())
		}
		return Reply{}, handlers.Wrap(handlers.CodeUnavailable, err, "the message broker is unavailable")
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("%w: %w", ErrNoReply, ctx.Err())
	}
}

// readReplies hands each reply to the call waiting for it, from offset on.
// A read error (a broker restarting) replaces the reader with a new one at
// the next unread offset, with backoff, for as long as the requester lives:
// kafka-go's partition reader does not recover by itself once its
// connection is refused. Meanwhile Check reports the error.
func (r *Requester) readReplies(ctx context.Context, reader *kafka.Reader, offset int64) {
	defer close(r.stopped)
	defer func() {
		if reader != nil {
			closeBounded(r.cfg.Log, "reply reader", reader.Close)
		}
	}()
	wait := backoff.New(50*time.Millisecond, 2*time.Second)
	for {
		m, err := reader.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.loopErr.Store(&err)
			r.cfg.Log.Warn().Err(err).Int64("offset", offset).Msg("reading replies failed; reopening the reader")
			if !wait.Wait(ctx) {
				return
			}
			closeBounded(r.cfg.Log, "reply reader", reader.Close)
			if reader, err = r.openReader(offset); err != nil {
				r.loopErr.Store(&err) // only for a negative offset: not expected
				return
			}
			continue
		}
		offset = m.Offset + 1
		wait.Reset()
		r.loopErr.Store(nil)
		id, _ := header(m.Headers, HeaderCorrelationID)
		r.mu.Lock()
		ch, ok := r.pending[string(id)]
		delete(r.pending, string(id))
		r.mu.Unlock()
		if !ok {
			continue // late, duplicate or someone else's: nobody waits
		}
		var reply Reply
		if err := json.Unmarshal(m.Value, &reply); err != nil {
			reply = NewReply("", nil, handlers.Wrap(handlers.CodeInternal, err, "undecodable reply"))
		}
		ch <- reply // buffered, and only this loop sends on it
	}
}

// Pending is the number of calls waiting for a reply.
func (r *Requester) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Check reports whether the requester can work: its reply reader is alive
// and the broker answers for the request topics.
func (r *Requester) Check(ctx context.Context) error {
	if errp := r.loopErr.Load(); errp != nil {
		return fmt.Errorf("reply reader: %w", *errp)
	}
	select {
	case <-r.stopped:
		return errors.New("reply reader stopped")
	default:
	}
	names := []string{r.cfg.CommandTopic, r.cfg.QueryTopic, r.cfg.ReplyTopic}
	if r.cfg.AdminTopic != "" {
		names = append(names, r.cfg.AdminTopic)
	}
	return CheckTopics(ctx, r.cfg.Cluster, names...)
}

// Close stops reading replies and flushes the writer; calls still waiting
// end with their own contexts.
func (r *Requester) Close() {
	r.cancel()
	select {
	case <-r.stopped:
	case <-time.After(5 * time.Second):
	}
	closeBounded(r.cfg.Log, "writer", r.writer.Close)
}
