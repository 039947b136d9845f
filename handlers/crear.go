package handlers

import "context"

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
			nuevo := Cliente{Activo: true}
			campos.Aplicar(&nuevo)
			return s.store.Insert(ctx, campos, truncateToMillis(s.now()),
				Cambio{IdempotencyKey: key, Registro: s.registro(ctx, Diferencias(nil, nuevo))})
		})
}
