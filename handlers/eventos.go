package handlers

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"
)

// Kinds of change to a customer. Stores record the kind on the customer
// (Cliente.Cambio) in the same write as the change, so the event of a
// change can be rebuilt from the customer alone after a crash.
const (
	CambioRegistrado  = "registrado"
	CambioActualizado = "actualizado"
	CambioDesactivado = "desactivado"
	CambioReactivado  = "reactivado"
	// CambioAnonimizado: the personal data were erased for good (Anonimizar).
	CambioAnonimizado = "anonimizado"
)

// CambioDeEstado is the kind of a change that sets activo from antes to
// despues, with or without other fields changing: a status change is what
// other services most need to see, so it names the event.
func CambioDeEstado(antes, despues bool) string {
	switch {
	case antes && !despues:
		return CambioDesactivado
	case !antes && despues:
		return CambioReactivado
	}
	return CambioActualizado
}

// Evento is a change to a customer as other services learn of it: the kind
// of change and the customer's whole state after it. One customer's events
// have growing versions; a consumer applies an event only if its version
// is above the last it applied, which makes duplicates harmless.
type Evento struct {
	// ID is unique per change: the customer id and its new version.
	ID      string
	Tipo    string // one of the Cambio* kinds
	Cliente Cliente
	// Registrado is when the service recorded the event.
	Registrado time.Time
	// Diferido marks the event of a change whose audit entry, report
	// notice and idempotency result are still to be recorded: the relay
	// records them from Cliente, which then keeps LastOp and Registro,
	// before it publishes the event (see diferidos.go).
	Diferido bool
}

// EventoDe is the event of the last change applied to c.
func EventoDe(c Cliente, now time.Time) Evento {
	c.Registro = nil // the audit trail's, not other services'
	return Evento{
		ID:         strconv.FormatInt(c.ID, 10) + "-" + strconv.FormatInt(c.Version, 10),
		Tipo:       c.Cambio,
		Cliente:    c,
		Registrado: truncateToMillis(now),
	}
}

// Outbox keeps the events of changes until they are published: a change
// records its event right after its own write, and a crash in between is
// repaired by the command's redelivery (see Service.idempotent), so no
// change goes without its event. storetest.RunOutbox is the suite every
// implementation passes.
type Outbox interface {
	// Add records e unless an event with its ID is recorded already.
	Add(ctx context.Context, e Evento) error
	// Claim returns up to limit recorded events that nobody claimed in the
	// last lease, and claims them until now+lease, so that relays in
	// several processes rarely publish one event twice. It takes each
	// customer's events oldest first (ClaimOrder) and never one while an
	// older event of its customer is claimed by another relay: a relay that
	// died delays its customers' later events until its lease ends, rather
	// than let them overtake.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Evento, error)
	// Delete forgets published events.
	Delete(ctx context.Context, ids []string) error
	// PorOperacion returns the recorded Diferido event of the change made
	// under idempotency key op, if there is one.
	PorOperacion(ctx context.Context, op string) (Evento, bool, error)
	// DeCliente returns customer id's recorded events, by version.
	DeCliente(ctx context.Context, id int64) ([]Evento, error)
}

// ClaimOrder groups recorded events (in the order recorded) by customer:
// customers in the order of their oldest event, each one's events by
// version. A relay claims a customer's events in that order and stops at
// the first it cannot claim.
func ClaimOrder(events []Evento) [][]Evento {
	index := map[int64]int{}
	var groups [][]Evento
	for _, e := range events {
		i, ok := index[e.Cliente.ID]
		if !ok {
			i = len(groups)
			index[e.Cliente.ID] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], e)
	}
	for _, g := range groups {
		slices.SortStableFunc(g, func(a, b Evento) int { return cmp.Compare(a.Cliente.Version, b.Cliente.Version) })
	}
	return groups
}

// Publisher sends events to other services; it returns only once the
// broker has them all, or fails.
type Publisher interface {
	Publish(ctx context.Context, events []Evento) error
}

// EventoDiferido is EventoDe for a change that leaves its audit entry,
// report notice and idempotency result to the relay: c keeps what they
// are rebuilt from (LastOp, Registro), which the relay strips before it
// publishes.
func EventoDiferido(c Cliente, now time.Time) Evento {
	e := EventoDe(c, now)
	e.Cliente.Registro, e.Diferido = c.Registro, true
	return e
}

// recordEvent records the event of the change that produced c, and its
// notice to the reports. A failure fails the command before its
// idempotency record is finished, so the retry records both again.
func (s *Service) recordEvent(ctx context.Context, c Cliente) error {
	if err := s.outbox.Add(ctx, EventoDe(c, s.now())); err != nil {
		return err
	}
	return s.reportes.Avisar(ctx, AvisoDeCambio(c))
}
