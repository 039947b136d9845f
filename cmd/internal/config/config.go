// Package config reads the binaries' settings from environment variables.
// The struct tags are the single list of variable names: deployment files
// are tested against them.
package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/jea/cliente/topics"
)

// Kafka is what every process needs to reach the broker and the topics.
type Kafka struct {
	Brokers           []string `env:"KAFKA_BROKERS" envSeparator:"," envDefault:"127.0.0.1:9092"`
	CommandTopic      string   `env:"TOPIC_COMMANDS" envDefault:"cliente.comandos"`
	QueryTopic        string   `env:"TOPIC_QUERIES" envDefault:"cliente.consultas"`
	AdminTopic        string   `env:"TOPIC_ADMIN" envDefault:"cliente.admin"`
	DeadLetterTopic   string   `env:"TOPIC_DEAD_LETTER" envDefault:"cliente.dlq"`
	Partitions        int      `env:"TOPIC_PARTITIONS" envDefault:"6"`
	ReplicationFactor int      `env:"TOPIC_REPLICATION_FACTOR" envDefault:"1"`
	// SASLMechanism (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) with a username
	// and password makes every connection authenticate; empty means none.
	SASLMechanism string `env:"KAFKA_SASL_MECHANISM"`
	SASLUsername  string `env:"KAFKA_SASL_USERNAME"`
	SASLPassword  string `env:"KAFKA_SASL_PASSWORD"`
}

// Common are settings every process reads.
type Common struct {
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
}

// Worker configures cmd/worker.
type Worker struct {
	Kafka
	Common
	// HTTPAddr serves /healthz, /readyz and /metrics (and /debug/pprof/
	// with Pprof): the worker's only, internal, listener.
	HTTPAddr      string `env:"HTTP_ADDR" envDefault:"127.0.0.1:9091"`
	Pprof         bool   `env:"PPROF" envDefault:"false"`
	MongoURI      string `env:"MONGODB_URI" envDefault:"mongodb://127.0.0.1:27017"`
	MongoDatabase string `env:"MONGODB_DATABASE" envDefault:"cliente"`
	Group         string `env:"WORKER_GROUP" envDefault:"cliente-worker"`
	// Concurrency is the number of queries and of sales events handled
	// at once; CommandConcurrency the number of commands, in lanes by key
	// (commands with one key always run one after another). More command
	// lanes mean more creates at once, whose writes share database
	// commands (repository/lote.go): at 250 POST/s on a loaded 2-core
	// make-run stack, 8 lanes answered 55 % of them (47 % before group
	// commit) and sent about 0.7 commands of each kind per create, 32
	// lanes answered 81-100 % and sent 0.3.
	Concurrency        int `env:"WORKER_CONCURRENCY" envDefault:"8"`
	CommandConcurrency int `env:"WORKER_COMMAND_CONCURRENCY" envDefault:"32"`
	// IdempotencyTTL is how long a command's result is replayed to retries.
	IdempotencyTTL   time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h"`
	IdempotencySweep time.Duration `env:"IDEMPOTENCY_SWEEP_INTERVAL" envDefault:"10m"`
	// RetryAttempts and RetryBackoff bound the retries of a message whose
	// handling found the database unavailable.
	RetryAttempts int           `env:"WORKER_RETRY_ATTEMPTS" envDefault:"4"`
	RetryBackoff  time.Duration `env:"WORKER_RETRY_BACKOFF" envDefault:"200ms"`
	// SalesEventsTopic is consumed into purchase history; the worker
	// creates it if missing, like its request topics.
	SalesEventsTopic string `env:"TOPIC_SALES_EVENTS" envDefault:"ventas.eventos"`
	// CustomerEventsTopic receives an event for every change to a customer.
	CustomerEventsTopic string `env:"TOPIC_CUSTOMER_EVENTS" envDefault:"cliente.eventos"`
	// EventsRelayInterval bounds how long a recorded customer event waits
	// for a relay that missed its nudge (another worker recorded it).
	EventsRelayInterval time.Duration `env:"EVENTS_RELAY_INTERVAL" envDefault:"1s"`
	// DeferRecords leaves each change's audit entry, report notice and
	// idempotency result to the relay (handlers.Deps.Diferir). Every
	// relay records them, whatever this says; set it false while workers
	// from before deferred records still run, since their relays would
	// publish and delete such events without recording what they carry.
	DeferRecords bool `env:"WORKER_DEFER_RECORDS" envDefault:"true"`
}

