package handlers

import (
	"context"
	"errors"
)

// Outcomes of a sales event (ResultadoVenta.Resultado).
const (
	// VentaAplicada: the history and totals now include the event.
	VentaAplicada = "aplicada"
	// VentaDuplicada: the event was applied before; totals are checked again.
	VentaDuplicada = "duplicada"
	// VentaRechazada: the event is not attached to any customer; Motivo says
	// why (MotivoNoEncontrado, MotivoConflicto).
	VentaRechazada = "rechazada"
)

// MotivoConflicto: the sale id is already registered for a different sale.
const MotivoConflicto = "conflicto"

// ResultadoVenta tells what applying one sales event did.
type ResultadoVenta struct {
	Resultado string `json:"resultado"`
	// Motivo explains a rejection, or flags an applied sale of an inactive
	// customer (MotivoInactivo).
	Motivo    string `json:"motivo,omitempty"`
	VentaID   string `json:"ventaId"`
	ClienteID int64  `json:"clienteId"`
}

// RegistrarVenta applies a "sale registered" event. A sale of a customer
// that does not exist is rejected, never attached; a sale of an inactive
// customer is attached and flagged (it did happen), so the caller can
// report both. Totals are recomputed every time, also for a duplicate: a
// crash between storing the sale and storing the totals is healed by the
// redelivery.
func (s *Service) RegistrarVenta(ctx context.Context, d DatosVenta) (ResultadoVenta, error) {
	c, err := ValidarVenta(d, s.now())
	if err != nil {
		return ResultadoVenta{}, err
	}
	res := ResultadoVenta{VentaID: c.VentaID, ClienteID: c.ClienteID}
	cliente, err := s.store.Get(ctx, c.ClienteID)
	switch {
	case ErrorCode(err) == CodeNotFound:
		res.Resultado, res.Motivo = VentaRechazada, MotivoNoEncontrado
		return res, nil
	case err != nil:
		return ResultadoVenta{}, err
	case !cliente.Activo:
		c.ClienteInactivo = true
		res.Motivo = MotivoInactivo
	}
	// Totals read before the sale is stored cannot include it: adding it to
	// them is exact, if nobody saved totals in between (the revision check).
	before, rev, err := s.historial.Agregados(ctx, c.ClienteID)
	if err != nil {
		return ResultadoVenta{}, err
	}
	estado, stored, err := s.historial.RegistrarCompra(ctx, c)
	if err != nil {
		return ResultadoVenta{}, err
	}
	switch estado {
	case EstadoConflicto:
		res.Resultado, res.Motivo = VentaRechazada, MotivoConflicto
		return res, nil
	case EstadoDuplicada:
		// Maybe a redelivery after a crash before the totals were saved:
		// only a recomputation knows.
		res.Resultado = VentaDuplicada
		return res, s.avisarVenta(ctx, res, false, s.recalcular(ctx, c.ClienteID))
	}
	res.Resultado = VentaAplicada
	err = s.historial.GuardarAgregados(ctx, before.Con(stored), rev)
	if errors.Is(err, ErrRevision) {
		err = s.recalcular(ctx, c.ClienteID)
	}
	return res, s.avisarVenta(ctx, res, false, err)
}

// avisarVenta records the notice of a sale applied to the history, after
// err (the history's write) succeeded; also for a duplicate, which may be
// the redelivery of an event that crashed before its notice.
func (s *Service) avisarVenta(ctx context.Context, res ResultadoVenta, anulada bool, err error) error {
	if err != nil {
		return err
	}
	return s.reportes.Avisar(ctx, AvisoDeVenta(res.VentaID, res.ClienteID, anulada))
}

// recalcular recomputes a customer's totals from its purchases and stores
// them, retrying when a concurrent recomputation stored first: the last
// save always read every purchase stored before it started.
func (s *Service) recalcular(ctx context.Context, clienteID int64) error {
	for range revisionAttempts {
		current, rev, err := s.historial.Agregados(ctx, clienteID)
		if err != nil {
			return err
		}
		compras, err := s.historial.ComprasDe(ctx, clienteID)
		if err != nil {
			return err
		}
		fresh := Agregar(clienteID, compras)
		if rev > 0 && fresh.Equal(current) {
			return nil
		}
		err = s.historial.GuardarAgregados(ctx, fresh, rev)
		if !errors.Is(err, ErrRevision) {
			return err
		}
	}
	return Errorf(CodeUnavailable, "purchase totals kept changing")
}
