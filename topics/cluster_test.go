package topics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/embedded"
)

func TestNewClusterChecksCredentials(t *testing.T) {
	bs := []string{"127.0.0.1:9092"}
	for _, c := range []struct {
		s    topics.SASL
		want string // "" for no error
	}{
		{topics.SASL{}, ""},
		{topics.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, ""},
		{topics.SASL{Mechanism: "scram-sha-256", Username: "u", Password: "p"}, ""},
		{topics.SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}, ""},
		{topics.SASL{Mechanism: "SCRAM-SHA-512", Username: "u"}, "needs a username and a password"},
		{topics.SASL{Username: "u", Password: "p"}, "without KAFKA_SASL_MECHANISM"},
		{topics.SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}, "unsupported"},
	} {
		c2, err := topics.NewCluster(bs, c.s)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.s, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		case err == nil:
			if user, ok := c2.Authenticated(); ok != (c.s.Mechanism != "") || user != c.s.Username && ok {
				t.Errorf("%+v: Authenticated() = %q, %v", c.s, user, ok)
			}
		}
	}
	if _, err := topics.NewCluster(nil, topics.SASL{}); err == nil {
		t.Error("no brokers accepted")
	}
	env := map[string]string{"KAFKA_BROKERS": " a:1, b:2 ,", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
	c, err := topics.ClusterFromEnv(func(k string) string { return env[k] })
	if user, ok := c.Authenticated(); err != nil || !ok || user != "u" || strings.Join(c.Brokers, ",") != "a:1,b:2" {
		t.Errorf("ClusterFromEnv: %+v %v", c.Brokers, err)
	}
}

// Every reader, writer and admin request goes through the Cluster's
// credentials: a request/reply round trip works on a broker that requires
// SCRAM-SHA-512, and is refused without credentials or with a wrong password.
func TestSCRAMRoundTrip(t *testing.T) {
	b, err := embedded.StartSASL(0, "SCRAM-SHA-512", "svc", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	good, err := topics.NewCluster(b.Addrs(), topics.SASL{Mechanism: "SCRAM-SHA-512", Username: "svc", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topics.EnsureTopics(ctx, good, zerolog.Nop(), topics.TopicSpec{Name: "q", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now})
	go topics.Consume(ctx, topics.ConsumerConfig{Cluster: good, GroupID: "g", Topic: "q", Concurrency: 1,
		Handler: topics.Dispatcher(svc, topics.ServiceRequests), Log: zerolog.Nop(), DrainTimeout: time.Second})
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{Cluster: good, CommandTopic: "q", QueryTopic: "q", ReplyTopic: "r", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if _, err := req.Call(ctx, topics.ValidarParaVenta(1)); err != nil {
		t.Fatalf("call over SCRAM: %v", err)
	}

	wrong, _ := topics.NewCluster(b.Addrs(), topics.SASL{Mechanism: "SCRAM-SHA-512", Username: "svc", Password: "nope"})
	for name, c := range map[string]topics.Cluster{"no credentials": {Brokers: b.Addrs()}, "wrong password": wrong} {
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := topics.Ping(short, c)
		cancel()
		// kfake closes the connection either way (a real broker answers a
		// wrong password with SASL Authentication Failed: cmd/internal/infratest).
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want the connection refused at once", name, err)
		}
	}
}
