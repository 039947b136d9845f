// Package embedded runs an in-process Kafka-protocol broker (franz-go's
// kfake) for the zero-setup dev stack and for tests. It is not Apache
// Kafka: the same tests also run against a real broker (KAFKA_BROKERS).
package embedded

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a single in-memory broker listening on 127.0.0.1.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts a broker on 127.0.0.1:port (0 picks a free port). Auto topic
// creation stays off, as in production.
func Start(port int) (*Broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Broker{cluster: c}, nil
}

// StartSASL is Start with SASL required: only user with password, by
// mechanism (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), is admitted, as a super
// user. For tests of the clients' authentication without a real broker.
func StartSASL(port int, mechanism, user, password string) (*Broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.EnableSASL(), kfake.Superuser(mechanism, user, password))
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs are the broker's host:port addresses.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker; its data is gone.
func (b *Broker) Close() { b.cluster.Close() }
