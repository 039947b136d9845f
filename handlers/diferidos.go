package handlers

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Deferred records (Deps.Diferir): a change's audit entry, report notice
// and idempotency result, recorded by the relay in batches instead of by
// the command, one write each.
//
// A command with Diferir writes, in order:
//
//  1. its idempotency record, pending (Begin), as without Diferir;
//  2. the change itself, one customer document: the commit point. The
//     document carries the idempotency key (LastOp), the kind of change
//     and its audit record (Registro), as without Diferir;
//  3. its outbox event, Diferido: the customer as the change left it,
//     LastOp and Registro included, from which the relay rebuilds the
//     audit entry (EntradaDe), the notice (AvisoDeCambio) and the
//     idempotency result (the customer itself).
//
// and answers. The relay then, for each claimed batch, records the audit
// entries, the notices and the finished idempotency records (each
// idempotent: a second record of one is kept once, or finishes with the
// same result), then publishes, then deletes the events. So:
//
//   - a crash between 2 and 3: the command was not answered and its
//     offset not committed; its redelivery finds the record pending and no
//     event (pendiente), finds the change by its LastOp (locate) and
//     records the event, as without Diferir;
//   - a crash after 3, or a retry before the relay ran: the retry finds
//     the record pending and the event in the outbox under its key, and
//     answers the event's customer: the same answer, even when a later
//     change moved the customer on (its LastOp is then another key);
//   - a crash of the relay anywhere: the events stay in the outbox and are
//     claimed again after their lease; what was recorded is recorded
//     once. The relay finishes the idempotency records before it deletes
//     the events, so a retry always finds one or the other (pendiente);
//   - reads of the audit trail record the entries still in the outbox
//     first (registrarPendientes), so a change shows there as soon as it
//     is answered. Report notices show within the relay's delay, which
//     the reports' own delay (the projector) already exceeds.
//
// An anonymisation erases the personal values of the customer's earlier
// entries before its own entry is added: the relay records every other
// entry of a batch first, and a customer's events are claimed in version
// order, so its earlier entries are recorded by then (an anonymised
// customer changes no more).

// Registros are where a relay records what Diferido events left to it.
// Auditoria, Reportes and Idempotency are the service's (Reportes the
// projector's NotifyingReportes, so it folds at once).
type Registros struct {
	Auditoria   Auditoria
	Reportes    ReportesStore
	Idempotency IdempotencyStore
}

// Terminado is an idempotency record to finish with its result.
type Terminado struct {
	Key       string
	Resultado StoredResult
}

// AuditoriaVarias is an Auditoria that records many entries in one round
// trip; Registros use it when their Auditoria has it. It must do what
// calling Add with each entry would.
type AuditoriaVarias interface {
	AddVarias(ctx context.Context, es []EntradaAuditoria) error
}

// IdempotencyVarias is an IdempotencyStore that finishes many records in
// one round trip, skipping those that no longer exist (expired and swept);
// Registros use it when their IdempotencyStore has it.
type IdempotencyVarias interface {
	FinishVarios(ctx context.Context, ts []Terminado) error
}

// registrar records what events left to the relay, before it publishes
// them.
func (r *Registros) registrar(ctx context.Context, events []Evento, now time.Time) error {
	var entradas []EntradaAuditoria
	var anonimizados []Cliente
	var avisos []Aviso
	var terminados []Terminado
	for _, e := range events {
		if !e.Diferido {
			continue
		}
		c := e.Cliente
		if c.Cambio == CambioAnonimizado {
			anonimizados = append(anonimizados, c)
		} else {
			entradas = append(entradas, entradaAt(c, now))
		}
		avisos = append(avisos, AvisoDeCambio(c))
		if c.LastOp != "" {
			terminados = append(terminados, Terminado{Key: c.LastOp, Resultado: storedResultOf(c, nil)})
		}
	}
	if err := r.addEntradas(ctx, entradas); err != nil {
		return err
	}
	for _, c := range anonimizados {
		if err := recordAuditoria(ctx, r.Auditoria, c, now); err != nil {
			return err
		}
	}
	if len(avisos) > 0 {
		if err := r.Reportes.Avisar(ctx, avisos...); err != nil {
			return err
		}
	}
	return r.finish(ctx, terminados)
}

func (r *Registros) addEntradas(ctx context.Context, es []EntradaAuditoria) error {
	var varias func(context.Context, []EntradaAuditoria) error
	if v, ok := r.Auditoria.(AuditoriaVarias); ok {
		varias = v.AddVarias
	}
	return enLote(ctx, es, varias, r.Auditoria.Add)
}

func (r *Registros) finish(ctx context.Context, ts []Terminado) error {
	var varios func(context.Context, []Terminado) error
	if v, ok := r.Idempotency.(IdempotencyVarias); ok {
		varios = v.FinishVarios
	}
	return enLote(ctx, ts, varios, func(ctx context.Context, t Terminado) error {
		// A record swept already has nobody left to answer.
		if err := r.Idempotency.Finish(ctx, t.Key, t.Resultado); ErrorCode(err) != CodeInternal {
			return err
		}
		return nil
	})
}

// enLote records items with varios, one round trip, where the store has
// it, else one by one with uno.
func enLote[T any](ctx context.Context, items []T, varios func(context.Context, []T) error, uno func(context.Context, T) error) error {
	if len(items) == 0 {
		return nil
	}
	if varios != nil {
		return varios(ctx, items)
	}
	for _, it := range items {
		if err := uno(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// paginaAuditoria is Auditoria.Pagina with, under Diferir, the entries
// of customer id's changes whose events are still in the outbox, so that
// a change shows in the audit trail as soon as it is answered. It writes
// nothing: only the relay records Diferido entries, so the relay's
// batches never meet an entry recorded by someone else.
func (s *Service) paginaAuditoria(ctx context.Context, id, antesDe int64, limite int) ([]EntradaAuditoria, error) {
	page, err := s.auditoria.Pagina(ctx, id, antesDe, limite)
	if err != nil || !s.diferir {
		return page, err
	}
	events, err := s.outbox.DeCliente(ctx, id)
	if err != nil {
		return nil, err
	}
	var anonimizado int64 // the version that anonymised the customer, if pending
	out := page
	for _, e := range events {
		if !e.Diferido {
			continue
		}
		en := entradaAt(e.Cliente, s.now())
		if en.Tipo == CambioAnonimizado {
			anonimizado = en.Version
		}
		recorded := slices.ContainsFunc(page, func(x EntradaAuditoria) bool { return x.Version == en.Version })
		if (antesDe == 0 || en.Version < antesDe) && !recorded {
			out = append(out, en)
		}
	}
	if len(out) == len(page) && anonimizado == 0 {
		return page, nil
	}
	// What the relay's Borrar will do to the stored entries.
	for i := range out {
		if out[i].Version < anonimizado {
			out[i].Campos = Borrar(out[i].Campos)
		}
	}
	slices.SortFunc(out, func(a, b EntradaAuditoria) int { return cmp.Compare(b.Version, a.Version) })
	return out[:min(len(out), limite)], nil
}

// publicable is e as other services get it: without what only the
// relay's records needed.
func publicable(e Evento) Evento {
	e.Cliente.Registro, e.Cliente.LastOp, e.Diferido = nil, "", false
	return e
}

// publicables returns events as publicable, for publishing.
func publicables(events []Evento) []Evento {
	if !slices.ContainsFunc(events, func(e Evento) bool { return e.Diferido }) {
		return events
	}
	out := make([]Evento, len(events))
	for i, e := range events {
		out[i] = publicable(e)
	}
	return out
}
