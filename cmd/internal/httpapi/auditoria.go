package httpapi

import (
	"context"
	"net/http"

	"github.com/jea/cliente/handlers"
)

// The administration routes: a customer's audit trail, everything held
// about it, and its anonymisation (scope admin, see routes).

// auditoria serves one page of a customer's audit trail, newest first;
// the next page, if any, is linked from a Link header (RFC 8288).
func (a *api) auditoria(w http.ResponseWriter, r *http.Request, id int64) {
	cursor := r.URL.Query().Get("cursor")
	limite, ok := limiteOf(w, r, handlers.MaxLimiteAuditoria)
	if !ok {
		return
	}
	page, err := call(a, r, func(ctx context.Context) (handlers.PaginaAuditoria, error) {
		return a.o.Clientes.Auditoria(ctx, id, limite, cursor)
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	linkNext(w, r, page.Siguiente, limite)
	writeJSON(w, http.StatusOK, page)
}

// datos serves everything held about a customer in one document.
func (a *api) datos(w http.ResponseWriter, r *http.Request, id int64) {
	d, err := call(a, r, func(ctx context.Context) (handlers.DatosCliente, error) {
		return a.o.Clientes.Datos(ctx, id)
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// anonimizar erases a customer's personal data and answers the
// anonymised customer; Idempotency-Key and If-Match work as on PUT.
func (a *api) anonimizar(w http.ResponseWriter, r *http.Request, id int64) {
	a.respondCliente(w, r, http.StatusOK, func(ctx context.Context) (handlers.Cliente, error) {
		return a.o.Clientes.Anonimizar(ctx, id, cambioOf(r))
	})
}
