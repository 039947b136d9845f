// Package client is the Go client of the customer service over Kafka
// request/reply: every operation of the contract as a typed method. A sales
// service imports it to get one customer, many customers in one request
// (never one call per sale), a customer by DNI, and whether a customer may
// buy; the HTTP edge uses it for every route. The customer operations have
// the signatures of handlers.Service, so a caller can depend on an
// interface that both satisfy.
//
// It never makes a customer up: when the customer service cannot answer,
// every method returns an error matching ErrUnavailable, so "does this
// customer exist" cannot pass by accident.
//
// A Client is safe for concurrent use. It owns one reply topic, read by one
// consumer without a consumer group, so no rebalance ever pauses replies;
// give each running instance its own ReplyTopic.
package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// Errors a call may match with errors.Is.
var (
	// ErrNotFound: no customer with that id or DNI.
	ErrNotFound = errors.New("customer not found")
	// ErrInactive: the customer exists but is deactivated and may not buy.
	ErrInactive = errors.New("customer is inactive")
	// ErrUnavailable: no answer in time, or the customer service could not
	// reach its database or the broker. The outcome is unknown: retry.
	ErrUnavailable = errors.New("customer service unavailable")
)

// Config configures a Client.
type Config struct {
	// Cluster is the brokers and credentials (topics.NewCluster).
	Cluster topics.Cluster
	// ReplyTopic must be this instance's own; it is created if missing.
	ReplyTopic string
	// CommandTopic, QueryTopic and AdminTopic default to the service's
	// defaults. Only a user the broker lets write to the admin topic can
	// call Auditoria, Datos and Anonimizar.
	CommandTopic, QueryTopic, AdminTopic string
	// ReplicationFactor of the reply topic if it has to be created.
	ReplicationFactor int
	// Timeout bounds each call (a caller's earlier deadline wins); default 5 s.
	Timeout time.Duration
	Log     zerolog.Logger
}

// Caller sends one request and waits for its reply. *topics.Requester
// is the Kafka one; tests may give their own to Over.
type Caller interface {
	Call(ctx context.Context, c topics.Call) (topics.Reply, error)
}

// Client calls the customer service.
type Client struct {
	caller  Caller
	timeout time.Duration
	close   func()
}

// New starts a client: it creates the reply topic if needed and starts
// reading it. ctx bounds only the start.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.CommandTopic == "" {
		cfg.CommandTopic = topics.DefaultCommandTopic
	}
	if cfg.QueryTopic == "" {
		cfg.QueryTopic = topics.DefaultQueryTopic
	}
	if cfg.AdminTopic == "" {
		cfg.AdminTopic = topics.DefaultAdminTopic
	}
	if cfg.ReplyTopic == "" {
		return nil, errors.New("client: ReplyTopic is required (one per instance)")
	}
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{
		Cluster: cfg.Cluster, CommandTopic: cfg.CommandTopic, QueryTopic: cfg.QueryTopic, AdminTopic: cfg.AdminTopic,
		ReplyTopic: cfg.ReplyTopic, ReplicationFactor: cfg.ReplicationFactor, Log: cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := Over(req, cfg.Timeout)
	c.close = req.Close
	return c, nil
}

// Over returns a client that sends through caller, waiting at most timeout
// for each reply (default 5 s).
func Over(caller Caller, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Client{caller: caller, timeout: timeout, close: func() {}}
}

// Close stops reading replies; calls in flight end with their contexts.
func (c *Client) Close() { c.close() }

// Check reports whether the client can work: for a Kafka client, its reply
// reader is alive and the broker answers for the request topics.
func (c *Client) Check(ctx context.Context) error {
	if ch, ok := c.caller.(interface{ Check(context.Context) error }); ok {
		return ch.Check(ctx)
	}
	return nil
}

// Crear registers a customer; cambio.IdempotencyKey makes a retry safe.
func (c *Client) Crear(ctx context.Context, d handlers.Datos, cambio handlers.Cambio) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, withCambio(topics.Crear(d), cambio), &out)
}

// Actualizar replaces the editable fields of customer id; cambio.Version
// makes it conditional.
func (c *Client) Actualizar(ctx context.Context, id int64, d handlers.Datos, cambio handlers.Cambio) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, withCambio(topics.ActualizarCliente(id, d), cambio), &out)
}