// Edge configures cmd/edge.
type Edge struct {
	Kafka
	Common
	// HTTPAddr serves the /cliente API, /healthz and /readyz: the public
	// listener.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// MetricsAddr serves /metrics (and /debug/pprof with Pprof): the
	// internal listener, for Prometheus and operators only. Not 9092,
	// Kafka's port, which the dev stack's broker takes.
	MetricsAddr string `env:"METRICS_ADDR" envDefault:"127.0.0.1:9095"`
	Pprof       bool   `env:"PPROF" envDefault:"false"`
	// AuthIssuer is the OpenID issuer whose access tokens the edge
	// accepts (its discovery document is at
	// AUTH_ISSUER/.well-known/openid-configuration). Required: there is no
	// way to run the edge without access control.
	AuthIssuer string `env:"AUTH_ISSUER"`
	// AuthAudience must be in every token's aud.
	AuthAudience string `env:"AUTH_AUDIENCE" envDefault:"cliente"`
	// ReplyTopic is this edge instance's own reply topic; empty means
	// "cliente.respuestas.<hostname>", so replicas never share one.
	ReplyTopic     string        `env:"REPLY_TOPIC"`
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"5s"`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	// MaxInFlight bounds the API requests the edge serves at once; beyond
	// it the edge answers 503 with Retry-After rather than queue them into
	// timeouts. 0 means no bound.
	MaxInFlight int `env:"EDGE_MAX_IN_FLIGHT" envDefault:"1024"`
	// MaxWritesInFlight bounds the requests other than GET among them: a
	// write costs several reads, and what is admitted is the work left
	// when an overload ends. 0 means no bound of its own.
	MaxWritesInFlight int `env:"EDGE_MAX_WRITES_IN_FLIGHT" envDefault:"256"`
}

// Load fills cfg (a pointer to Worker or Edge) from environ, a list of
// KEY=value pairs as os.Environ returns, then checks it.
func Load[T interface{ validate() error }](environ []string) (T, error) {
	var cfg T
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

func (k Kafka) validate() error {
	switch {
	case len(k.Brokers) == 0 || k.Brokers[0] == "":
		return fmt.Errorf("KAFKA_BROKERS is empty")
	case k.CommandTopic == "" || k.QueryTopic == "" || k.AdminTopic == "":
		return fmt.Errorf("topic names must not be empty")
	case k.Partitions < 1 || k.ReplicationFactor < 1:
		return fmt.Errorf("TOPIC_PARTITIONS and TOPIC_REPLICATION_FACTOR must be at least 1")
	}
	_, err := k.Cluster()
	return err
}

// Cluster is the brokers with the SASL credentials, checked.
func (k Kafka) Cluster() (topics.Cluster, error) {
	return topics.NewCluster(k.Brokers, topics.SASL{Mechanism: k.SASLMechanism, Username: k.SASLUsername, Password: k.SASLPassword})
}

func (c Common) validate() error {
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive")
	}
	return nil
}

func (w Worker) validate() error {
	if err := w.Kafka.validate(); err != nil {
		return err
	}
	if w.Concurrency < 1 || w.CommandConcurrency < 1 {
		return fmt.Errorf("WORKER_CONCURRENCY and WORKER_COMMAND_CONCURRENCY must be at least 1")
	}
	if w.IdempotencyTTL <= 0 || w.IdempotencySweep <= 0 {
		return fmt.Errorf("IDEMPOTENCY_TTL and IDEMPOTENCY_SWEEP_INTERVAL must be positive")
	}
	if w.SalesEventsTopic == "" || w.CustomerEventsTopic == "" {
		return fmt.Errorf("TOPIC_SALES_EVENTS and TOPIC_CUSTOMER_EVENTS must not be empty")
	}
	if w.EventsRelayInterval <= 0 {
		return fmt.Errorf("EVENTS_RELAY_INTERVAL must be positive")
	}
	return w.Common.validate()
}

func (e Edge) validate() error {
	if err := e.Kafka.validate(); err != nil {
		return err
	}
	if e.RequestTimeout <= 0 || e.MaxBodyBytes <= 0 {
		return fmt.Errorf("REQUEST_TIMEOUT and MAX_BODY_BYTES must be positive")
	}
	if e.AuthIssuer == "" {
		return fmt.Errorf("AUTH_ISSUER is required: the edge serves no customer data without an access token issuer (`make run` brings its own)")
	}
	if u, err := url.Parse(e.AuthIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("AUTH_ISSUER %q is not an http(s) URL without query or fragment", e.AuthIssuer)
	}
	if strings.TrimSpace(e.AuthAudience) == "" {
		return fmt.Errorf("AUTH_AUDIENCE must not be empty")
	}
	if e.MetricsAddr == "" {
		return fmt.Errorf("METRICS_ADDR must not be empty")
	}
	if e.MetricsAddr == e.HTTPAddr && !strings.HasSuffix(e.MetricsAddr, ":0") {
		return fmt.Errorf("METRICS_ADDR must differ from HTTP_ADDR: /metrics is never public")
	}
	return e.Common.validate()
}

// ReplyTopicOrDefault returns the configured reply topic, or one named after
// the host so that each replica reads replies of its own.
func (e Edge) ReplyTopicOrDefault() string {
	if e.ReplyTopic != "" {
		return e.ReplyTopic
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	return "cliente.respuestas." + strings.ToLower(host)
}

// Level is the configured log level.
func (c Common) Level() string { return c.LogLevel }
