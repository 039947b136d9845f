package handlers

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Store persists customers. Implementations must:
//   - allocate ids as positive integers, unique even under concurrent Inserts;
//   - keep dni and email unique, reporting a violation as Conflict(field);
//   - report a missing customer as CodeNotFound and an unreachable backend
//     as CodeUnavailable;
//   - start Version at 1 and add one on every Replace, and on every SetActivo
//     that changes the status;
//   - set LastOp to the change's IdempotencyKey, and Cambio to the kind of
//     change, in the same atomic write as the change itself: Insert sets
//     CambioRegistrado; Replace and SetActivo set CambioDeEstado(old
//     status, new status).
//
// storetest.Run is the suite every implementation passes.
type Store interface {
	// Insert stores a new active customer at version 1, with LastOp op.
	Insert(ctx context.Context, c Campos, fechaRegistro time.Time, op string) (Cliente, error)
	// Replace overwrites the editable fields of customer id and, if activo is
	// not nil, its status. Id and fechaRegistro never change. If cond does
	// not hold, nothing changes and the error is Stale(current version).
	Replace(ctx context.Context, id int64, c Campos, activo *bool, cond Cambio) (Cliente, error)
	// SetActivo sets the status; setting the current status is a no-op that
	// returns the customer unchanged. cond is checked as in Replace, also
	// for a no-op.
	SetActivo(ctx context.Context, id int64, activo bool, cond Cambio) (Cliente, error)
	Get(ctx context.Context, id int64) (Cliente, error)
	GetByDNI(ctx context.Context, dni string) (Cliente, error)
	GetByEmail(ctx context.Context, email string) (Cliente, error)
	// List returns matching customers in ascending id order.
	List(ctx context.Context, f Filtro) ([]Cliente, error)
}

// Service implements the customer use cases over a Store. It is safe for
// concurrent use if its Store is.
type Service struct {
	store     Store
	now       func() time.Time
	idem      Idempotencia
	ttl       time.Duration
	outbox    Outbox
	historial Historial
}

// NewService returns a Service; now is the clock that stamps fechaRegistro.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now, ttl: DefaultIdempotencyTTL}
}

// WithIdempotency makes commands that carry an idempotency key run at most
// once per key, keeping their results in idem for ttl.
func (s *Service) WithIdempotency(idem Idempotencia, ttl time.Duration) *Service {
	s.idem, s.ttl = idem, ttl
	return s
}

// Crear registers a customer. fechaRegistro comes from the service clock and
// the customer starts active; a client-supplied activo is ignored.
// cambio.IdempotencyKey, if set, makes a retry return the first result.
func (s *Service) Crear(ctx context.Context, d Datos, cambio Cambio) (Cliente, error) {
	key := cambio.IdempotencyKey
	return s.idempotent(ctx, key, fingerprint("crear", d),
		func(ctx context.Context) (Cliente, bool, error) {
			dni, msg := NormalizeDNI(deref(d.DNI))
			if msg != "" {
				return Cliente{}, false, nil
			}
			return s.applied(ctx, key, func() (Cliente, error) { return s.store.GetByDNI(ctx, dni) })
		},
		func() (Cliente, error) {
			campos, err := Validate(d)
			if err != nil {
				return Cliente{}, err
			}
			return s.store.Insert(ctx, campos, truncateToMillis(s.now()), key)
		})
}