// Eliminar deactivates customer id (soft delete) and returns it.
func (c *Client) Eliminar(ctx context.Context, id int64, cambio handlers.Cambio) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, withCambio(topics.Eliminar(id), cambio), &out)
}

// Anonimizar erases customer id's personal data for good and returns the
// anonymised customer; anonymising it again changes nothing.
func (c *Client) Anonimizar(ctx context.Context, id int64, cambio handlers.Cambio) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, withCambio(topics.Anonimizar(id), cambio), &out)
}

// Auditoria returns a page of customer id's audit trail, newest first:
// limite entries (nil for the default), after cursor ("" for the first
// page). An invalid limite fails here, without a round trip.
func (c *Client) Auditoria(ctx context.Context, id int64, limite *int, cursor string) (handlers.PaginaAuditoria, error) {
	var out handlers.PaginaAuditoria
	if _, err := handlers.LimiteAuditoria(limite); err != nil {
		return out, fmt.Errorf("%s: %w", topics.TypeAuditoria, err)
	}
	return out, c.call(ctx, topics.AuditoriaDe(topics.Auditoria{ID: id, Limite: limite, Cursor: cursor}), &out)
}

// Datos returns everything held about customer id in one document.
func (c *Client) Datos(ctx context.Context, id int64) (handlers.DatosCliente, error) {
	var out handlers.DatosCliente
	return out, c.call(ctx, topics.DatosDe(id), &out)
}

func withCambio(call topics.Call, c handlers.Cambio) topics.Call {
	call.Meta.IdempotencyKey, call.Meta.ExpectedVersion = c.IdempotencyKey, c.Version
	return call
}

// ObtenerPorEmail returns the customer with that email, in any letter case.
func (c *Client) ObtenerPorEmail(ctx context.Context, email string) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, topics.ObtenerPorEmail(email), &out)
}

// Listar returns a page of the customers q selects, by id; pass the
// page's Siguiente as q.Cursor for the next one.
func (c *Client) Listar(ctx context.Context, q handlers.ConsultaClientes) (handlers.PaginaClientes, error) {
	var out handlers.PaginaClientes
	return out, c.call(ctx, topics.ListarClientes(q), &out)
}

// Buscar is Listar with a search by name: q.Q is required.
func (c *Client) Buscar(ctx context.Context, q handlers.ConsultaClientes) (handlers.PaginaClientes, error) {
	var out handlers.PaginaClientes
	return out, c.call(ctx, topics.BuscarClientes(q), &out)
}

// ReporteAdquisicion returns the new customers per day, week or month.
func (c *Client) ReporteAdquisicion(ctx context.Context, q handlers.ConsultaAdquisicion) (handlers.ReporteAdquisicion, error) {
	var out handlers.ReporteAdquisicion
	return out, c.call(ctx, topics.ReporteAdquisicion(q), &out)
}

// ReporteRetencion returns the registration cohorts and their retention.
func (c *Client) ReporteRetencion(ctx context.Context) (handlers.ReporteRetencion, error) {
	var out handlers.ReporteRetencion
	return out, c.call(ctx, topics.Reporte(topics.TypeReporteRetencion), &out)
}

// ReporteGeografia returns the customers per departamento and provincia.
func (c *Client) ReporteGeografia(ctx context.Context) (handlers.ReporteGeografia, error) {
	var out handlers.ReporteGeografia
	return out, c.call(ctx, topics.Reporte(topics.TypeReporteGeografia), &out)
}

// ReporteCanales returns the active customers' contact channels.
func (c *Client) ReporteCanales(ctx context.Context) (handlers.ReporteCanales, error) {
	var out handlers.ReporteCanales
	return out, c.call(ctx, topics.Reporte(topics.TypeReporteCanales), &out)
}

// ReporteValor returns the RFM segments per currency.
func (c *Client) ReporteValor(ctx context.Context) (handlers.ReporteValor, error) {
	var out handlers.ReporteValor
	return out, c.call(ctx, topics.Reporte(topics.TypeReporteValor), &out)
}

