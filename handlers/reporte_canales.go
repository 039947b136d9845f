package handlers

import "context"

// Telefonos counts active customers' phones by kind; otro is a number
// libphonenumber cannot tell (or a foreign one it does not know).
type Telefonos struct {
	Movil int64 `json:"movil"`
	Fijo  int64 `json:"fijo"`
	Otro  int64 `json:"otro"`
}

// ReporteCanales counts the active customers by how they can be reached.
type ReporteCanales struct {
	SoloEmail    int64     `json:"soloEmail"`
	SoloTelefono int64     `json:"soloTelefono"`
	Ambos        int64     `json:"ambos"`
	Ninguno      int64     `json:"ninguno"`
	Telefonos    Telefonos `json:"telefonos"`
}

// ReporteCanales returns the contact channels of the active customers.
func (s *Service) ReporteCanales(ctx context.Context) (ReporteCanales, error) {
	n, err := s.reportes.Contadores(ctx, FamiliaCanales)
	if err != nil {
		return ReporteCanales{}, err
	}
	return CanalesDe(n), nil
}

// CanalesDe builds the report from the channel counters.
func CanalesDe(n map[string]int64) ReporteCanales {
	k := func(parts string) int64 { return n[FamiliaCanales+"|"+parts] }
	return ReporteCanales{
		SoloEmail: k(CanalSoloEmail), SoloTelefono: k(CanalSoloTelefono), Ambos: k(CanalAmbos), Ninguno: k(CanalNinguno),
		Telefonos: Telefonos{Movil: k("telefono|" + TelefonoMovil), Fijo: k("telefono|" + TelefonoFijo), Otro: k("telefono|" + TelefonoOtro)},
	}
}
