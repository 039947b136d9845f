package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The audit trail: every change to a customer leaves one entry, keyed by
// the customer and the version the change produced, saying who made it,
// when, and which fields went from what to what.
//
// It is as crash-safe as the change's event (see recordChange): the
// change's fields, author and time (RegistroCambio) are written on the
// customer in the same single-document write as the change itself, and
// the entry is rebuilt from the customer when a redelivered command finds
// its change applied. Recording an entry twice keeps one.

// RegistroCambio is what the audit entry of a change needs beyond the
// customer after it. Stores keep the last change's on the customer
// (Cliente.Registro), written with the change.
type RegistroCambio struct {
	Fecha  time.Time
	Autor  Principal
	Campos []CampoCambiado
}

// CampoCambiado is one field a change touched: its value before and after
// (strings, or a boolean for activo). Antes is null on registration;
// both are null, and Borrado true, for a personal value that
// anonymisation erased.
type CampoCambiado struct {
	Campo   string `json:"campo"`
	Antes   any    `json:"antes"`
	Despues any    `json:"despues"`
	Borrado bool   `json:"borrado,omitempty"`
}

// EntradaAuditoria is one change in a customer's audit trail. Tipo is the
// kind of change (Cambio*); Autor is the principal the edge authenticated,
// or for a Kafka caller what it said of itself in meta.clientId (both
// empty for an anonymous caller of the open dev broker).
type EntradaAuditoria struct {
	ClienteID int64           `json:"clienteId"`
	Version   int64           `json:"version"`
	Tipo      string          `json:"tipo"`
	Fecha     time.Time       `json:"fecha"`
	Autor     Principal       `json:"autor"`
	Campos    []CampoCambiado `json:"campos"`
}

// MarshalJSON writes fecha in fechaLayout and campos as [] when empty.
func (e EntradaAuditoria) MarshalJSON() ([]byte, error) {
	type plain EntradaAuditoria // no methods: avoids recursion
	if e.Campos == nil {
		e.Campos = []CampoCambiado{}
	}
	return json.Marshal(struct {
		plain
		Fecha string `json:"fecha"`
	}{plain(e), formatFecha(e.Fecha)})
}

// EntradaDe is the audit entry of the last change applied to c.
func EntradaDe(c Cliente) EntradaAuditoria {
	e := EntradaAuditoria{ClienteID: c.ID, Version: c.Version, Tipo: c.Cambio}
	if c.Registro != nil {
		e.Fecha, e.Autor, e.Campos = c.Registro.Fecha, c.Registro.Autor, c.Registro.Campos
	}
	return e
}

// Auditoria stores audit entries. Implementations must be safe for
// concurrent use, also by several processes; storetest.RunAuditoria is the
// suite every implementation passes.
type Auditoria interface {
	// Add records e unless an entry for its customer and version is
	// recorded already (then it changes nothing).
	Add(ctx context.Context, e EntradaAuditoria) error
	// Pagina returns customer clienteID's entries newest first (by
	// version, descending), only those below version antesDe unless it is
	// 0, at most limite.
	Pagina(ctx context.Context, clienteID int64, antesDe int64, limite int) ([]EntradaAuditoria, error)
	// Borrar erases the personal values (CamposPersonales) from every
	// entry of customer clienteID, keeping which fields changed (Borrar).
	Borrar(ctx context.Context, clienteID int64) error
}

// CamposPersonales are the fields that identify a person: anonymisation
// replaces them, and erases their old values from the audit trail.
var CamposPersonales = []string{"dni", "nombre", "apellido", "email", "telefono", "direccion"}

func esPersonal(campo string) bool {
	for _, p := range CamposPersonales {
		if p == campo {
			return true
		}
	}
	return false
}

// Borrar returns campos with the values of personal fields erased.
func Borrar(campos []CampoCambiado) []CampoCambiado {
	out := make([]CampoCambiado, len(campos))
	for i, c := range campos {
		if esPersonal(c.Campo) {
			c = CampoCambiado{Campo: c.Campo, Borrado: true}
		}
		out[i] = c
	}
	return out
}

// valores lists a customer's audited fields in a fixed order.
func valores(c Cliente) []CampoCambiado {
	return []CampoCambiado{
		{Campo: "dni", Despues: c.DNI}, {Campo: "nombre", Despues: c.Nombre}, {Campo: "apellido", Despues: c.Apellido},
		{Campo: "email", Despues: c.Email}, {Campo: "telefono", Despues: c.Telefono}, {Campo: "direccion", Despues: c.Direccion},
		{Campo: "activo", Despues: c.Activo},
	}
}

// Diferencias lists the fields that differ from antes to despues; with
// antes nil (a registration), every field that has a value.
func Diferencias(antes *Cliente, despues Cliente) []CampoCambiado {
	nuevos := valores(despues)
	out := []CampoCambiado{}
	if antes == nil {
		for _, v := range nuevos {
			if v.Despues != "" {
				out = append(out, v)
			}
		}
		return out
	}
	for i, v := range valores(*antes) {
		if v.Despues != nuevos[i].Despues {
			out = append(out, CampoCambiado{Campo: v.Campo, Antes: v.Despues, Despues: nuevos[i].Despues})
		}
	}
	return out
}

