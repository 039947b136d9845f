package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

type api struct{ o Options }

func (a *api) crear() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d handlers.Datos
		if p, ok := a.decodeBody(w, r, &d); !ok {
			writeProblem(w, p)
			return
		}
		call := topics.Crear(d)
		call.Meta.IdempotencyKey = r.Header.Get("Idempotency-Key")
		var c handlers.Cliente
		if p, ok := a.call(r, call, &c); !ok {
			writeProblem(w, p)
			return
		}
		w.Header().Set("Location", fmt.Sprintf("/cliente/%d", c.ID))
		w.Header().Set("ETag", etag(c.Version))
		writeJSON(w, http.StatusCreated, c)
	})
}

func (a *api) actualizar() http.Handler {
	return a.withID(func(w http.ResponseWriter, r *http.Request, id int64) {
		var d handlers.Datos
		if p, ok := a.decodeBody(w, r, &d); !ok {
			writeProblem(w, p)
			return
		}
		call := topics.ActualizarCliente(id, d)
		call.Meta.ExpectedVersion = ifMatch(r)
		call.Meta.IdempotencyKey = r.Header.Get("Idempotency-Key")
		a.respond(w, r, call, http.StatusOK, new(handlers.Cliente))
	})
}

func (a *api) eliminar() http.Handler {
	return a.withID(func(w http.ResponseWriter, r *http.Request, id int64) {
		call := topics.Eliminar(id)
		call.Meta.ExpectedVersion = ifMatch(r)
		call.Meta.IdempotencyKey = r.Header.Get("Idempotency-Key")
		a.respond(w, r, call, http.StatusNoContent, new(handlers.Cliente))
	})
}

func (a *api) obtener() http.Handler {
	return a.withID(func(w http.ResponseWriter, r *http.Request, id int64) {
		a.respond(w, r, topics.Obtener(id), http.StatusOK, new(handlers.Cliente))
	})
}

func (a *api) porDNI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.respond(w, r, topics.ObtenerPorDNI(r.PathValue("dni")), http.StatusOK, new(handlers.Cliente))
	})
}

func (a *api) porEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.respond(w, r, topics.ObtenerPorEmail(r.PathValue("email")), http.StatusOK, new(handlers.Cliente))
	})
}

// listar keeps the original service's bare JSON array body. Paging will
// come as optional query parameters mapped onto topics.Listar's cursor.
func (a *api) listar(activo *bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list := []handlers.Cliente{}
		a.respond(w, r, topics.ListarClientes(topics.Listar{Activo: activo}), http.StatusOK, &list)
	})
}

// subrecurso routes /cliente/{id}/{recurso} to the handler of recurso.
func (a *api) subrecurso(byName map[string]func(http.ResponseWriter, *http.Request, int64)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := byName[r.PathValue("recurso")]
		if !ok {
			writeProblem(w, newProblem(r, string(handlers.CodeNotFound), "no such resource", nil))
			return
		}
		a.withID(h).ServeHTTP(w, r)
	})
}

// compras serves one page of a customer's purchase history, newest first.
// The body is the reply's as it is; the next page, if any, is also linked
// from a Link header (RFC 8288).
func (a *api) compras(w http.ResponseWriter, r *http.Request, id int64) {
	q := topics.Compras{ID: id, Cursor: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limite"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > handlers.MaxLimiteCompras {
			writeProblem(w, newProblem(r, string(handlers.CodeInvalid), "the request is not valid",
				[]handlers.FieldError{{Field: "limite", Message: fmt.Sprintf("must be an integer from 1 to %d", handlers.MaxLimiteCompras)}}))
			return
		}
		q.Limite = n
	}
	var raw json.RawMessage
	if p, ok := a.call(r, topics.ComprasDe(q), &raw); !ok {
		writeProblem(w, p)
		return
	}
	var page struct {
		Siguiente string `json:"siguiente"`
	}
	if json.Unmarshal(raw, &page) == nil && page.Siguiente != "" {
		next := url.Values{"cursor": {page.Siguiente}}
		if q.Limite > 0 {
			next.Set("limite", strconv.Itoa(q.Limite))
		}
		w.Header().Set("Link", fmt.Sprintf(`</cliente/%d/compras?%s>; rel="next"`, id, next.Encode()))
	}
	writeRaw(w, http.StatusOK, raw)
}

