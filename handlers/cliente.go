package handlers

import (
	"encoding/json"
	"slices"
	"time"
)

// Cliente is a customer as stored and as sent on the wire. JSON names are
// the original service's contract.
type Cliente struct {
	ID            int64     `json:"id"`
	DNI           string    `json:"dni"`
	Nombre        string    `json:"nombre"`
	Apellido      string    `json:"apellido"`
	Email         string    `json:"email"`
	Telefono      string    `json:"telefono"`
	Direccion     string    `json:"direccion"`
	FechaRegistro time.Time `json:"fechaRegistro"`
	Activo        bool      `json:"activo"`
	// Version starts at 1 and grows by one with every change; it is the
	// basis for optimistic concurrency (ETag / expected version).
	Version int64 `json:"version"`
	// LastOp is the idempotency key of the last change applied; internal.
	LastOp string `json:"-"`
	// Cambio is the kind of the last change (Cambio*), written with it;
	// internal, for the change's event.
	Cambio string `json:"-"`
	// Registro is what the last change's audit entry needs (fields, author,
	// time), written with it; internal, see EntradaDe.
	Registro *RegistroCambio `json:"-"`
	// Anonimizado marks a customer whose personal data were erased
	// (Anonimizar); absent on the wire otherwise.
	Anonimizado bool `json:"anonimizado,omitempty"`
}

// fechaLayout is RFC 3339 in UTC with exactly three fractional digits:
// Go would trim trailing zeros, and Java parsers with a fixed ".SSS"
// pattern reject that.
const fechaLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes fechaRegistro in fechaLayout.
func (c Cliente) MarshalJSON() ([]byte, error) {
	type plain Cliente // no methods: avoids recursion
	return json.Marshal(struct {
		plain
		FechaRegistro string `json:"fechaRegistro"`
	}{plain(c), c.FechaRegistro.UTC().Format(fechaLayout)})
}

// Datos are the editable fields of a customer, as a client sends them on
// create and on replace. Pointers distinguish "absent" from "empty" so the
// validator can name missing fields.
type Datos struct {
	DNI       *string `json:"dni"`
	Nombre    *string `json:"nombre"`
	Apellido  *string `json:"apellido"`
	Email     *string `json:"email"`
	Telefono  *string `json:"telefono"`
	Direccion *string `json:"direccion"`
	// Activo is only honoured on replace: absent keeps the current status.
	Activo *bool `json:"activo"`
}

// Campos are validated, normalised editable fields, ready to store.
type Campos struct {
	DNI       string
	Nombre    string
	Apellido  string
	Email     string
	Telefono  string
	Direccion string
}

// Cambio is what a change carries besides its data. The zero value is an
// unconditional change with no idempotency key.
type Cambio struct {
	// Version, when set, is the version the caller last saw: the change
	// fails with CodePrecondition if the customer has moved on.
	Version *int64
	// IdempotencyKey identifies the request that makes the change. Stores
	// stamp it on the customer in the same write as the change (LastOp), so
	// a retry after a crash can tell whether the change was applied.
	IdempotencyKey string
	// Registro, when set, is the change's audit record: stores write it on
	// the customer (Cliente.Registro) in the same write as the change.
	Registro *RegistroCambio
	// Leido, when set, is the customer as the caller read it at Version. A
	// store whose write is conditional on the version may start from it
	// rather than read the customer again: a change in between makes that
	// write match nothing, and the store then reads.
	Leido *Cliente
}

// Check reports whether a customer at version current satisfies c.
func (c Cambio) Check(current int64) error {
	if c.Version != nil && *c.Version != current {
		return Stale(current)
	}
	return nil
}

// Filtro selects customers for a listing. The zero value selects all.
type Filtro struct {
	// Activo, when set, keeps only customers with that status.
	Activo *bool
	// IDs, when not nil, keeps only customers with these ids.
	IDs []int64
	// Palabras, when set, keeps only customers of whose nombre and apellido
	// words (Palabras) each of these is a prefix.
	Palabras []string
	// RegistradoDesde and RegistradoHasta, when not zero, keep only
	// customers with fechaRegistro in [RegistradoDesde, RegistradoHasta).
	RegistradoDesde, RegistradoHasta time.Time
	// Customers come in ascending id order, strictly after DespuesDeID; at
	// most Limite of them, 0 meaning no limit.
	DespuesDeID int64
	Limite      int
}

// Matches reports whether c passes the filter's conditions (all but
// paging).
func (f Filtro) Matches(c Cliente) bool {
	switch {
	case f.IDs != nil && !slices.Contains(f.IDs, c.ID),
		f.Activo != nil && *f.Activo != c.Activo,
		!f.RegistradoDesde.IsZero() && c.FechaRegistro.Before(f.RegistradoDesde),
		!f.RegistradoHasta.IsZero() && !c.FechaRegistro.Before(f.RegistradoHasta),
		len(f.Palabras) > 0 && !EmpiezaAlguna(Palabras(c.Nombre, c.Apellido), f.Palabras):
		return false
	}
	return true
}

func truncateToMillis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Aplicar copies the editable fields c onto cl.
func (c Campos) Aplicar(cl *Cliente) {
	cl.DNI, cl.Nombre, cl.Apellido = c.DNI, c.Nombre, c.Apellido
	cl.Email, cl.Telefono, cl.Direccion = c.Email, c.Telefono, c.Direccion
}