// registro is the record of a change made now by ctx's principal.
func (s *Service) registro(ctx context.Context, campos []CampoCambiado) *RegistroCambio {
	p, _ := PrincipalFrom(ctx)
	return &RegistroCambio{Fecha: truncateToMillis(s.now()), Autor: p, Campos: campos}
}

// conAntes applies a change that depends on the customer as it is: write
// gets the customer and a condition pinned to its version, so the fields
// recorded as "before" are the ones the change replaced. If another change
// slips in between (only possible when the caller pinned no version of its
// own, and rare: one customer's commands are handled one at a time) it
// reads again.
func (s *Service) conAntes(ctx context.Context, id int64, cond Cambio, write func(antes Cliente, pinned Cambio) (Cliente, error)) (Cliente, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		antes, err := s.store.Get(ctx, id)
		if err != nil {
			return Cliente{}, err
		}
		if err := cond.Check(antes.Version); err != nil {
			return Cliente{}, err
		}
		pinned := cond
		pinned.Version, pinned.Leido = &antes.Version, &antes
		c, err := write(antes, pinned)
		if ErrorCode(err) != CodePrecondition || cond.Version != nil || attempt == attempts {
			return c, err
		}
	}
}

// errAnonimizado refuses to change an anonymised customer: its personal
// data are gone for good, and giving it new ones would make it someone.
func errAnonimizado(id int64) error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf("customer %d was anonymised and cannot change", id),
		Fields: []FieldError{{Field: "id", Message: "was anonymised"}}}
}

// recordAuditoria records the audit entry of the change that produced c.
// After an anonymisation it first erases the personal values of the
// customer's earlier entries, so that a retry after a crash finishes
// that too.
func (s *Service) recordAuditoria(ctx context.Context, c Cliente) error {
	return recordAuditoria(ctx, s.auditoria, c, s.now())
}

func recordAuditoria(ctx context.Context, a Auditoria, c Cliente, now time.Time) error {
	if c.Cambio == CambioAnonimizado {
		if err := a.Borrar(ctx, c.ID); err != nil {
			return err
		}
	}
	return a.Add(ctx, entradaAt(c, now))
}

// entradaAt is c's audit entry, dated now if c was changed by a worker
// from before the audit trail.
func entradaAt(c Cliente, now time.Time) EntradaAuditoria {
	e := EntradaDe(c)
	if e.Fecha.IsZero() {
		e.Fecha = truncateToMillis(now)
	}
	return e
}

// recordChange records the audit entry and the event of the change that
// produced c; with Diferir, only the event, which carries what the relay
// records the rest from. A failure fails the command before its
// idempotency record is finished, so the retry records them again.
func (s *Service) recordChange(ctx context.Context, c Cliente) error {
	if s.diferir {
		return s.outbox.Add(ctx, EventoDiferido(c, s.now()))
	}
	if err := s.recordAuditoria(ctx, c); err != nil {
		return err
	}
	return s.recordEvent(ctx, c)
}

// Paging of an audit trail.
const (
	DefaultLimiteAuditoria = 20
	MaxLimiteAuditoria     = 100
)

// PaginaAuditoria is one page of a customer's audit trail, newest first.
// Siguiente is the cursor of the next page, empty on the last one.
type PaginaAuditoria struct {
	ClienteID int64              `json:"clienteId"`
	Entradas  []EntradaAuditoria `json:"entradas"`
	Siguiente string             `json:"siguiente,omitempty"`
}

type cursorAuditoria struct {
	V int64 `json:"v"` // the last version of the page
}

// LimiteAuditoria is the page size limite asks for: DefaultLimiteAuditoria
// when nil, else 1 to MaxLimiteAuditoria.
func LimiteAuditoria(limite *int) (int, error) {
	return limitePagina(limite, DefaultLimiteAuditoria, MaxLimiteAuditoria)
}

// Auditoria returns a page of customer id's audit trail, newest first:
// limite entries (nil for DefaultLimiteAuditoria), after cursor ("" for
// the first page).
func (s *Service) Auditoria(ctx context.Context, id int64, limite *int, cursor string) (PaginaAuditoria, error) {
	var v fieldErrors
	if id <= 0 {
		v.add("id", "must be a positive integer")
	}
	n, err := LimiteAuditoria(limite)
	v.addFrom(err)
	var cur cursorAuditoria
	if cursor != "" {
		v.addFrom(decodeCursor(cursor, &cur, func() bool { return cur.V > 1 }))
	}
	if err := v.err("the request is not valid"); err != nil {
		return PaginaAuditoria{}, err
	}
	if _, err := s.store.Get(ctx, id); err != nil {
		return PaginaAuditoria{}, err
	}
	entradas, err := s.paginaAuditoria(ctx, id, cur.V, n+1) // one more tells whether a next page exists
	if err != nil {
		return PaginaAuditoria{}, err
	}
	out := PaginaAuditoria{ClienteID: id, Entradas: entradas}
	if len(entradas) > n {
		out.Entradas = entradas[:n]
		out.Siguiente = encodeCursor(cursorAuditoria{V: entradas[n-1].Version})
	}
	return out, nil
}
