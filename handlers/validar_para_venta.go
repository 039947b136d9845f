package handlers

import "context"

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
