package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers/backoff"
)

// TopicSpec describes a topic the service needs.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Config            map[string]string
}

// EnsureTopics creates the topics that do not exist yet and waits until all
// of them have a leader for every partition. Topics are never auto-created:
// a group reader joining a topic being auto-created can end up with no
// partitions for good (kafka-go #800). It retries while ctx allows, so it can
// run while the broker is still starting.
func EnsureTopics(ctx context.Context, cluster Cluster, log zerolog.Logger, specs ...TopicSpec) error {
	client := cluster.Client(10 * time.Second)
	req := &kafka.CreateTopicsRequest{}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
		if _, set := s.Config["max.message.bytes"]; !set {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxRecordBytes)})
		}
		for k, v := range s.Config {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
		names = append(names, s.Name)
	}
	return retry(ctx, log, "create topics", func() error {
		resp, err := client.CreateTopics(ctx, req)
		if err != nil {
			return err
		}
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", name, err)
			}
		}
		return CheckTopics(ctx, cluster, names...)
	})
}

// CheckTopics asks the broker for the topics' metadata and fails unless each
// exists with a leader for every partition. It is the readiness probe of
// both processes.
func CheckTopics(ctx context.Context, cluster Cluster, names ...string) error {
	client := cluster.Client(5 * time.Second)
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	found := map[string]bool{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s has no partitions", t.Name)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d has no leader", t.Name, p.ID)
			}
		}
		found[t.Name] = true
	}
	for _, n := range names {
		if !found[n] {
			return fmt.Errorf("topic %s does not exist", n)
		}
	}
	return nil
}

// Ping asks the brokers for cluster metadata: it succeeds once a broker
// answers the Kafka protocol, before any topic exists.
func Ping(ctx context.Context, cluster Cluster) error {
	client := cluster.Client(5 * time.Second)
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(meta.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
}

// retry calls fn with capped exponential backoff until it succeeds or ctx
// ends.
func retry(ctx context.Context, log zerolog.Logger, what string, fn func() error) error {
	wait := backoff.New(50*time.Millisecond, 2*time.Second)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if attempt%10 == 1 {
			log.Warn().Err(err).Int("attempt", attempt).Msgf("%s: retrying", what)
		}
		if !wait.Wait(ctx) {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
	}
}

// newWriter returns a writer tuned for request/reply: kafka-go's defaults
// (1 s batching, no acks) would add a second to every call and lose
// messages silently. Requests are placed by key (requestBalancer), replies
// by the requester's kafka_replyPartition (replyBalancer): a request
// carries that header too, naming where its reply must go, not itself.
func newWriter(cluster Cluster, balancer kafka.Balancer) *kafka.Writer {
	return &kafka.Writer{
		Addr:     cluster.Addr(),
		Balancer: balancer,
		// A reply topic created after the writer cached metadata would be
		// "unknown" to it until the next refresh (6 s by default).
		Transport:  cluster.Transport(),
		BatchBytes: maxRecordBytes,
		// A batch waits this long for more messages before it is sent. Each
		// call pays it twice (request, reply): 1 ms was a third of an
		// in-process round trip. Under load batches still fill while the
		// previous one is in flight.
		BatchTimeout:           50 * time.Microsecond,
		RequiredAcks:           kafka.RequireAll,
		MaxAttempts:            3,
		WriteTimeout:           10 * time.Second,
		AllowAutoTopicCreation: false,
	}
}

// maxRecordBytes is the largest record the service produces, and what the
// topics it creates allow (max.message.bytes): room for a request at
// MaxMessageBytes with its headers, and for a reply or dead letter.
const maxRecordBytes = 2 << 20

// requestBalancer places keys as the Java client does (murmur2), so Go and
// Java producers agree on which partition holds a customer's commands;
// keyless messages are spread.
var requestBalancer kafka.Balancer = kafka.Murmur2Balancer{}

// replyBalancer sends a reply to the partition its kafka_replyPartition
// header names (kafka-go ignores Message.Partition on write), and otherwise
// places it like a request.
type replyBalancer struct{}

func (replyBalancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key != HeaderReplyPartition {
			continue
		}
		if p, ok := DecodePartition(h.Value); ok {
			for _, avail := range partitions {
				if avail == int(p) {
					return avail
				}
			}
		}
	}
	return requestBalancer.Balance(msg, partitions...)
}

// kafkaLogger adapts zerolog to kafka-go's error logger.
func kafkaLogger(log zerolog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) { log.Warn().Msgf(msg, args...) })
}

func header(headers []kafka.Header, key string) ([]byte, bool) {
	for _, h := range headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// routingOf reads the reply routing from a request's headers.
func routingOf(headers []kafka.Header) Routing {
	r := Routing{ReplyPartition: -1}
	r.CorrelationID, _ = header(headers, HeaderCorrelationID)
	if topic, ok := header(headers, HeaderReplyTopic); ok {
		r.ReplyTopic = string(topic)
	}
	if p, ok := header(headers, HeaderReplyPartition); ok {
		if part, valid := DecodePartition(p); valid {
			r.ReplyPartition = part
		}
	}
	return r
}
