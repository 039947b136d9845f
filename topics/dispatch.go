package topics

import (
	"context"

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
	Crear(ctx context.Context, d handlers.Datos) (handlers.Cliente, error)
	Actualizar(ctx context.Context, id int64, d handlers.Datos, cond handlers.Condicion) (handlers.Cliente, error)
	Eliminar(ctx context.Context, id int64, cond handlers.Condicion) (handlers.Cliente, error)
	Obtener(ctx context.Context, id int64) (handlers.Cliente, error)
	ObtenerPorDNI(ctx context.Context, dni string) (handlers.Cliente, error)
	ObtenerPorEmail(ctx context.Context, email string) (handlers.Cliente, error)
	Listar(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error)
}

var _ Service = (*handlers.Service)(nil)

// Dispatcher decodes each message and calls the matching use case.
func Dispatcher(svc Service) Handler {
	return func(ctx context.Context, m Message) Reply {
		req, err := DecodeRequest(m.Body)
		if err != nil {
			return NewReply(req.Type, nil, err)
		}
		data, err := dispatch(ctx, svc, req)
		return NewReply(req.Type, data, err)
	}
}

func dispatch(ctx context.Context, svc Service, req Request) (any, error) {
	switch req.Type {
	case TypeCrear:
		var d handlers.Datos
		if err := DecodeData(req, &d); err != nil {
			return nil, err
		}
		return svc.Crear(ctx, d)
	case TypeActualizar:
		var a Actualizar
		if err := DecodeData(req, &a); err != nil {
			return nil, err
		}
		return svc.Actualizar(ctx, a.ID, a.Datos, handlers.Condicion{Version: req.Meta.ExpectedVersion})
	case TypeEliminar:
		var id ID
		if err := DecodeData(req, &id); err != nil {
			return nil, err
		}
		return svc.Eliminar(ctx, id.ID, handlers.Condicion{Version: req.Meta.ExpectedVersion})
	case TypeObtener:
		var id ID
		if err := DecodeData(req, &id); err != nil {
			return nil, err
		}
		return svc.Obtener(ctx, id.ID)
	case TypeObtenerPorDNI:
		var q PorDNI
		if err := DecodeData(req, &q); err != nil {
			return nil, err
		}
		return svc.ObtenerPorDNI(ctx, q.DNI)
	case TypeObtenerPorEmail:
		var q PorEmail
		if err := DecodeData(req, &q); err != nil {
			return nil, err
		}
		return svc.ObtenerPorEmail(ctx, q.Email)
	case TypeListar:
		var q Listar
		if len(req.Data) > 0 && string(req.Data) != "null" {
			if err := DecodeData(req, &q); err != nil {
				return nil, err
			}
		}
		return svc.Listar(ctx, handlers.Filtro{Activo: q.Activo, DespuesDeID: q.DespuesDeID, Limite: q.Limite})
	}
	return nil, handlers.Errorf(handlers.CodeInvalid, "unknown message type %q", req.Type)
}
