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
	// admin operations are served on the admin topic only (see
	// DefaultAdminTopic), and only they are.
	admin bool
	// run decodes req's payload and calls the use case. A payload that does
	// not decode is a poison error before anything runs.
	run func(ctx context.Context, svc *handlers.Service, req Request) (any, error)
}

// operations registers every request type. Adding an operation is one
// line here, its payload type in contract.go and its use case in
// handlers/; the consumer, the requester's topic choice and the metrics'
// known types all read this table.
var operations = map[Type]operation{
	TypeCrear: command((*handlers.Service).Crear),
	TypeActualizar: command(func(s *handlers.Service, ctx context.Context, p Actualizar, c handlers.Cambio) (handlers.Cliente, error) {
		return s.Actualizar(ctx, p.ID, p.Datos, c)
	}),
	TypeEliminar: command(func(s *handlers.Service, ctx context.Context, p ID, c handlers.Cambio) (handlers.Cliente, error) {
		return s.Eliminar(ctx, p.ID, c)
	}),
	TypeObtener: query(func(s *handlers.Service, ctx context.Context, p ID) (handlers.Cliente, error) {
		return s.Obtener(ctx, p.ID)
	}),
	TypeObtenerPorDNI: query(func(s *handlers.Service, ctx context.Context, p PorDNI) (handlers.Cliente, error) {
		return s.ObtenerPorDNI(ctx, p.DNI)
	}),
	TypeObtenerPorEmail: query(func(s *handlers.Service, ctx context.Context, p PorEmail) (handlers.Cliente, error) {
		return s.ObtenerPorEmail(ctx, p.Email)
	}),
	TypeObtenerVarios: query(func(s *handlers.Service, ctx context.Context, p IDs) ([]handlers.Cliente, error) {
		return s.ObtenerVarios(ctx, p.IDs)
	}),
	TypeValidarParaVenta: query(func(s *handlers.Service, ctx context.Context, p ID) (handlers.Validacion, error) {
		return s.ValidarParaVenta(ctx, p.ID)
	}),
	TypeCompras: query(func(s *handlers.Service, ctx context.Context, p Compras) (handlers.HistorialCompras, error) {
		return s.Compras(ctx, p.ID, p.Limite, p.Cursor)
	}),
	TypeResumen: query(func(s *handlers.Service, ctx context.Context, p ID) (handlers.Resumen, error) {
		return s.Resumen(ctx, p.ID)
	}),
	TypeAuditoria: admin(query(func(s *handlers.Service, ctx context.Context, p Auditoria) (handlers.PaginaAuditoria, error) {
		return s.Auditoria(ctx, p.ID, p.Limite, p.Cursor)
	})),
	TypeDatos: admin(query(func(s *handlers.Service, ctx context.Context, p ID) (handlers.DatosCliente, error) {
		return s.Datos(ctx, p.ID)
	})),
	TypeAnonimizar: admin(command(func(s *handlers.Service, ctx context.Context, p ID, c handlers.Cambio) (handlers.Cliente, error) {
		return s.Anonimizar(ctx, p.ID, c)
	})),
	// Listing everyone needs no payload.
	TypeListar: optional(query((*handlers.Service).Listar)),
	TypeBuscar: query((*handlers.Service).Buscar),
	// Reports: the acquisition one takes an optional period and range.
	TypeReporteAdquisicion: optional(query((*handlers.Service).ReporteAdquisicion)),
	TypeReporteRetencion:   report((*handlers.Service).ReporteRetencion),
	TypeReporteGeografia:   report((*handlers.Service).ReporteGeografia),
	TypeReporteCanales:     report((*handlers.Service).ReporteCanales),
	TypeReporteValor:       report((*handlers.Service).ReporteValor),
}

// known reports whether t is a request type of this version of the
// contract.
func known(t Type) bool {
	_, ok := operations[t]
	return ok
}

// isCommand reports whether t changes state.
func isCommand(t Type) bool { return operations[t].command }

// isAdmin reports whether t is an administration operation.
func isAdmin(t Type) bool { return operations[t].admin }

// admin marks op as an administration operation.
func admin(op operation) operation {
	op.admin = true
	return op
}

// query registers a read: its payload P and the use case it calls, often
// a method expression such as (*handlers.Service).Listar.
func query[P, R any](call func(*handlers.Service, context.Context, P) (R, error)) operation {
	return operation{run: func(ctx context.Context, svc *handlers.Service, req Request) (any, error) {
		var p P
		if err := decodePayload(req, &p); err != nil {
			return nil, err
		}
		return call(svc, ctx, p)
	}}
}

// command registers a change: like query, and the use case also gets the
// expected version and idempotency key from the request's meta, and the
// caller (meta.principal, meta.clientId) in its context, for the audit
// trail.
func command[P, R any](call func(*handlers.Service, context.Context, P, handlers.Cambio) (R, error)) operation {
	return operation{command: true, run: func(ctx context.Context, svc *handlers.Service, req Request) (any, error) {
		var p P
		if err := decodePayload(req, &p); err != nil {
			return nil, err
		}
		if req.Meta.Principal != "" || req.Meta.ClientID != "" {
			ctx = handlers.WithPrincipal(ctx, handlers.Principal{Subject: req.Meta.Principal, ClientID: req.Meta.ClientID})
		}
		return call(svc, ctx, p, handlers.Cambio{Version: req.Meta.ExpectedVersion, IdempotencyKey: req.Meta.IdempotencyKey})
	}}
}

// report registers a query without parameters; a payload, if sent, must
// be a JSON object (whose fields are ignored).
func report[R any](call func(*handlers.Service, context.Context) (R, error)) operation {
	return optional(query(func(s *handlers.Service, ctx context.Context, _ struct{}) (R, error) { return call(s, ctx) }))
}

// decodePayload decodes req's payload into p; a payload that does not
// decode can never succeed as sent, so it is also dead-lettered.
func decodePayload(req Request, p any) error {
	// Text that decoding would silently repair is refused, naming the field.
	if err := handlers.CheckJSONText(req.Data); err != nil {
		return err
	}
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
