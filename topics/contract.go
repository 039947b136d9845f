// Package topics owns the wire contract of the customer service on Kafka:
// topic names, message types, the request envelope, the reply body, header
// names, encoding and decoding, and the kafka-go adapters that carry them
// (a request/reply client, a consume loop, topic provisioning). It is the
// only package of the service that imports kafka-go. CONTRACT.md in this
// folder describes every message for implementers in other languages.
package topics

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/jea/cliente/handlers"
)

// Default topic names; deployments may rename them.
const (
	DefaultCommandTopic = "cliente.comandos"
	DefaultQueryTopic   = "cliente.consultas"
	// DefaultAdminTopic carries the administration operations (audit
	// trail, data export, anonymisation), and only them: its own topic so
	// that the broker's ACLs can keep them to the edge, which checks the
	// caller's admin scope, away from every other Kafka user.
	DefaultAdminTopic = "cliente.admin"
	// DefaultSalesEventsTopic is where the sales service announces sales;
	// the worker consumes it into purchase history.
	DefaultSalesEventsTopic = "ventas.eventos"
	// DefaultCustomerEventsTopic is where the worker announces every change
	// to a customer, for other services.
	DefaultCustomerEventsTopic = "cliente.eventos"
)

// Header names. The first three are Spring Kafka's request/reply headers, so
// a ReplyingKafkaTemplate can call the worker with its defaults.
const (
	// HeaderCorrelationID is opaque bytes, echoed unchanged on the reply.
	HeaderCorrelationID = "kafka_correlationId"
	// HeaderReplyTopic is the UTF-8 name of the topic to reply to.
	HeaderReplyTopic = "kafka_replyTopic"
	// HeaderReplyPartition, when present, is a 4-byte big-endian partition
	// number the reply must go to. The reply carries it back unchanged.
	HeaderReplyPartition = "kafka_replyPartition"
	// HeaderErrorCode is set only on error replies, to the error's code
	// (one of the Code* values): a Spring requester's reply error checker
	// needs nothing else to tell failure from success.
	HeaderErrorCode = "cliente_error"
	// HeaderErrorMessage is the human-readable message of an error reply.
	HeaderErrorMessage = "cliente_error_message"
	// HeaderDeadline is when the requester stops waiting for the reply:
	// decimal milliseconds since the Unix epoch, as UTF-8 text. The worker
	// neither runs nor applies a request once it has passed (CONTRACT.md
	// §2.4). Without it, a request that asks for a reply gets its record's
	// timestamp plus DefaultReplyTimeout.
	HeaderDeadline = "cliente_deadline"
	// HeaderEventType is set on customer events to their type, so that a
	// consumer can route them without parsing the body.
	HeaderEventType = "cliente_evento"
)

// Dead-letter headers, on the copy of a poison message; the original
// headers and body are kept.
const (
	HeaderDLQReason          = "cliente_dlq_reason"
	HeaderDLQError           = "cliente_dlq_error"
	HeaderDLQSourceTopic     = "cliente_dlq_source_topic"
	HeaderDLQSourcePartition = "cliente_dlq_source_partition"
	HeaderDLQSourceOffset    = "cliente_dlq_source_offset"
	// HeaderDLQTruncated is set when the copy holds only the start of the
	// original's key and value, or not all its headers: the original value's
	// length in bytes, as decimal text.
	HeaderDLQTruncated = "cliente_dlq_truncated"
)

// Dead-letter reasons.
const (
	DeadLetterOversize    = "oversize"
	DeadLetterUndecodable = "undecodable"
	DeadLetterUnknownType = "unknown_type"
	DeadLetterPanic       = "panic"
	// Sales events only: well-formed but not applicable.
	DeadLetterInvalid         = "invalid"
	DeadLetterUnknownCustomer = "unknown_customer"
	DeadLetterConflictingSale = "conflicting_sale"
	DeadLetterFailed          = "failed"
)

// Type names an operation. Commands change state and go to the command
// topic, keyed by the customer they touch so one customer's commands are
// applied in order; queries go to the query topic.
type Type string

