package topics

import (
	"bytes"
	"context"

	"github.com/jea/cliente/handlers"
)

// operation is one request type of the contract: whether it is a command
// (it changes state, goes to the command topic and runs under an
// idempotency key), and how its payload decodes into a call of its use
// case.
type operation struct {
	command bool
	// run decodes req's payload and calls the use case. A payload that does
	// not decode is a poison error before anything runs.
	run func(ctx context.Context, svc *handlers.Service, req Request) (any, error)
}

// operations registers every request type. Adding an operation is one
// line here, its payload type in contract.go and its use case in
// handlers/; the consumer, the requester's topic choice and the metrics'
// known types all read this table.
var operations = map[Type]operation{
	TypeCrear: command(func(ctx context.Context, s *handlers.Service, d handlers.Datos, c handlers.Cambio) (any, error) {
		return s.Crear(ctx, d, c)
	}),
	TypeActualizar: command(func(ctx context.Context, s *handlers.Service, a Actualizar, c handlers.Cambio) (any, error) {
		return s.Actualizar(ctx, a.ID, a.Datos, c)
	}),
	TypeEliminar: command(func(ctx context.Context, s *handlers.Service, p ID, c handlers.Cambio) (any, error) {
		return s.Eliminar(ctx, p.ID, c)
	}),
	TypeObtener: query(func(ctx context.Context, s *handlers.Service, p ID) (any, error) {
		return s.Obtener(ctx, p.ID)
	}),
	TypeObtenerPorDNI: query(func(ctx context.Context, s *handlers.Service, p PorDNI) (any, error) {
		return s.ObtenerPorDNI(ctx, p.DNI)
	}),
	TypeObtenerPorEmail: query(func(ctx context.Context, s *handlers.Service, p PorEmail) (any, error) {
		return s.ObtenerPorEmail(ctx, p.Email)
	}),
	TypeObtenerVarios: query(func(ctx context.Context, s *handlers.Service, p IDs) (any, error) {
		return s.ObtenerVarios(ctx, p.IDs)
	}),
	TypeValidarParaVenta: query(func(ctx context.Context, s *handlers.Service, p ID) (any, error) {
		return s.ValidarParaVenta(ctx, p.ID)
	}),
	TypeCompras: query(func(ctx context.Context, s *handlers.Service, p Compras) (any, error) {
		return s.Compras(ctx, p.ID, p.Limite, p.Cursor)
	}),
	TypeResumen: query(func(ctx context.Context, s *handlers.Service, p ID) (any, error) {
		return s.Resumen(ctx, p.ID)
	}),
	// Listing everything needs no payload.
	TypeListar: optional(query(func(ctx context.Context, s *handlers.Service, p Listar) (any, error) {
		return s.Listar(ctx, handlers.Filtro{Activo: p.Activo, DespuesDeID: p.DespuesDeID, Limite: p.Limite})
	})),
}

// known reports whether t is a request type of this version of the
// contract.
func known(t Type) bool {
	_, ok := operations[t]
	return ok
}

// isCommand reports whether t changes state.
func isCommand(t Type) bool { return operations[t].command }

// query registers a read: its payload P and the use case it calls.
func query[P any](call func(context.Context, *handlers.Service, P) (any, error)) operation {
	return operation{run: func(ctx context.Context, svc *handlers.Service, req Request) (any, error) {
		var p P
		if err := decodePayload(req, &p); err != nil {
			return nil, err
		}
		return call(ctx, svc, p)
	}}
}

// command registers a change: like query, and the use case also gets the
// expected version and idempotency key from the request's meta.
func command[P any](call func(context.Context, *handlers.Service, P, handlers.Cambio) (any, error)) operation {
	return operation{command: true, run: func(ctx context.Context, svc *handlers.Service, req Request) (any, error) {
		var p P
		if err := decodePayload(req, &p); err != nil {
			return nil, err
		}
		return call(ctx, svc, p, handlers.Cambio{Version: req.Meta.ExpectedVersion, IdempotencyKey: req.Meta.IdempotencyKey})
	}}
}

// decodePayload decodes req's payload into p; a payload that does not
// decode can never succeed as sent.
func decodePayload(req Request, p any) error {
	if err := DecodeData(req, p); err != nil {
		return deadLetter(DeadLetterUndecodable, err)
	}
	return nil
}

// optional lets op run with no payload at all, as its zero value.
func optional(op operation) operation {
	run := op.run
	op.run = func(ctx context.Context, svc *handlers.Service, req Request) (any, error) {
		if d := bytes.TrimSpace(req.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
			req.Data = []byte("{}")
		}
		return run(ctx, svc, req)
	}
	return op
}
