package topics

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
)

// DeadLetters copies poison messages to the dead-letter topic, with headers
// naming the reason, the error and the source; the original headers and
// body are kept, so a fixed message can be replayed from there.
type DeadLetters struct {
	topic  string
	writer *kafka.Writer
	log    zerolog.Logger
	count  *prometheus.CounterVec
}

// NewDeadLetters writes to topic on cluster and registers its counter on
// reg. Close it after the consumers using it stopped.
func NewDeadLetters(cluster Cluster, topic string, log zerolog.Logger, reg prometheus.Registerer) *DeadLetters {
	d := &DeadLetters{
		topic: topic, writer: newWriter(cluster, replyBalancer{}), log: log,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cliente_worker_dead_letters_total",
			Help: "Poison messages copied to the dead-letter topic, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(d.count)
	return d
}

// Close flushes and closes the writer.
func (d *DeadLetters) Close() { closeBounded(d.log, "dead-letter writer", d.writer.Close) }

// Middleware copies the message to the dead-letter topic when the handler
// marked its error with deadLetter, then passes the result on unchanged.
// A copy that cannot be written is logged and given up: the message was
// deliberately rejected, and holding its partition back would stop every
// message behind it.
func (d *DeadLetters) Middleware() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m Message) (any, error) {
			res, err := next(ctx, m)
			var p *poisonError
			if errors.As(err, &p) {
				d.write(ctx, m, p)
			}
			return res, err
		}
	}
}

// Bounds of what a dead letter copies, so that the copy of anything fits
// in a record (maxRecordBytes): an oversize record may have fitted on the
// broker only because its producer compressed it.
const (
	maxDeadLetterBody    = 64 << 10
	maxDeadLetterHeaders = 256 << 10
)

func (d *DeadLetters) write(ctx context.Context, m Message, p *poisonError) {
	msg := kafka.Message{Topic: d.topic, Key: m.Key, Value: m.Body}
	truncated := len(m.Key)+len(m.Body) > MaxMessageBytes
	if truncated {
		msg.Key, msg.Value = truncate(m.Key, maxDeadLetterBody), truncate(m.Body, maxDeadLetterBody)
	}
	size := 0
	for _, h := range m.headers {
		if size += len(h.Key) + len(h.Value); size > maxDeadLetterHeaders {
			truncated = true // the rest are dropped
			break
		}
		msg.Headers = append(msg.Headers, h)
	}
	if truncated {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderDLQTruncated, Value: []byte(strconv.Itoa(len(m.Body)))})
	}
	msg.Headers = append(msg.Headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(p.reason)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(handlers.AsError(p.err).Message)},
		kafka.Header{Key: HeaderDLQSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderDLQSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderDLQSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	// The reply-partition header of the original must not steer the copy.
	msg.Headers = slices.DeleteFunc(msg.Headers, func(h kafka.Header) bool { return h.Key == HeaderReplyPartition })
	writeCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	log := d.log.With().Str("reason", p.reason).Str("topic", m.Topic).Int("partition", m.Partition).Int64("offset", m.Offset).Logger()
	if err := writeReply(writeCtx, d.writer, msg); err != nil {
		log.Error().Err(err).Msg("dead letter not written")
		return
	}
	d.count.WithLabelValues(p.reason).Inc()
	log.Warn().Str("dead_letter_topic", d.topic).Msg("poison message dead-lettered")
}

func truncate(b []byte, n int) []byte { return b[:min(len(b), n)] }
