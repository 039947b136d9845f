package handlers

import (
	"context"
	"time"
)

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

// Registrado is the customer Crear stores for d with id at fecha (its
// change record has no principal): for tools that seed many customers at
// once through a bulk import (repository.Importar) instead of Crear.
func Registrado(id int64, d Datos, fecha time.Time) (Cliente, error) {
	campos, err := Validate(d)
	if err != nil {
		return Cliente{}, err
	}
	nuevo := Cliente{Activo: true}
	campos.Aplicar(&nuevo)
	c := nuevo
	c.ID, c.FechaRegistro, c.Version, c.Cambio = id, truncateToMillis(fecha), 1, CambioRegistrado
	c.Registro = &RegistroCambio{Fecha: c.FechaRegistro, Campos: Diferencias(nil, nuevo)}
	return c, nil
}
