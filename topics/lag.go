package topics

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// LagConfig configures a LagMonitor.
type LagConfig struct {
	Cluster Cluster
	GroupID string
	Topics  []string
	// Interval between two polls of the broker.
	Interval time.Duration
	Log      zerolog.Logger
}

// LagMonitor exports how far a consumer group's committed offsets are
// behind the log end of each partition of its topics. It asks the broker
// (not the reader), so every worker replica reports the whole group, also
// for partitions assigned to another replica or to none: a stopped group
// still shows its lag growing. Dashboards take max by topic and partition.
type LagMonitor struct {
	cfg    LagConfig
	client *kafka.Client
	lag    *prometheus.GaugeVec
	failed prometheus.Counter
}

// NewLagMonitor registers the lag metrics on reg.
func NewLagMonitor(reg prometheus.Registerer, cfg LagConfig) *LagMonitor {
	m := &LagMonitor{
		cfg:    cfg,
		client: cfg.Cluster.Client(5 * time.Second),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cliente_worker_consumer_lag_messages",
			Help: "Messages between the consumer group's committed offset and the log end, by topic and partition.",
		}, []string{"group", "topic", "partition"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cliente_worker_consumer_lag_poll_failures_total",
			Help: "Polls of the broker for consumer lag that failed; the gauge then keeps its last value.",
		}),
	}
	reg.MustRegister(m.lag, m.failed)
	return m
}

// Run polls every Interval until ctx ends.
func (m *LagMonitor) Run(ctx context.Context) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.Poll(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.failed.Inc()
			m.cfg.Log.Warn().Err(err).Msg("consumer lag poll failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.Interval):
		}
	}
}

// Poll reads the log end and the committed offset of every partition once
// and updates the gauge.
func (m *LagMonitor) Poll(ctx context.Context) error {
	meta, err := m.client.Metadata(ctx, &kafka.MetadataRequest{Topics: m.cfg.Topics})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	parts := map[string][]int{}
	ends := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			ends[t.Name] = append(ends[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	offsets, err := m.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		return fmt.Errorf("list offsets: %w", err)
	}
	committed, err := m.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: m.cfg.GroupID, Topics: parts})
	if err != nil {
		return fmt.Errorf("offset fetch: %w", err)
	}
	if committed.Error != nil {
		return fmt.Errorf("offset fetch: %w", committed.Error)
	}
	for topic, ps := range offsets.Topics {
		done := map[int]int64{}
		for _, c := range committed.Topics[topic] {
			if c.Error == nil {
				done[c.Partition] = c.CommittedOffset
			}
		}
		for _, p := range ps {
			if p.Error != nil {
				return fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, p.Error)
			}
			// Nothing committed yet (-1): the group starts at the first
			// offset (StartOffset FirstOffset), so all that is kept is due.
			from, ok := done[p.Partition]
			if !ok || from < 0 {
				from = p.FirstOffset
			}
			m.lag.WithLabelValues(m.cfg.GroupID, topic, strconv.Itoa(p.Partition)).Set(float64(max(p.LastOffset-from, 0)))
		}
	}
	return nil
}
