// Package client is what a Go sales service imports to ask the customer
// service over Kafka request/reply: one customer, many customers in one
// request (never one call per sale), a customer by DNI, and whether a
// customer may buy.
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
	Brokers []string
	// ReplyTopic must be this instance's own; it is created if missing.
	ReplyTopic string
	// CommandTopic and QueryTopic default to the service's defaults.
	CommandTopic, QueryTopic string
	// Timeout bounds each call (a caller's earlier deadline wins); default 5 s.
	Timeout time.Duration
	Log     zerolog.Logger
}

// Client calls the customer service.
type Client struct {
	req     *topics.Requester
	timeout time.Duration
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
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReplyTopic == "" {
		return nil, errors.New("client: ReplyTopic is required (one per instance)")
	}
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{
		Brokers: cfg.Brokers, CommandTopic: cfg.CommandTopic, QueryTopic: cfg.QueryTopic,
		ReplyTopic: cfg.ReplyTopic, Log: cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{req: req, timeout: cfg.Timeout}, nil
}

// Close stops reading replies; calls in flight end with their contexts.
func (c *Client) Close() { c.req.Close() }

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
// mapping failures onto the package's errors.
func (c *Client) call(ctx context.Context, call topics.Call, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout) // an earlier deadline of ctx still wins
	defer cancel()
	reply, err := c.req.Call(ctx, call)
	if err != nil {
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