const (
	TypeCrear           Type = "cliente.crear"
	TypeActualizar      Type = "cliente.actualizar"
	TypeEliminar        Type = "cliente.eliminar"
	TypeObtener         Type = "cliente.obtener"
	TypeObtenerPorDNI   Type = "cliente.obtenerPorDni"
	TypeObtenerPorEmail Type = "cliente.obtenerPorEmail"
	// TypeListar pages through customers, by status and registration
	// date; TypeBuscar is the same with a search by name (required).
	TypeListar Type = "cliente.listar"
	TypeBuscar Type = "cliente.buscar"
	// TypeObtenerVarios gets many customers in one request (no N+1).
	TypeObtenerVarios Type = "cliente.obtenerVarios"
	// TypeValidarParaVenta answers whether a customer may buy.
	TypeValidarParaVenta Type = "cliente.validarParaVenta"
	// TypeCompras pages through a customer's purchase history.
	TypeCompras Type = "cliente.compras"
	// TypeResumen returns a customer's purchase totals and lifetime value.
	TypeResumen Type = "cliente.resumen"
	// Reports over all customers; only TypeReporteAdquisicion has a
	// payload (handlers.ConsultaAdquisicion, optional).
	TypeReporteAdquisicion Type = "cliente.reporteAdquisicion"
	TypeReporteRetencion   Type = "cliente.reporteRetencion"
	TypeReporteGeografia   Type = "cliente.reporteGeografia"
	TypeReporteCanales     Type = "cliente.reporteCanales"
	TypeReporteValor       Type = "cliente.reporteValor"
	// TypeAuditoria pages through a customer's audit trail, newest first.
	TypeAuditoria Type = "cliente.auditoria"
	// TypeDatos returns everything held about a customer in one document.
	TypeDatos Type = "cliente.datos"
	// TypeAnonimizar erases a customer's personal data for good.
	TypeAnonimizar Type = "cliente.anonimizar"
)

// Sales event types, on the sales events topic. They are not requests:
// nobody waits for a reply.
const (
	TypeVentaRegistrada Type = "venta.registrada"
	TypeVentaAnulada    Type = "venta.anulada"
)

// Meta is request metadata that is not part of the operation itself. Fields
// are optional; workers ignore what they do not yet use.
type Meta struct {
	// Principal is the authenticated caller's subject (the access token's
	// `sub`), as the edge established it.
	Principal string `json:"principal,omitempty"`
	// ClientID is the OAuth client the caller used (`client_id` or `azp`).
	ClientID string `json:"clientId,omitempty"`
	// IdempotencyKey makes a command safe to send again.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// ExpectedVersion makes a command conditional on the customer's version.
	ExpectedVersion *int64 `json:"expectedVersion,omitempty"`
}

// Request is the JSON body of every message on the command and query topics.
type Request struct {
	Type Type            `json:"type"`
	Meta Meta            `json:"meta"`
	Data json.RawMessage `json:"data"`
}

// Request payloads, one per Type. TypeCrear carries handlers.Datos.

// ID addresses one customer (TypeObtener, TypeEliminar).
type ID struct {
	ID int64 `json:"id"`
}

// Actualizar is the payload of TypeActualizar: the id and the new fields.
type Actualizar struct {
	ID int64 `json:"id"`
	handlers.Datos
}

// PorDNI is the payload of TypeObtenerPorDNI.
type PorDNI struct {
	DNI string `json:"dni"`
}

// PorEmail is the payload of TypeObtenerPorEmail.
type PorEmail struct {
	Email string `json:"email"`
}

// IDs is the payload of TypeObtenerVarios (at most handlers.MaxIDs).
type IDs struct {
	IDs []int64 `json:"ids"`
}

