package handlers

import "context"

// Eliminar soft-deletes customer id: it becomes inactive and stays readable.
// Deleting an inactive customer succeeds and changes nothing.
func (s *Service) Eliminar(ctx context.Context, id int64, cond Cambio) (Cliente, error) {
	return s.idempotent(ctx, cond.IdempotencyKey, fingerprint("eliminar", id, cond.Version),
		s.locateByID(id, cond.IdempotencyKey),
		func() (Cliente, error) {
			if err := checkID(id); err != nil {
				return Cliente{}, err
			}
			return s.conAntes(ctx, id, cond, func(antes Cliente, pinned Cambio) (Cliente, error) {
				nuevo := antes
				nuevo.Activo = false
				pinned.Registro = s.registro(ctx, Diferencias(&antes, nuevo))
				return s.store.SetActivo(ctx, id, false, pinned)
			})
		})
}