// resumen serves a customer's purchase totals and lifetime value.
func (a *api) resumen(w http.ResponseWriter, r *http.Request, id int64) {
	var raw json.RawMessage
	if p, ok := a.call(r, topics.ResumenDe(id), &raw); !ok {
		writeProblem(w, p)
		return
	}
	writeRaw(w, http.StatusOK, raw)
}

func (a *api) readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*a.o.RequestTimeout)
		defer cancel()
		if err := a.o.Ready(ctx); err != nil {
			a.o.Log.Warn().Err(err).Msg("not ready")
			writeProblem(w, newProblem(r, string(handlers.CodeUnavailable), "not ready", nil))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// respond makes the call and writes its result (decoded into out) with
// status, or the problem.
func (a *api) respond(w http.ResponseWriter, r *http.Request, c topics.Call, status int, out any) {
	if p, ok := a.call(r, c, out); !ok {
		writeProblem(w, p)
		return
	}
	if c, ok := out.(*handlers.Cliente); ok {
		w.Header().Set("ETag", etag(c.Version))
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, out)
}

// call sends c with the edge's bounded wait and decodes the reply into out.
func (a *api) call(r *http.Request, c topics.Call, out any) (Problem, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), a.o.RequestTimeout)
	defer cancel()
	reply, err := a.o.Caller.Call(ctx, c)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return newProblem(r, codeTimeout, "the customer service did not answer in time", nil), false
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return newProblem(r, string(handlers.CodeUnavailable), "request cancelled", nil), false
	case err != nil:
		a.o.Log.Warn().Err(err).Str("type", string(c.Type)).Msg("call failed")
		return problemFromError(r, err), false
	}
	if err := reply.Decode(out); err != nil {
		return problemFromError(r, err), false
	}
	return Problem{}, true
}

func (a *api) withID(next func(http.ResponseWriter, *http.Request, int64)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			writeProblem(w, newProblem(r, string(handlers.CodeInvalid), "the customer id is not valid",
				[]handlers.FieldError{{Field: "id", Message: "must be a positive integer"}}))
			return
		}
		next(w, r, id)
	})
}

// decodeBody reads one JSON object of at most MaxBodyBytes into v.
func (a *api) decodeBody(w http.ResponseWriter, r *http.Request, v any) (Problem, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !isJSONSuffix(mt)) {
			return newProblem(r, codeUnsupportedType, "the body must be application/json", nil), false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes))
	err := dec.Decode(v)
	if err == nil {
		// Exactly one value: trailing data means a malformed body.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return Problem{}, true
	}
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return newProblem(r, codeTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit), nil), false
	case errors.Is(err, io.EOF):
		return newProblem(r, string(handlers.CodeInvalid), "the body is empty", nil), false
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return newProblem(r, string(handlers.CodeInvalid), "the body has a field of the wrong type",
			[]handlers.FieldError{{Field: typeErr.Field, Message: "has the wrong JSON type"}}), false
	default:
		return newProblem(r, string(handlers.CodeInvalid), "the body is not a valid JSON object", nil), false
	}
}

// etag is a customer version as a strong entity tag.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch turns an If-Match header into the expected version of a change:
// nil when absent or "*", the version for one strong tag of ours, and -1
// (matches no version, so the change fails with 412) for anything else:
// weak tags never match under If-Match's strong comparison. A list of
// several tags is treated as not matching: the service compares against
// one version.
func ifMatch(r *http.Request) *int64 {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil
	}
	never := int64(-1)
	if len(h) < 3 || h[0] != '"' || h[len(h)-1] != '"' {
		return &never
	}
	v, err := strconv.ParseInt(h[1:len(h)-1], 10, 64)
	if err != nil || v < 1 {
		return &never
	}
	return &v
}

func isJSONSuffix(mt string) bool {
	return len(mt) > 5 && mt[len(mt)-5:] == "+json"
}
