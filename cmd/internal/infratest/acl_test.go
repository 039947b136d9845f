package infratest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/cmd/internal/infratest"
	"github.com/jea/cliente/topics"
)

// The broker admits only authenticated clients, and each service only to
// what topics.ServiceACLs grants it: a client without valid credentials,
// or with another service's, can neither produce to the command topic nor
// read the customer events, and the broker says so (an authentication or
// authorization error, not a timeout). What each service needs works.
func TestKafkaAccessControl(t *testing.T) {
	dir := infratest.Dir(t)
	brokers := strings.Split(os.Getenv("KAFKA_BROKERS"), ",")
	as := map[string]topics.Cluster{}
	for _, user := range []string{"admin", "cliente-worker", "cliente-edge", "ventas"} {
		s, err := infratest.KafkaUser(dir, user)
		if err != nil {
			t.Fatal(err)
		}
		if as[user], err = topics.NewCluster(brokers, s); err != nil {
			t.Fatal(err)
		}
	}
	// The service topics under their production names, as the worker makes them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := func(name string) topics.TopicSpec {
		return topics.TopicSpec{Name: name, Partitions: 6, ReplicationFactor: 1}
	}
	if err := topics.EnsureTopics(ctx, as["admin"], zerolog.Nop(), spec(topics.DefaultCommandTopic), spec(topics.DefaultQueryTopic),
		spec(topics.DefaultAdminTopic), spec(topics.DefaultSalesEventsTopic), spec(topics.DefaultCustomerEventsTopic), spec("cliente.dlq")); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano()
	edgeReplies := fmt.Sprintf("%sacl-%d", topics.EdgeReplyPrefix, run)
	ventasReplies := fmt.Sprintf("%sacl-%d", topics.VentasReplyPrefix, run)
	ventasGroup := fmt.Sprintf("%sacl-%d", topics.VentasGroupPrefix, run)

	noAuth := topics.Cluster{Brokers: brokers}
	wrongPassword, err := topics.NewCluster(brokers, topics.SASL{Mechanism: "SCRAM-SHA-512", Username: "cliente-edge", Password: "not-the-password"})
	if err != nil {
		t.Fatal(err)
	}

	// Allowed: each service's own paths.
	for _, c := range []struct {
		user string
		do   func(context.Context, topics.Cluster) error
	}{
		{"cliente-edge", produce(topics.DefaultCommandTopic)},
		{"cliente-edge", produce(topics.DefaultQueryTopic)},
		{"cliente-edge", produce(topics.DefaultAdminTopic)},
		{"cliente-edge", createAndFetch(edgeReplies)},
		{"ventas", produce(topics.DefaultQueryTopic)},
		{"ventas", produce(topics.DefaultSalesEventsTopic)},
		{"ventas", createAndFetch(ventasReplies)},
		{"ventas", fetch(topics.DefaultCustomerEventsTopic)},
		{"ventas", groupOffsets(ventasGroup, topics.DefaultCustomerEventsTopic)},
		{"cliente-worker", fetch(topics.DefaultCommandTopic)},
		{"cliente-worker", fetch(topics.DefaultAdminTopic)},
		{"cliente-worker", fetch(topics.DefaultSalesEventsTopic)},
		{"cliente-worker", groupOffsets("cliente-worker", topics.DefaultCommandTopic)},
		{"cliente-worker", produce(topics.DefaultCustomerEventsTopic)},
		{"cliente-worker", produce("cliente.dlq")},
		{"cliente-worker", produce(edgeReplies)},
		{"cliente-worker", produce(ventasReplies)},
	} {
		if err := c.do(ctx, as[c.user]); err != nil {
			t.Errorf("%s: %v, want allowed", c.user, err)
		}
	}

	// Refused, and by the broker's own answer.
	for _, c := range []struct {
		who     string
		cluster topics.Cluster
		do      func(context.Context, topics.Cluster) error
		want    error
	}{
		{"no credentials produce", noAuth, produce(topics.DefaultCommandTopic), errUnauthenticated},
		{"no credentials read", noAuth, fetch(topics.DefaultCustomerEventsTopic), errUnauthenticated},
		{"wrong password produce", wrongPassword, produce(topics.DefaultCommandTopic), kafka.SASLAuthenticationFailed},
		{"wrong password read", wrongPassword, fetch(topics.DefaultCustomerEventsTopic), kafka.SASLAuthenticationFailed},
		{"worker produce command", as["cliente-worker"], produce(topics.DefaultCommandTopic), kafka.TopicAuthorizationFailed},
		{"worker read events", as["cliente-worker"], fetch(topics.DefaultCustomerEventsTopic), kafka.TopicAuthorizationFailed},
		{"edge read events", as["cliente-edge"], fetch(topics.DefaultCustomerEventsTopic), kafka.TopicAuthorizationFailed},
		{"edge read events as ventas group", as["cliente-edge"], groupOffsets(ventasGroup, topics.DefaultCustomerEventsTopic), kafka.GroupAuthorizationFailed},
		{"edge produce sales events", as["cliente-edge"], produce(topics.DefaultSalesEventsTopic), kafka.TopicAuthorizationFailed},
		{"edge produce customer events", as["cliente-edge"], produce(topics.DefaultCustomerEventsTopic), kafka.TopicAuthorizationFailed},
		{"edge read commands", as["cliente-edge"], fetch(topics.DefaultCommandTopic), kafka.TopicAuthorizationFailed},
		{"edge join worker group", as["cliente-edge"], groupOffsets("cliente-worker", topics.DefaultCommandTopic), kafka.GroupAuthorizationFailed},
		{"ventas produce customer events", as["ventas"], produce(topics.DefaultCustomerEventsTopic), kafka.TopicAuthorizationFailed},
		{"ventas produce dead letters", as["ventas"], produce("cliente.dlq"), kafka.TopicAuthorizationFailed},
		{"ventas read commands", as["ventas"], fetch(topics.DefaultCommandTopic), kafka.TopicAuthorizationFailed},
		// The sales service changes no customer, and administration
		// (audit trail, export, anonymisation) is the edge's alone.
		{"ventas produce commands", as["ventas"], produce(topics.DefaultCommandTopic), kafka.TopicAuthorizationFailed},
		{"ventas produce admin requests", as["ventas"], produce(topics.DefaultAdminTopic), kafka.TopicAuthorizationFailed},
		{"worker produce admin requests", as["cliente-worker"], produce(topics.DefaultAdminTopic), kafka.TopicAuthorizationFailed},
		{"ventas read edge replies", as["ventas"], fetch(edgeReplies), kafka.TopicAuthorizationFailed},
		{"ventas join worker group", as["ventas"], groupOffsets("cliente-worker", topics.DefaultCommandTopic), kafka.GroupAuthorizationFailed},
		{"edge read ventas replies", as["cliente-edge"], fetch(ventasReplies), kafka.TopicAuthorizationFailed},
		{"edge create a topic", as["cliente-edge"], createAndFetch(fmt.Sprintf("cliente.acl-%d", run)), kafka.TopicAuthorizationFailed},
	} {
		start := time.Now()
		err := c.do(ctx, c.cluster)
		switch {
		case err == nil:
			t.Errorf("%s: allowed, want %v", c.who, c.want)
		case !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.who, err, c.want)
		case time.Since(start) > 5*time.Second:
			t.Errorf("%s: refused after %v, want a prompt answer", c.who, time.Since(start))
		default:
			t.Logf("%s: refused: %v", c.who, err)
		}
	}
}

