package topics

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
)

// Message is one consumed record as a Handler sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Body      []byte
	Routing   Routing
	// Type is the body's "type" as sent, known or not ("" if the body has
	// none or is too large to read): the reply echoes it.
	Type Type
	// Deadline is when the requester stops waiting (HeaderDeadline, or
	// the default for a request that asks for a reply); zero for none.
	Deadline time.Time

	headers []kafka.Header // the record's headers, for its dead-letter copy
}

// Handler handles one message and returns its result or its error; the
// consumer makes the reply from them (NewReply), in one place. An error
// marked with deadLetter also sends the message to the dead-letter topic
// (DeadLetters). Handlers must be safe for concurrent use.
type Handler func(ctx context.Context, m Message) (any, error)

// Middleware decorates a Handler with a cross-cutting concern.
type Middleware func(Handler) Handler

// Chain applies middlewares so that the first one is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Requests says which operations a request topic serves.
type Requests int

const (
	// ServiceRequests: the command and query topics serve every operation
	// but the administration ones.
	ServiceRequests Requests = iota
	// AdminRequests: the admin topic serves the administration operations
	// only.
	AdminRequests
)

// Dispatcher decodes each request and runs the operation its type names
// (see operations), if it is one of the operations served (see Requests).
// The broker's ACLs decide who may write to which topic, so an
// administration operation arriving on another topic is refused: whoever
// sent it there may not have the right to send it at all.
func Dispatcher(svc *handlers.Service, served Requests) Handler {
	return func(ctx context.Context, m Message) (any, error) {
		req, reason, err := decodeRequest(m.Body)
		if err != nil {
			return nil, deadLetter(reason, err)
		}
		op := operations[req.Type]
		if op.admin != (served == AdminRequests) {
			return nil, wrongTopic(req.Type, op.admin)
		}
		if op.command {
			key, err := CommandKey(req, m)
			if err != nil {
				return nil, err
			}
			req.Meta.IdempotencyKey = key
		}
		return op.run(ctx, svc, req)
	}
}

// wrongTopic is the refusal of a request sent to a topic that does not
// serve its type.
func wrongTopic(t Type, admin bool) error {
	msg := fmt.Sprintf("%s is served on the admin topic only", t)
	if !admin {
		msg = fmt.Sprintf("%s is not served on the admin topic", t)
	}
	return &handlers.Error{Code: handlers.CodeInvalid, Message: msg,
		Fields: []handlers.FieldError{{Field: "type", Message: msg}}}
}

// MaxIdempotencyKeyLen bounds a caller's idempotency key.
const MaxIdempotencyKeyLen = 200

// CommandKey is the idempotency key a command runs under: the caller's
// meta.idempotencyKey when given, scoped to the caller (meta.clientId and
// meta.principal), so two callers can never replay each other's results;
// otherwise the request's correlation id,
// which stays the same when Kafka redelivers the message; otherwise the
// message's topic, partition and offset. Prefixes keep the three kinds
// apart, so a caller's key can never equal a derived one.
func CommandKey(req Request, m Message) (string, error) {
	if k := req.Meta.IdempotencyKey; k != "" {
		if len(k) > MaxIdempotencyKeyLen || !handlers.PrintableASCII(k) {
			return "", &handlers.Error{Code: handlers.CodeInvalid, Message: "the idempotency key is not valid",
				Fields: []handlers.FieldError{{Field: "idempotencyKey", Message: fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxIdempotencyKeyLen)}}}
		}
		return "k:" + callerScope(req.Meta) + k, nil
	}
	if len(m.Routing.CorrelationID) > 0 {
		return "c:" + hex.EncodeToString(m.Routing.CorrelationID), nil
	}
	return fmt.Sprintf("o:%s/%d/%d", m.Topic, m.Partition, m.Offset), nil
}

// callerScope prefixes a caller's idempotency key with who sent it,
// length-prefixed so that no two callers' scopes run into each other. An
// anonymous caller (no principal, e.g. on the open dev broker) keeps the
// bare key.
func callerScope(m Meta) string {
	if m.Principal == "" && m.ClientID == "" {
		return ""
	}
	return fmt.Sprintf("%d:%s%d:%s|", len(m.ClientID), m.ClientID, len(m.Principal), m.Principal)
}