// Compras returns a page of customer id's purchase history, newest first:
// limite purchases (nil for the default), after cursor ("" for the first
// page). An invalid limite fails here, without a round trip.
func (c *Client) Compras(ctx context.Context, id int64, limite *int, cursor string) (handlers.HistorialCompras, error) {
	var out handlers.HistorialCompras
	if _, err := handlers.LimiteCompras(limite); err != nil {
		return out, fmt.Errorf("%s: %w", topics.TypeCompras, err)
	}
	return out, c.call(ctx, topics.ComprasDe(topics.Compras{ID: id, Limite: limite, Cursor: cursor}), &out)
}

// Obtener returns customer id, active or not.
func (c *Client) Obtener(ctx context.Context, id int64) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, topics.Obtener(id), &out)
}

// ObtenerPorDNI returns the customer with that DNI (8 digits, optionally
// with its check character).
func (c *Client) ObtenerPorDNI(ctx context.Context, dni string) (handlers.Cliente, error) {
	var out handlers.Cliente
	return out, c.call(ctx, topics.ObtenerPorDNI(dni), &out)
}

// ObtenerVarios returns the customers with these ids, by id, in one
// request; ids that do not exist are absent from the map. At most
// handlers.MaxIDs ids per call.
func (c *Client) ObtenerVarios(ctx context.Context, ids []int64) (map[int64]handlers.Cliente, error) {
	var list []handlers.Cliente
	if err := c.call(ctx, topics.ObtenerVarios(ids), &list); err != nil {
		return nil, err
	}
	out := make(map[int64]handlers.Cliente, len(list))
	for _, cl := range list {
		out[cl.ID] = cl
	}
	return out, nil
}

// Resumen returns the customer's purchase totals and lifetime value, as
// the sales events applied so far make them.
func (c *Client) Resumen(ctx context.Context, id int64) (handlers.Resumen, error) {
	var out handlers.Resumen
	return out, c.call(ctx, topics.ResumenDe(id), &out)
}

// ValidarParaVenta returns the customer if it exists and is active. Else it
// returns an error matching ErrNotFound, ErrInactive (with the customer) or
// ErrUnavailable: check it before registering a sale.
func (c *Client) ValidarParaVenta(ctx context.Context, id int64) (handlers.Cliente, error) {
	var v handlers.Validacion
	if err := c.call(ctx, topics.ValidarParaVenta(id), &v); err != nil {
		return handlers.Cliente{}, err
	}
	switch {
	case v.Valido && v.Cliente != nil:
		return *v.Cliente, nil
	case v.Motivo == handlers.MotivoInactivo && v.Cliente != nil:
		return *v.Cliente, fmt.Errorf("customer %d: %w", id, ErrInactive)
	case v.Motivo == handlers.MotivoNoEncontrado:
		return handlers.Cliente{}, fmt.Errorf("customer %d: %w", id, ErrNotFound)
	}
	return handlers.Cliente{}, fmt.Errorf("customer %d: unexpected validation answer %+v", id, v)
}

// call sends one request with the client's timeout and decodes its reply,
// mapping failures onto the package's errors. The caller ctx carries
// (handlers.WithPrincipal) goes on the request's meta, so the worker knows
// on whose behalf it acts.
func (c *Client) call(ctx context.Context, call topics.Call, out any) error {
	if p, ok := handlers.PrincipalFrom(ctx); ok {
		call.Meta.Principal, call.Meta.ClientID = p.Subject, p.ClientID
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout) // an earlier deadline of ctx still wins
	defer cancel()
	reply, err := c.caller.Call(ctx, call)
	if handlers.ErrorCode(err) == handlers.CodeInvalid {
		return fmt.Errorf("%s: %w", call.Type, err) // refused before sending
	} else if err != nil {
		return fmt.Errorf("%s: %w: %w", call.Type, ErrUnavailable, err)
	}
	err = reply.Decode(out)
	switch handlers.ErrorCode(err) {
	case "":
		return nil
	case handlers.CodeNotFound:
		return fmt.Errorf("%s: %w: %w", call.Type, ErrNotFound, err)
	case handlers.CodeUnavailable:
		return fmt.Errorf("%s: %w: %w", call.Type, ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %w", call.Type, err)
	}
}