// errUnauthenticated stands for how a SASL listener refuses a client that
// skips authentication: it closes the connection at the first request
// that is not part of the handshake.
var errUnauthenticated = errors.New("connection closed by the broker before authentication")

func adminClient(c topics.Cluster) *kafka.Client { return c.Client(5 * time.Second) }

// classify turns a connection the broker closed on an unauthenticated
// client into errUnauthenticated; other errors are kept.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if isClosed(err) {
		return fmt.Errorf("%w: %v", errUnauthenticated, err)
	}
	return err
}

// produce sends a Produce request for partition 0 of topic straight to
// the (single) broker, the leader of every partition: kafka-go's Client and
// Writer would look the topic up first and report a topic they may not
// see as "not found" instead of the broker's answer.
func produce(topic string) func(context.Context, topics.Cluster) error {
	return transient(func(ctx context.Context, c topics.Cluster) error {
		d := c.Dialer()
		if d == nil {
			d = &kafka.Dialer{Timeout: 5 * time.Second}
		}
		host, port, err := net.SplitHostPort(c.Brokers[0])
		if err != nil {
			return err
		}
		p, _ := strconv.Atoi(port)
		conn, err := d.DialPartition(ctx, "tcp", "", kafka.Partition{Topic: topic, ID: 0, Leader: kafka.Broker{Host: host, Port: p}})
		if err != nil {
			return classify(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.WriteMessages(kafka.Message{Value: []byte(`{"acl":"test"}`)})
		return classify(err)
	})
}

// transient retries op for a few seconds while the broker answers with
// errors of a topic or group just created (no leader, coordinator loading).
func transient(op func(context.Context, topics.Cluster) error) func(context.Context, topics.Cluster) error {
	return func(ctx context.Context, c topics.Cluster) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := op(ctx, c)
			if time.Now().After(deadline) || !(errors.Is(err, kafka.NotLeaderForPartition) || errors.Is(err, kafka.LeaderNotAvailable) ||
				errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.NotCoordinatorForGroup) ||
				errors.Is(err, kafka.GroupCoordinatorNotAvailable) || errors.Is(err, kafka.GroupLoadInProgress)) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func fetch(topic string) func(context.Context, topics.Cluster) error {
	return transient(func(ctx context.Context, c topics.Cluster) error {
		resp, err := adminClient(c).Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: 0, Offset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err != nil {
			return classify(err)
		}
		return resp.Error
	})
}

// groupOffsets reads the committed offsets of group on topic, as a group
// member does before it consumes.
func groupOffsets(group, topic string) func(context.Context, topics.Cluster) error {
	return transient(func(ctx context.Context, c topics.Cluster) error {
		resp, err := adminClient(c).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0}}})
		if err != nil {
			return classify(err)
		}
		if resp.Error != nil {
			return resp.Error
		}
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				return p.Error
			}
		}
		return nil
	})
}

// createAndFetch creates a one-partition topic and reads it.
func createAndFetch(topic string) func(context.Context, topics.Cluster) error {
	return func(ctx context.Context, c topics.Cluster) error {
		resp, err := adminClient(c).CreateTopics(ctx, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}},
		})
		if err != nil {
			return classify(err)
		}
		if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return err
		}
		return fetch(topic)(ctx, c)
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
