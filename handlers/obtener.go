package handlers

import (
	"context"
	"fmt"
	"slices"
)

// Obtener returns customer id, active or not.
func (s *Service) Obtener(ctx context.Context, id int64) (Cliente, error) {
	if err := checkID(id); err != nil {
		return Cliente{}, err
	}
	return s.store.Get(ctx, id)
}

// ObtenerPorDNI looks a customer up by DNI; a check character is accepted
// and verified as on create.
func (s *Service) ObtenerPorDNI(ctx context.Context, dni string) (Cliente, error) {
	norm, msg := NormalizeDNI(dni)
	if msg != "" {
		return Cliente{}, invalidField("dni", msg)
	}
	return s.store.GetByDNI(ctx, norm)
}

// ObtenerPorEmail looks a customer up by email, regardless of case.
func (s *Service) ObtenerPorEmail(ctx context.Context, email string) (Cliente, error) {
	norm, msg := NormalizeEmail(email)
	if msg != "" {
		return Cliente{}, invalidField("email", msg)
	}
	return s.store.GetByEmail(ctx, norm)
}

// MaxIDs bounds one ObtenerVarios call.
const MaxIDs = 200

// ObtenerVarios returns the customers with the given ids, active or not,
// in ascending id order; unknown ids are simply absent. One call replaces
// a lookup per id (the original sales service's N+1).
func (s *Service) ObtenerVarios(ctx context.Context, ids []int64) ([]Cliente, error) {
	if len(ids) > MaxIDs {
		return nil, invalidField("ids", fmt.Sprintf("at most %d ids per call", MaxIDs))
	}
	for _, id := range ids {
		if id <= 0 {
			return nil, invalidField("ids", "must be positive integers")
		}
	}
	if len(ids) == 0 {
		return []Cliente{}, nil
	}
	return s.store.List(ctx, Filtro{IDs: slices.Compact(slices.Sorted(slices.Values(ids)))})
}
