package handlers

import (
	"context"
	"strconv"
)

// DominioAnonimo is the email domain of anonymised customers. The .invalid
// top-level domain is reserved never to exist (RFC 6761), so no real
// address is in it, and NormalizeEmail refuses it: a placeholder can never
// clash with a customer's email, nor be registered by one.
const DominioAnonimo = "anonimizado.invalid"

// Anonimo are the fields an anonymised customer keeps: placeholders for
// dni and email, unique per customer so that the unique indexes hold for
// any number of anonymised customers, and never a valid DNI (8 digits) or
// email, so that the real ones are free for anyone to register again;
// the other personal fields empty.
func Anonimo(id int64) Campos {
	n := strconv.FormatInt(id, 10)
	return Campos{DNI: "anonimo-" + n, Email: "anonimo-" + n + "@" + DominioAnonimo}
}

// Anonimizar erases customer id's personal data for good (the customer's
// right to erasure): dni, nombre, apellido, email, telefono and direccion
// are replaced (Anonimo), the customer is deactivated and marked
// anonimizado, and the personal values in its audit trail are erased
// (recordAuditoria), which keeps which fields changed and when. The id,
// the purchase history and the totals stay, so sales and reports remain
// true. Anonymising an anonymised customer returns it unchanged.
func (s *Service) Anonimizar(ctx context.Context, id int64, cond Cambio) (Cliente, error) {
	return s.idempotent(ctx, cond.IdempotencyKey, fingerprint("anonimizar", id, cond.Version),
		s.locateByID(id, cond.IdempotencyKey),
		func() (Cliente, error) {
			if err := checkID(id); err != nil {
				return Cliente{}, err
			}
			return s.conAntes(ctx, id, cond, func(antes Cliente, pinned Cambio) (Cliente, error) {
				if antes.Anonimizado {
					return antes, nil
				}
				campos := Anonimo(id)
				nuevo := antes
				campos.Aplicar(&nuevo)
				nuevo.Activo = false
				pinned.Registro = s.registro(ctx, Borrar(Diferencias(&antes, nuevo)))
				return s.store.Anonimizar(ctx, id, campos, pinned)
			})
		})
}
