package handlers

import "context"

// AnularVenta applies a "sale cancelled" event, also before its sale
// arrives.
func (s *Service) AnularVenta(ctx context.Context, d DatosAnulacion) (ResultadoVenta, error) {
	ventaID, clienteID, fecha, err := ValidarAnulacion(d, s.now())
	if err != nil {
		return ResultadoVenta{}, err
	}
	c, err := s.historial.AnularCompra(ctx, ventaID, clienteID, fecha)
	if err != nil {
		return ResultadoVenta{}, err
	}
	// The stored sale names the customer, whatever the event said.
	res := ResultadoVenta{Resultado: VentaAplicada, VentaID: ventaID, ClienteID: c.ClienteID}
	return res, s.avisarVenta(ctx, res, true, s.recalcular(ctx, c.ClienteID))
}
