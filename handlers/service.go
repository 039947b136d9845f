package handlers

import (
	"context"
	"errors"
	"time"
)

// Store persists customers. Implementations must:
//   - allocate ids as positive integers, unique even under concurrent Inserts;
//   - keep dni and email unique, reporting a violation as Conflict(field);
//   - report a missing customer as CodeNotFound and an unreachable backend
//     as CodeUnavailable;
//   - start Version at 1 and add one on every Replace, and on every SetActivo
//     that changes the status;
//   - set LastOp to the change's IdempotencyKey, Cambio to the kind of
//     change and Registro to the change's Registro, in the same atomic
//     write as the change itself: Insert sets CambioRegistrado; Replace and
//     SetActivo set CambioDeEstado(old status, new status); Anonimizar
//     sets CambioAnonimizado.
//
// storetest.Run is the suite every implementation passes.
type Store interface {
	// Insert stores a new active customer at version 1, with LastOp
	// cambio.IdempotencyKey and Registro cambio.Registro (cambio.Version
	// is ignored).
	Insert(ctx context.Context, c Campos, fechaRegistro time.Time, cambio Cambio) (Cliente, error)
	// Replace overwrites the editable fields of customer id and, if activo is
	// not nil, its status. Id and fechaRegistro never change. If cond does
	// not hold, nothing changes and the error is Stale(current version).
	Replace(ctx context.Context, id int64, c Campos, activo *bool, cond Cambio) (Cliente, error)
	// SetActivo sets the status; setting the current status is a no-op that
	// returns the customer unchanged. cond is checked as in Replace, also
	// for a no-op.
	SetActivo(ctx context.Context, id int64, activo bool, cond Cambio) (Cliente, error)
	// Anonimizar overwrites the editable fields of customer id with c (the
	// placeholders of Anonimo), deactivates it and marks it Anonimizado; on
	// a customer anonymised already it is a no-op that returns it
	// unchanged. cond is checked as in Replace, also for a no-op.
	Anonimizar(ctx context.Context, id int64, c Campos, cond Cambio) (Cliente, error)
	Get(ctx context.Context, id int64) (Cliente, error)
	GetByDNI(ctx context.Context, dni string) (Cliente, error)
	GetByEmail(ctx context.Context, email string) (Cliente, error)
	// List returns matching customers in ascending id order.
	List(ctx context.Context, f Filtro) ([]Cliente, error)
}

// Deps are what Service needs; every field is required.
type Deps struct {
	Store     Store
	Historial Historial
	// Outbox receives the event of every change (see recordEvent).
	Outbox Outbox
	// Auditoria receives the audit entry of every change (see
	// recordAuditoria).
	Auditoria Auditoria
	// Idempotency keeps command results for IdempotencyTTL, so a retried
	// command is applied at most once.
	Idempotency    IdempotencyStore
	IdempotencyTTL time.Duration
	// Now is the clock that stamps fechaRegistro, events and sales checks.
	Now func() time.Time
	// Reportes keeps the report counters; every change records a notice
	// in it (see reportes_proyector.go).
	Reportes ReportesStore
	// Diferir leaves each change's audit entry, report notice and
	// idempotency result to the relay, which records them in batches from
	// the change's outbox event: a change then writes the customer and
	// its event only (see diferidos.go). Only for a service whose outbox
	// a Relay with Registros empties.
	Diferir bool
}

// Service implements the use cases, one file each. It is safe for
// concurrent use if its dependencies are.
type Service struct {
	store     Store
	historial Historial
	outbox    Outbox
	auditoria Auditoria
	idem      IdempotencyStore
	ttl       time.Duration
	now       func() time.Time
	reportes  ReportesStore
	// analizador derives report contributions and Lima dates.
	analizador *Analizador
	diferir    bool
}

// NewService returns a Service over d, or an error naming every missing
// dependency: a service without its outbox or purchase history would fail
// only when the first command needs it.
func NewService(d Deps) (*Service, error) {
	var errs []error
	for name, missing := range map[string]bool{
		"Store": d.Store == nil, "Historial": d.Historial == nil, "Outbox": d.Outbox == nil, "Auditoria": d.Auditoria == nil,
		"Idempotency": d.Idempotency == nil, "Now": d.Now == nil, "IdempotencyTTL": d.IdempotencyTTL <= 0,
		"Reportes": d.Reportes == nil,
	} {
		if missing {
			errs = append(errs, errors.New("handlers: NewService: "+name+" is required"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Service{store: d.Store, historial: d.Historial, outbox: d.Outbox, auditoria: d.Auditoria, idem: d.Idempotency,
		ttl: d.IdempotencyTTL, now: d.Now, reportes: d.Reportes, analizador: NewAnalizador(), diferir: d.Diferir}, nil
}

func checkID(id int64) error {
	if id <= 0 {
		return invalidField("id", "must be a positive integer")
	}
	return nil
}

func invalidField(field, msg string) *Error {
	return &Error{Code: CodeInvalid, Message: "the request is not valid", Fields: []FieldError{{Field: field, Message: msg}}}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
