package topics

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL names the credentials of a Kafka client. The zero value means no
// authentication (the dev stack and kfake).
type SASL struct {
	// Mechanism is SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, or empty for none.
	Mechanism string
	Username  string
	Password  string
}

// Cluster is how to reach Kafka: the bootstrap brokers and the credentials
// every connection authenticates with. It is the one place that turns
// credentials into kafka-go dialers and transports, so every Reader,
// Writer and Client of this package authenticates alike. Copies share the
// admin transport; the zero SASL connects without authentication.
type Cluster struct {
	Brokers []string
	mech    sasl.Mechanism
	user    string
	// admin carries metadata, create-topics and offset requests; shared so
	// that readiness probes reuse authenticated connections.
	admin *kafka.Transport
}

// NewCluster checks s and returns the cluster reached through brokers with it.
func NewCluster(brokers []string, s SASL) (Cluster, error) {
	c := Cluster{Brokers: brokers}
	if len(brokers) == 0 || brokers[0] == "" {
		return c, fmt.Errorf("topics: no Kafka brokers")
	}
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" {
			return c, fmt.Errorf("topics: Kafka SASL username or password given without KAFKA_SASL_MECHANISM")
		}
		return c, nil
	}
	if s.Username == "" || s.Password == "" {
		return c, fmt.Errorf("topics: Kafka SASL %s needs a username and a password", s.Mechanism)
	}
	var err error
	switch strings.ToUpper(s.Mechanism) {
	case "SCRAM-SHA-512":
		c.mech, err = scram.Mechanism(scram.SHA512, s.Username, s.Password)
	case "SCRAM-SHA-256":
		c.mech, err = scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "PLAIN":
		c.mech = plain.Mechanism{Username: s.Username, Password: s.Password}
	default:
		return c, fmt.Errorf("topics: unsupported Kafka SASL mechanism %q (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN)", s.Mechanism)
	}
	if err != nil {
		return c, fmt.Errorf("topics: Kafka SASL: %w", err)
	}
	c.user = s.Username
	c.admin = &kafka.Transport{SASL: c.mech}
	return c, nil
}

// ClusterFromEnv reads KAFKA_BROKERS (comma-separated) and
// KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, the
// variables cmd/internal/config declares, for tools and tests that do not
// load a whole configuration.
func ClusterFromEnv(getenv func(string) string) (Cluster, error) {
	var brokers []string
	for _, b := range strings.Split(getenv("KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return NewCluster(brokers, SASLFromEnv(getenv))
}

// SASLFromEnv reads KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
// KAFKA_SASL_PASSWORD.
func SASLFromEnv(getenv func(string) string) SASL {
	return SASL{
		Mechanism: getenv("KAFKA_SASL_MECHANISM"),
		Username:  getenv("KAFKA_SASL_USERNAME"),
		Password:  getenv("KAFKA_SASL_PASSWORD"),
	}
}

// Authenticated reports whether connections authenticate, and as whom.
func (c Cluster) Authenticated() (user string, ok bool) { return c.user, c.mech != nil }

// Addr is the bootstrap address list for kafka-go Writers and Clients.
func (c Cluster) Addr() net.Addr { return kafka.TCP(c.Brokers...) }

// Dialer is for kafka.ReaderConfig.Dialer; nil (kafka-go's default) without
// authentication.
func (c Cluster) Dialer() *kafka.Dialer {
	if c.mech == nil {
		return nil
	}
	// kafka-go's DefaultDialer, plus the credentials.
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: c.mech}
}

// Transport returns a new transport for a Writer: each writer keeps its own
// metadata cache, refreshed every second so that a topic created after the
// writer started is found quickly.
func (c Cluster) Transport() *kafka.Transport {
	return &kafka.Transport{MetadataTTL: time.Second, SASL: c.mech}
}

// Client returns an admin client whose requests time out after timeout.
func (c Cluster) Client(timeout time.Duration) *kafka.Client {
	cl := &kafka.Client{Addr: c.Addr(), Timeout: timeout}
	if c.admin != nil {
		cl.Transport = c.admin
	}
	return cl
}

// ReaderConfig fills in the brokers and the dialer of cfg.
func (c Cluster) ReaderConfig(cfg kafka.ReaderConfig) kafka.ReaderConfig {
	cfg.Brokers = c.Brokers
	cfg.Dialer = c.Dialer()
	return cfg
}