// applied reports whether the customer get returns carries the change made
// under key (see idempotent).
func (s *Service) applied(ctx context.Context, key string, get func() (Cliente, error)) (Cliente, bool, error) {
	c, err := get()
	switch {
	case ErrorCode(err) == CodeNotFound:
		return Cliente{}, false, nil
	case err != nil:
		return Cliente{}, false, err
	}
	return c, c.LastOp == key, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Actualizar replaces the editable fields of customer id, keeping its
// fechaRegistro, and its status unless d.Activo is set; only if cond holds.
func (s *Service) Actualizar(ctx context.Context, id int64, d Datos, cond Cambio) (Cliente, error) {
	return s.idempotent(ctx, cond.IdempotencyKey, fingerprint("actualizar", id, d, cond.Version),
		s.locateByID(id, cond.IdempotencyKey),
		func() (Cliente, error) {
			idErr := checkID(id)
			campos, err := Validate(d)
			if idErr != nil || err != nil {
				return Cliente{}, mergeInvalid(idErr, err)
			}
			return s.store.Replace(ctx, id, campos, d.Activo, cond)
		})
}

func (s *Service) locateByID(id int64, key string) func(context.Context) (Cliente, bool, error) {
	return func(ctx context.Context) (Cliente, bool, error) {
		if id <= 0 {
			return Cliente{}, false, nil
		}
		return s.applied(ctx, key, func() (Cliente, error) { return s.store.Get(ctx, id) })
	}
}

// Eliminar soft-deletes customer id: it becomes inactive and stays readable.
// Deleting an inactive customer succeeds and changes nothing.
func (s *Service) Eliminar(ctx context.Context, id int64, cond Cambio) (Cliente, error) {
	return s.idempotent(ctx, cond.IdempotencyKey, fingerprint("eliminar", id, cond.Version),
		s.locateByID(id, cond.IdempotencyKey),
		func() (Cliente, error) {
			if err := checkID(id); err != nil {
				return Cliente{}, err
			}
			return s.store.SetActivo(ctx, id, false, cond)
		})
}

// Obtener returns customer id, active or not.
func (s *Service) Obtener(ctx context.Context, id int64) (Cliente, error) {
	if err := checkID(id); err != nil {
		return Cliente{}, err
	}
	return s.store.Get(ctx, id)
}

// ObtenerPorDNI looks a customer up by DNI; a check character is accepted
// and verified as on create.
func (s *Service) ObtenerPorDNI(ctx context.Context, dni string) (Cliente, error) {
	norm, msg := NormalizeDNI(dni)
	if msg != "" {
		return Cliente{}, invalidField("dni", msg)
	}
	return s.store.GetByDNI(ctx, norm)
}

// ObtenerPorEmail looks a customer up by email, regardless of case.
func (s *Service) ObtenerPorEmail(ctx context.Context, email string) (Cliente, error) {
	norm, msg := NormalizeEmail(email)
	if msg != "" {
		return Cliente{}, invalidField("email", msg)
	}
	return s.store.GetByEmail(ctx, norm)
}

// Listar returns the customers that f selects, in ascending id order.
func (s *Service) Listar(ctx context.Context, f Filtro) ([]Cliente, error) {
	var errs []FieldError
	if f.DespuesDeID < 0 {
		errs = append(errs, FieldError{Field: "despuesDeId", Message: "must not be negative"})
	}
	if f.Limite < 0 {
		errs = append(errs, FieldError{Field: "limite", Message: "must not be negative"})
	}
	if len(errs) > 0 {
		return nil, &Error{Code: CodeInvalid, Message: "the listing parameters are not valid", Fields: errs}
	}
	return s.store.List(ctx, f)
}

// MaxIDs bounds one ObtenerVarios call.
const MaxIDs = 200

// ObtenerVarios returns the customers with the given ids, active or not,
// in ascending id order; unknown ids are simply absent. One call replaces
// a lookup per id (the original sales service's N+1).
func (s *Service) ObtenerVarios(ctx context.Context, ids []int64) ([]Cliente, error) {
	if len(ids) > MaxIDs {
		return nil, invalidField("ids", fmt.Sprintf("at most %d ids per call", MaxIDs))
	}
	for _, id := range ids {
		if id <= 0 {
			return nil, invalidField("ids", "must be positive integers")
		}
	}
	if len(ids) == 0 {
		return []Cliente{}, nil
	}
	return s.store.List(ctx, Filtro{IDs: slices.Compact(slices.Sorted(slices.Values(ids)))})
}

// Validacion is the answer to "may this customer buy?".
type Validacion struct {
	Valido bool `json:"valido"`
	// Motivo says why not: MotivoNoEncontrado or MotivoInactivo.
	Motivo  string   `json:"motivo,omitempty"`
	Cliente *Cliente `json:"cliente,omitempty"`
}

// Reasons a customer may not buy.
const (
	MotivoNoEncontrado = "no_encontrado"
	MotivoInactivo     = "inactivo"
)

// ValidarParaVenta checks that customer id exists and is active. A missing
// or inactive customer is an answer, not an error; only an unreachable
// store is an error, so a caller can never mistake an outage for a yes.
func (s *Service) ValidarParaVenta(ctx context.Context, id int64) (Validacion, error) {
	c, err := s.Obtener(ctx, id)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return Validacion{Motivo: MotivoNoEncontrado}, nil
	case err != nil:
		return Validacion{}, err
	case !c.Activo:
		return Validacion{Motivo: MotivoInactivo, Cliente: &c}, nil
	}
	return Validacion{Valido: true, Cliente: &c}, nil
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

// mergeInvalid joins the field errors of several invalid-request errors.
func mergeInvalid(errs ...error) error {
	var out *Error
	for _, err := range errs {
		if err == nil {
			continue
		}
		e := AsError(err)
		if out == nil {
			out = &Error{Code: CodeInvalid, Message: e.Message}
		}
		out.Fields = append(out.Fields, e.Fields...)
	}
	return out
}
