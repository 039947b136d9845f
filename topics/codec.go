package topics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jea/cliente/handlers"
)

// MaxMessageBytes bounds the value of a request or sales event record: the
// one limit of the contract (CONTRACT.md §2.3). A larger value is answered
// invalid unread and dead-lettered as oversize. Topics allow records of
// maxRecordBytes, twice as much, so such values reach the worker to be
// answered instead of being refused by the broker.
const MaxMessageBytes = 1 << 20

// EncodeRequest builds the JSON body of c. HTML characters are not
// escaped (a "<" would grow to six bytes), and a body over MaxMessageBytes
// is refused as invalid, naming the largest field of the payload, before
// anything is sent.
func EncodeRequest(c Call) ([]byte, error) {
	data, err := marshal(c.Data)
	if err != nil {
		return nil, fmt.Errorf("topics: encode %s payload: %w", c.Type, err)
	}
	body, err := marshal(Request{Type: c.Type, Meta: c.Meta, Data: data})
	if err != nil {
		return nil, fmt.Errorf("topics: encode %s: %w", c.Type, err)
	}
	if len(body) > MaxMessageBytes {
		return nil, &handlers.Error{Code: handlers.CodeInvalid, Message: fmt.Sprintf("the request is larger than %d bytes", MaxMessageBytes),
			Fields: []handlers.FieldError{{Field: largestMember(data), Message: "is too large"}}}
	}
	return body, nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// largestMember names the largest member of the JSON object raw, or
// "data" if raw is not an object.
func largestMember(raw []byte) string {
	var members map[string]json.RawMessage
	name, size := "data", -1
	if json.Unmarshal(raw, &members) == nil {
		for k, v := range members {
			if len(v) > size || (len(v) == size && k < name) {
				name, size = k, len(v)
			}
		}
	}
	return name
}

// decodeRequest parses a request body. Every failure is an *handlers.Error
// with CodeInvalid, so it can be sent back as an error reply as it is, and
// comes with the dead-letter reason it is.
func decodeRequest(body []byte) (Request, string, error) {
	return decodeEnvelope(body, "message", known)
}

// decodeEnvelope parses the envelope shared by requests and sales events
// (what names which in messages), accepting the types known says.
func decodeEnvelope(body []byte, what string, known func(Type) bool) (Request, string, error) {
	var req Request
	if len(body) > MaxMessageBytes {
		return req, DeadLetterOversize, handlers.Errorf(handlers.CodeInvalid, "%s larger than %d bytes", what, MaxMessageBytes)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, DeadLetterUndecodable, invalidJSON(what, err)
	}
	if req.Type == "" {
		return req, DeadLetterUndecodable, handlers.Errorf(handlers.CodeInvalid, "%s has no type", what)
	}
	if !known(req.Type) {
		return Request{}, DeadLetterUnknownType, handlers.Errorf(handlers.CodeInvalid, "unknown %s type %q", what, req.Type)
	}
	return req, "", nil
}

// DecodeData parses a request's payload into v.
func DecodeData(req Request, v any) error {
	if len(bytes.TrimSpace(req.Data)) == 0 || bytes.Equal(bytes.TrimSpace(req.Data), []byte("null")) {
		return handlers.Errorf(handlers.CodeInvalid, "%s message has no data", req.Type)
	}
	if err := json.Unmarshal(req.Data, v); err != nil {
		return invalidJSON("data", err)
	}
	return nil
}

// invalidJSON describes a JSON decoding error without echoing input back,
// naming the offending field when the decoder knows it.
func invalidJSON(what string, err error) *handlers.Error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &handlers.Error{
			Code:    handlers.CodeInvalid,
			Message: fmt.Sprintf("%s is not valid", what),
			Fields:  []handlers.FieldError{{Field: typeErr.Field, Message: "must be of type " + jsonTypeName(typeErr.Type.Kind().String())}},
			Err:     err,
		}
	}
	return handlers.Wrap(handlers.CodeInvalid, err, what+" is not valid JSON of the expected shape")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}

// NewReply builds the reply to a request of type t from a handler's result.
func NewReply(t Type, data any, err error) Reply {
	if err != nil {
		return Reply{Type: t, Status: StatusError, Error: NewErrorBody(err)}
	}
	raw, mErr := json.Marshal(data)
	if mErr != nil {
		return Reply{Type: t, Status: StatusError, Error: NewErrorBody(mErr)}
	}
	return Reply{Type: t, Status: StatusOK, Data: raw}
}

// Err returns the reply's error, or nil for a successful reply.
func (r Reply) Err() error {
	if r.Status == StatusOK {
		return nil
	}
	if r.Error == nil {
		return handlers.Errorf(handlers.CodeInternal, "error reply without error body")
	}
	return r.Error.Err()
}

// Decode parses a successful reply's data into v, or returns its error.
func (r Reply) Decode(v any) error {
	if err := r.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return handlers.Wrap(handlers.CodeInternal, err, "reply data is not of the expected shape")
	}
	return nil
}

// Routing is where a request wants its reply. It is read from headers only,
// so a message whose body cannot be decoded still gets its error reply.
type Routing struct {
	CorrelationID []byte
	ReplyTopic    string
	// ReplyPartition is the partition to reply to, or -1 for "any".
	ReplyPartition int32
}

// HasReply reports whether the requester asked for a reply.
func (r Routing) HasReply() bool { return r.ReplyTopic != "" }

// EncodePartition is the 4-byte big-endian form of kafka_replyPartition.
func EncodePartition(p int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(p)) }

// DecodePartition reads a kafka_replyPartition value; ok is false if it is
// not 4 bytes or is negative.
func DecodePartition(b []byte) (int32, bool) {
	if len(b) != 4 {
		return -1, false
	}
	p := int32(binary.BigEndian.Uint32(b))
	return p, p >= 0
}

// DefaultReplyTimeout is how long a requester that sends no
// HeaderDeadline is assumed to wait: Spring's ReplyingKafkaTemplate's
// default reply timeout.
const DefaultReplyTimeout = 5 * time.Second

// EncodeDeadline is the HeaderDeadline value of t.
func EncodeDeadline(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixMilli(), 10) }

// deadlineOf is the request's deadline: its header, else, if a reply is
// asked for, the record's time plus DefaultReplyTimeout; zero for none
// (a request nobody waits for). An unreadable header counts as absent.
func deadlineOf(header []byte, hasHeader bool, r Routing, recordTime time.Time) time.Time {
	if hasHeader {
		if ms, err := strconv.ParseInt(string(header), 10, 64); err == nil && ms > 0 {
			return time.UnixMilli(ms)
		}
	}
	// A record without a timestamp (-1, read as before 1970) gets none.
	if r.HasReply() && recordTime.Unix() > 0 {
		return recordTime.Add(DefaultReplyTimeout)
	}
	return time.Time{}
}
