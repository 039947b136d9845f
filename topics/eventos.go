package topics

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
)

// CustomerEvent is the JSON body of a record on the customer events topic.
// The record key is the customer id in decimal, so one customer's events
// share a partition; they are published in version order, and may repeat.
type CustomerEvent struct {
	// Type is "cliente." plus the kind of change: registrado, actualizado,
	// desactivado, reactivado, anonimizado.
	Type string `json:"type"`
	// ID is unique per change ("<clienteId>-<version>"): a consumer that
	// sees one twice drops the second.
	ID        string `json:"id"`
	ClienteID int64  `json:"clienteId"`
	Version   int64  `json:"version"`
	// Fecha is when the service recorded the change (RFC 3339, UTC, ms).
	Fecha string `json:"fecha"`
	// Data is the customer's whole state after the change.
	Data handlers.Cliente `json:"data"`
}

// CustomerEventType is the type of an event of the given kind of change.
func CustomerEventType(kind string) string { return "cliente." + kind }

// NewCustomerEvent builds the record body of e.
func NewCustomerEvent(e handlers.Evento) CustomerEvent {
	return CustomerEvent{
		Type: CustomerEventType(e.Tipo), ID: e.ID, ClienteID: e.Cliente.ID, Version: e.Cliente.Version,
		Fecha: e.Registrado.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Data: e.Cliente,
	}
}

// EventPublisher writes customer events to their topic; it is the
// handlers.Publisher of the outbox relay. Safe for concurrent use.
type EventPublisher struct {
	topic  string
	writer *kafka.Writer
}

var _ handlers.Publisher = (*EventPublisher)(nil)

// NewEventPublisher returns a publisher to topic, which must exist.
func NewEventPublisher(cluster Cluster, topic string) *EventPublisher {
	return &EventPublisher{topic: topic, writer: newWriter(cluster, requestBalancer)}
}

// Publish writes the events in order and returns once every broker replica
// has them (acks=all), or the error of the first failure: then some may
// have been written, and the relay publishes the batch again.
func (p *EventPublisher) Publish(ctx context.Context, events []handlers.Evento) error {
	msgs := make([]kafka.Message, 0, len(events))
	for _, e := range events {
		ev := NewCustomerEvent(e)
		body, err := json.Marshal(ev)
		if err != nil {
			return handlers.Wrap(handlers.CodeInternal, err, "cannot encode event")
		}
		msgs = append(msgs, kafka.Message{
			Topic:   p.topic,
			Key:     []byte(strconv.FormatInt(ev.ClienteID, 10)),
			Value:   body,
			Headers: []kafka.Header{{Key: HeaderEventType, Value: []byte(ev.Type)}},
		})
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := writeReply(wctx, p.writer, msgs...); err != nil {
		return handlers.Wrap(handlers.CodeUnavailable, err, "the message broker is unavailable")
	}
	return nil
}

// Close flushes and closes the writer.
func (p *EventPublisher) Close() error { return p.writer.Close() }

// CustomerEventReader reads the customer events topic as a member of a
// consumer group, for services that follow customers. Each Next commits
// the event it returns before returning the next one: at-least-once, so
// drop events whose version is not above the last one applied.
type CustomerEventReader struct {
	reader *kafka.Reader
	last   *kafka.Message
}

// NewCustomerEventReader joins group on topic; a new group starts at the
// oldest event kept.
func NewCustomerEventReader(cluster Cluster, topic, group string) *CustomerEventReader {
	return &CustomerEventReader{reader: kafka.NewReader(cluster.ReaderConfig(kafka.ReaderConfig{
		GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
		StartOffset: kafka.FirstOffset, CommitInterval: 0,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
		JoinGroupBackoff: 250 * time.Millisecond, ReadLagInterval: -1,
	}))}
}

// Next commits the previous event and returns the next one, waiting until
// ctx ends for it.
func (r *CustomerEventReader) Next(ctx context.Context) (CustomerEvent, error) {
	if r.last != nil {
		if err := r.reader.CommitMessages(ctx, *r.last); err != nil {
			return CustomerEvent{}, err
		}
		r.last = nil
	}
	m, err := r.reader.FetchMessage(ctx)
	if err != nil {
		return CustomerEvent{}, err
	}
	r.last = &m
	var ev CustomerEvent
	if err := json.Unmarshal(m.Value, &ev); err != nil {
		return CustomerEvent{}, handlers.Wrap(handlers.CodeInvalid, err, "undecodable customer event")
	}
	return ev, nil
}

// Close leaves the group.
func (r *CustomerEventReader) Close() error { return r.reader.Close() }

// SalesEventWriter publishes sales events the way the worker expects them:
// keyed by customer id (so one customer's events stay in order), written
// with acks from every replica. A Go sales service uses it; so do tests.
type SalesEventWriter struct {
	topic  string
	writer *kafka.Writer
}

// NewSalesEventWriter returns a writer to topic, which must exist.
func NewSalesEventWriter(cluster Cluster, topic string) *SalesEventWriter {
	return &SalesEventWriter{topic: topic, writer: newWriter(cluster, requestBalancer)}
}

// SalesEvent is one sales event ready to write.
type SalesEvent struct {
	Type      Type
	ClienteID int64
	Data      any
}

// VentaRegistrada is the event of a registered sale.
func VentaRegistrada(d handlers.DatosVenta) SalesEvent {
	return SalesEvent{Type: TypeVentaRegistrada, ClienteID: derefID(d.ClienteID), Data: d}
}

// VentaAnulada is the event of a cancelled sale.
func VentaAnulada(d handlers.DatosAnulacion) SalesEvent {
	return SalesEvent{Type: TypeVentaAnulada, ClienteID: derefID(d.ClienteID), Data: d}
}

func derefID(id *int64) int64 {
	if id == nil {
		return 0
	}
	return *id
}

// Write publishes events in order and returns once the broker has them all.
func (w *SalesEventWriter) Write(ctx context.Context, events ...SalesEvent) error {
	msgs := make([]kafka.Message, 0, len(events))
	for _, e := range events {
		body, err := EncodeRequest(Call{Type: e.Type, Data: e.Data})
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: w.topic, Key: []byte(strconv.FormatInt(e.ClienteID, 10)), Value: body})
	}
	return writeReply(ctx, w.writer, msgs...)
}

// Close flushes and closes the writer.
func (w *SalesEventWriter) Close() error { return w.writer.Close() }
