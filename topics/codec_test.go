package topics

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		field      string
	}{
		{"valid", `{"type":"cliente.obtener","meta":{},"data":{"id":1}}`, true, ""},
		{"unknown meta is fine", `{"type":"cliente.listar","meta":{"traceparent":"x"}}`, true, ""},
		{"not json", `{`, false, ""},
		{"no type", `{"data":{}}`, false, ""},
		{"unknown type", `{"type":"cliente.borrar"}`, false, ""},
		{"type not string", `{"type":5}`, false, "type"},
		{"array", `[]`, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeRequest([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && handlers.ErrorCode(err) != handlers.CodeInvalid {
				t.Fatalf("code %q, want invalid", handlers.ErrorCode(err))
			}
			if tc.field != "" {
				if e := handlers.AsError(err); len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
					t.Fatalf("fields %+v, want %s", e.Fields, tc.field)
				}
			}
		})
	}
	big := make([]byte, MaxMessageBytes+1)
	if _, _, err := decodeRequest(big); handlers.ErrorCode(err) != handlers.CodeInvalid {
		t.Fatalf("oversize: %v", err)
	}
}

func TestRoutingAndReplyHeaders(t *testing.T) {
	corr := []byte{0, 1, 2, 0xff} // binary ids are echoed byte for byte
	r := routingOf([]kafka.Header{
		{Key: "__TypeId__", Value: []byte("x")},
		{Key: HeaderCorrelationID, Value: corr},
		{Key: HeaderReplyTopic, Value: []byte("replies")},
		{Key: HeaderReplyPartition, Value: EncodePartition(3)},
	})
	if string(r.CorrelationID) != string(corr) || r.ReplyTopic != "replies" || r.ReplyPartition != 3 || !r.HasReply() {
		t.Fatalf("routing %+v", r)
	}
	if bad := routingOf([]kafka.Header{{Key: HeaderReplyPartition, Value: []byte{1}}}); bad.ReplyPartition != -1 || bad.HasReply() {
		t.Fatalf("malformed partition header gave %+v", bad)
	}

	msg, err := replyMessage(r, NewReply(TypeObtener, nil, handlers.Conflict("dni")))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, x := range msg.Headers {
		h[x.Key] = string(x.Value)
	}
	if msg.Topic != "replies" || string(msg.Key) != string(corr) || h[HeaderCorrelationID] != string(corr) ||
		h[HeaderErrorCode] != "conflict" || h[HeaderErrorMessage] == "" || h[HeaderReplyPartition] != string(EncodePartition(3)) {
		t.Fatalf("reply message %+v", msg)
	}
	if p := (replyBalancer{}).Balance(msg, 0, 1, 2, 3); p != 3 {
		t.Fatalf("balancer chose %d, want the reply partition 3", p)
	}
	ok, _ := replyMessage(Routing{ReplyTopic: "r", ReplyPartition: -1}, NewReply(TypeObtener, handlers.Cliente{ID: 1}, nil))
	for _, x := range ok.Headers {
		if x.Key == HeaderErrorCode || x.Key == HeaderReplyPartition {
			t.Fatalf("success reply carries %s", x.Key)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	raw, _ := json.Marshal(NewReply(TypeCrear, nil, &handlers.Error{Code: handlers.CodeInvalid, Message: "m", Fields: []handlers.FieldError{{Field: "dni", Message: "x"}}}))
	var r Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	e := handlers.AsError(r.Err())
	if e.Code != handlers.CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "dni" {
		t.Fatalf("decoded %+v", e)
	}
	future := Reply{Status: StatusError, Error: &ErrorBody{Code: "rate_limited", Message: "slow down"}}
	if handlers.ErrorCode(future.Err()) != handlers.CodeInternal {
		t.Fatal("unknown codes from newer peers must map to internal")
	}
}

// FuzzDispatch feeds arbitrary bodies through decoding and the use cases:
// no panic, and every reply is either ok or a well-formed error.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`{"type":"cliente.crear","data":{"dni":"10117410-2","nombre":"Ana","email":"a@b.pe"}}`,
		`{"type":"cliente.actualizar","data":{"id":1,"dni":"10117410","nombre":"Ana","email":"a@b.pe","activo":false}}`,
		`{"type":"cliente.eliminar","data":{"id":1}}`,
		`{"type":"cliente.anonimizar","data":{"id":1}}`,
		`{"type":"cliente.auditoria","data":{"id":1,"limite":0}}`,
		`{"type":"cliente.obtenerPorDni","data":{"dni":{"$ne":""}}}`,
		`{"type":"cliente.listar","data":{"activo":true,"limite":-1}}`,
		`{"type":"cliente.obtener","data":null}`,
		`{"type":"x"}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now})
	hs := []Handler{Dispatcher(svc, ServiceRequests), Dispatcher(svc, AdminRequests)}
	f.Fuzz(func(t *testing.T, body []byte) {
		m := Message{Body: body, Type: peekType(body)}
		for _, h := range hs {
			res, err := h(context.Background(), m)
			checkReply(t, NewReply(m.Type, res, err))
		}
	})
}

// checkReply fails t unless reply is ok with data of a known type, or a
// well-formed error.
func checkReply(t *testing.T, reply Reply) {
	t.Helper()
	switch reply.Status {
	case StatusOK:
		if reply.Error != nil || len(reply.Data) == 0 || !known(reply.Type) {
			t.Fatalf("ok reply %+v", reply)
		}
	case StatusError:
		if reply.Error == nil || !reply.Error.Code.Known() || reply.Error.Message == "" {
			t.Fatalf("error reply %+v", reply)
		}
	default:
		t.Fatalf("status %q", reply.Status)
	}
	if _, err := json.Marshal(reply); err != nil {
		t.Fatal(err)
	}
}
