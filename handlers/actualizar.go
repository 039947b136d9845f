package handlers

import "context"

// Actualizar replaces the editable fields of customer id, keeping its
// fechaRegistro, and its status unless d.Activo is set; only if cond holds.
func (s *Service) Actualizar(ctx context.Context, id int64, d Datos, cond Cambio) (Cliente, error) {
	return s.idempotent(ctx, cond.IdempotencyKey, fingerprint("actualizar", id, d, cond.Version),
		s.locateByID(id, cond.IdempotencyKey),
		func() (Cliente, error) {
			var v fieldErrors
			message := "the customer data is not valid"
			if id <= 0 {
				v.add("id", "must be a positive integer")
				message = "the request is not valid"
			}
			campos, err := Validate(d)
			v.addFrom(err)
			if err := v.err(message); err != nil {
				return Cliente{}, err
			}
			return s.conAntes(ctx, id, cond, func(antes Cliente, pinned Cambio) (Cliente, error) {
				if antes.Anonimizado {
					return Cliente{}, errAnonimizado(id)
				}
				nuevo := antes
				campos.Aplicar(&nuevo)
				if d.Activo != nil {
					nuevo.Activo = *d.Activo
				}
				pinned.Registro = s.registro(ctx, Diferencias(&antes, nuevo))
				return s.store.Replace(ctx, id, campos, d.Activo, pinned)
			})
		})
}