// Compras is the payload of TypeCompras: the customer, and optionally the
// page size (1 to handlers.MaxLimiteCompras, default
// handlers.DefaultLimiteCompras) and the cursor a previous page returned.
type Compras struct {
	ID     int64  `json:"id"`
	Limite *int   `json:"limite,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Auditoria is the payload of TypeAuditoria: the customer, and optionally
// the page size (1 to handlers.MaxLimiteAuditoria, default
// handlers.DefaultLimiteAuditoria) and the cursor a previous page returned.
type Auditoria struct {
	ID     int64  `json:"id"`
	Limite *int   `json:"limite,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Reply statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Reply is the JSON body of every reply. Data is a handlers.Cliente for
// single-customer operations (including TypeEliminar, which returns the
// deactivated customer), a handlers.PaginaClientes for TypeListar and
// TypeBuscar.
type Reply struct {
	Type   Type            `json:"type"`
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data,omitempty"`
	Error  *ErrorBody      `json:"error,omitempty"`
}

// ErrorBody describes a failed request. Code is the reply code: the
// mapping from handlers.Code happens in NewErrorBody and nowhere else.
type ErrorBody struct {
	Code    handlers.Code         `json:"code"`
	Message string                `json:"message"`
	Fields  []handlers.FieldError `json:"fields,omitempty"`
}

// NewErrorBody turns any error into the body of an error reply; errors that
// are not *handlers.Error become "internal" without their detail.
func NewErrorBody(err error) *ErrorBody {
	e := handlers.AsError(err)
	return &ErrorBody{Code: e.Code, Message: e.Message, Fields: e.Fields}
}

// Err turns the body back into a *handlers.Error; codes a newer peer may
// send and this version does not know become internal.
func (b *ErrorBody) Err() *handlers.Error {
	code := b.Code
	if !code.Known() {
		code = handlers.CodeInternal
	}
	return &handlers.Error{Code: code, Message: b.Message, Fields: b.Fields}
}

// Call is one request ready to send: its type, partitioning key and payload.
// The constructors below pick the key that keeps one customer's commands in
// order.
type Call struct {
	Type Type
	Key  string
	Meta Meta
	Data any
}

// Crear keys by the DNI's 8 digits, so every spelling of one DNI (with or
// without its check character) lands on one partition.
func Crear(d handlers.Datos) Call {
	var key string
	if d.DNI != nil {
		key = strings.TrimSpace(*d.DNI)
		if norm, msg := handlers.NormalizeDNI(key); msg == "" {
			key = norm
		}
	}
	return Call{Type: TypeCrear, Key: key, Data: d}
}

func ActualizarCliente(id int64, d handlers.Datos) Call {
	return Call{Type: TypeActualizar, Key: idKey(id), Data: Actualizar{ID: id, Datos: d}}
}

func Eliminar(id int64) Call { return Call{Type: TypeEliminar, Key: idKey(id), Data: ID{ID: id}} }

func Obtener(id int64) Call { return Call{Type: TypeObtener, Data: ID{ID: id}} }

func ObtenerPorDNI(dni string) Call {
	return Call{Type: TypeObtenerPorDNI, Data: PorDNI{DNI: dni}}
}

func ObtenerPorEmail(email string) Call {
	return Call{Type: TypeObtenerPorEmail, Data: PorEmail{Email: email}}
}

func ListarClientes(q handlers.ConsultaClientes) Call { return Call{Type: TypeListar, Data: q} }

func BuscarClientes(q handlers.ConsultaClientes) Call { return Call{Type: TypeBuscar, Data: q} }

func ObtenerVarios(ids []int64) Call { return Call{Type: TypeObtenerVarios, Data: IDs{IDs: ids}} }

func ValidarParaVenta(id int64) Call { return Call{Type: TypeValidarParaVenta, Data: ID{ID: id}} }

func ComprasDe(q Compras) Call { return Call{Type: TypeCompras, Data: q} }

func ResumenDe(id int64) Call { return Call{Type: TypeResumen, Data: ID{ID: id}} }

// ReporteAdquisicion asks for new customers per period.
func ReporteAdquisicion(q handlers.ConsultaAdquisicion) Call {
	return Call{Type: TypeReporteAdquisicion, Data: q}
}

// Reporte asks for one of the reports without parameters (retencion,
// geografia, canales, valor).
func Reporte(t Type) Call          { return Call{Type: t, Data: struct{}{}} }
func AuditoriaDe(q Auditoria) Call { return Call{Type: TypeAuditoria, Data: q} }

func DatosDe(id int64) Call { return Call{Type: TypeDatos, Data: ID{ID: id}} }

func Anonimizar(id int64) Call { return Call{Type: TypeAnonimizar, Key: idKey(id), Data: ID{ID: id}} }

func idKey(id int64) string { return strconv.FormatInt(id, 10) }
