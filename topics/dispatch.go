package topics

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/jea/cliente/handlers"
)

// Message is one consumed request as the worker sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Body      []byte
	Routing   Routing
}

// Handler turns a request message into its reply. It never fails: failures
// are error replies. Handlers must be safe for concurrent use.
type Handler func(ctx context.Context, m Message) Reply

// Middleware decorates a Handler with a cross-cutting concern.
type Middleware func(Handler) Handler

// Chain applies middlewares so that the first one is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Service is what the worker needs from the use cases; *handlers.Service
// implements it.
type Service interface {
	Crear(ctx context.Context, d handlers.Datos, cambio handlers.Cambio) (handlers.Cliente, error)
	Actualizar(ctx context.Context, id int64, d handlers.Datos, cond handlers.Cambio) (handlers.Cliente, error)
	Eliminar(ctx context.Context, id int64, cond handlers.Cambio) (handlers.Cliente, error)
	Obtener(ctx context.Context, id int64) (handlers.Cliente, error)
	ObtenerPorDNI(ctx context.Context, dni string) (handlers.Cliente, error)
	ObtenerPorEmail(ctx context.Context, email string) (handlers.Cliente, error)
	Listar(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error)
	ObtenerVarios(ctx context.Context, ids []int64) ([]handlers.Cliente, error)
	ValidarParaVenta(ctx context.Context, id int64) (handlers.Validacion, error)
	Compras(ctx context.Context, id int64, limite int, cursor string) (handlers.HistorialCompras, error)
	Resumen(ctx context.Context, id int64) (handlers.Resumen, error)
}

var _ Service = (*handlers.Service)(nil)

// Dispatcher decodes each message and calls the matching use case.
func Dispatcher(svc Service) Handler {
	return func(ctx context.Context, m Message) Reply {
		req, reason, err := decodeRequest(m.Body)
		if err != nil {
			reply := NewReply(req.Type, nil, err)
			reply.poison = reason
			return reply
		}
		if req.Type.IsCommand() {
			key, err := CommandKey(req, m)
			if err != nil {
				return NewReply(req.Type, nil, err)
			}
			req.Meta.IdempotencyKey = key
		}
		run, err := parse(svc, req)
		if err != nil {
			reply := NewReply(req.Type, nil, err)
			reply.poison = DeadLetterUndecodable
			return reply
		}
		data, err := run(ctx)
		return NewReply(req.Type, data, err)
	}
}

// MaxIdempotencyKeyLen bounds a caller's idempotency key.
const MaxIdempotencyKeyLen = 200

// CommandKey is the idempotency key a command runs under: the caller's
// meta.idempotencyKey when given; otherwise the request's correlation id,
// which stays the same when Kafka redelivers the message; otherwise the
// message's topic, partition and offset. Prefixes keep the three kinds
// apart, so a caller's key can never equal a derived one.
func CommandKey(req Request, m Message) (string, error) {
	if k := req.Meta.IdempotencyKey; k != "" {
		if len(k) > MaxIdempotencyKeyLen || !printableASCII(k) {
			return "", &handlers.Error{Code: handlers.CodeInvalid, Message: "the idempotency key is not valid",
				Fields: []handlers.FieldError{{Field: "idempotencyKey", Message: fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxIdempotencyKeyLen)}}}
		}
		return "k:" + k, nil
	}
	if len(m.Routing.CorrelationID) > 0 {
		return "c:" + hex.EncodeToString(m.Routing.CorrelationID), nil
	}
	return fmt.Sprintf("o:%s/%d/%d", m.Topic, m.Partition, m.Offset), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parse decodes req's payload and returns the use case call it asks for;
// a payload that does not decode is an error before anything runs.
func parse(svc Service, req Request) (func(ctx context.Context) (any, error), error) {
	cambio := handlers.Cambio{Version: req.Meta.ExpectedVersion, IdempotencyKey: req.Meta.IdempotencyKey}
	switch req.Type {
	case TypeCrear:
		var d handlers.Datos
		return func(ctx context.Context) (any, error) { return svc.Crear(ctx, d, cambio) }, DecodeData(req, &d)
	case TypeActualizar:
		var a Actualizar
		return func(ctx context.Context) (any, error) { return svc.Actualizar(ctx, a.ID, a.Datos, cambio) }, DecodeData(req, &a)
	case TypeEliminar:
		var id ID
		return func(ctx context.Context) (any, error) { return svc.Eliminar(ctx, id.ID, cambio) }, DecodeData(req, &id)
	case TypeObtener:
		var id ID
		return func(ctx context.Context) (any, error) { return svc.Obtener(ctx, id.ID) }, DecodeData(req, &id)
	case TypeObtenerPorDNI:
		var q PorDNI
		return func(ctx context.Context) (any, error) { return svc.ObtenerPorDNI(ctx, q.DNI) }, DecodeData(req, &q)
	case TypeObtenerPorEmail:
		var q PorEmail
		return func(ctx context.Context) (any, error) { return svc.ObtenerPorEmail(ctx, q.Email) }, DecodeData(req, &q)
	case TypeObtenerVarios:
		var q IDs
		return func(ctx context.Context) (any, error) { return svc.ObtenerVarios(ctx, q.IDs) }, DecodeData(req, &q)
	case TypeValidarParaVenta:
		var id ID
		return func(ctx context.Context) (any, error) { return svc.ValidarParaVenta(ctx, id.ID) }, DecodeData(req, &id)
	case TypeCompras:
		var q Compras
		return func(ctx context.Context) (any, error) { return svc.Compras(ctx, q.ID, q.Limite, q.Cursor) }, DecodeData(req, &q)
	case TypeResumen:
		var id ID
		return func(ctx context.Context) (any, error) { return svc.Resumen(ctx, id.ID) }, DecodeData(req, &id)
	case TypeListar:
		var q Listar
		var err error
		if len(req.Data) > 0 && string(req.Data) != "null" { // listing everything needs no payload
			err = DecodeData(req, &q)
		}
		return func(ctx context.Context) (any, error) {
			return svc.Listar(ctx, handlers.Filtro{Activo: q.Activo, DespuesDeID: q.DespuesDeID, Limite: q.Limite})
		}, err
	}
	return nil, handlers.Errorf(handlers.CodeInvalid, "unknown message type %q", req.Type)
}
