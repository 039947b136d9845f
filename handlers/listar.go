package handlers

import "context"

// Listar returns the customers that f selects, in ascending id order.
func (s *Service) Listar(ctx context.Context, f Filtro) ([]Cliente, error) {
	var v fieldErrors
	if f.DespuesDeID < 0 {
		v.add("despuesDeId", "must not be negative")
	}
	if f.Limite < 0 {
		v.add("limite", "must not be negative")
	}
	if err := v.err("the listing parameters are not valid"); err != nil {
		return nil, err
	}
	return s.store.List(ctx, f)
}
