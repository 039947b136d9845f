package httpapi

import (
	"bytes"
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
)

type api struct{ o Options }

func (a *api) crear() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d handlers.Datos
		if p, ok := a.decodeBody(w, r, &d); !ok {
			writeProblem(w, p)
			return
		}
		c, err := call(a, r, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.Crear(ctx, d, handlers.Cambio{IdempotencyKey: r.Header.Get("Idempotency-Key")})
		})
		if err != nil {
			writeError(w, r, err)
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
		a.respondCliente(w, r, http.StatusOK, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.Actualizar(ctx, id, d, cambioOf(r))
		})
	})
}

func (a *api) eliminar() http.Handler {
	return a.withID(func(w http.ResponseWriter, r *http.Request, id int64) {
		a.respondCliente(w, r, http.StatusNoContent, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.Eliminar(ctx, id, cambioOf(r))
		})
	})
}

func (a *api) obtener() http.Handler {
	return a.withID(func(w http.ResponseWriter, r *http.Request, id int64) {
		a.respondCliente(w, r, http.StatusOK, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.Obtener(ctx, id)
		})
	})
}

// maxSegment bounds a path segment that carries a value (a DNI, an email):
// far above any valid one, far below what would make a message large.
const maxSegment = 320

// segment reads path value name, answering 400 itself if it is too long.
func segment(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.PathValue(name)
	if len(v) > maxSegment {
		writeProblem(w, newProblem(r, string(handlers.CodeInvalid), "the request is not valid",
			[]handlers.FieldError{{Field: name, Message: fmt.Sprintf("must be at most %d bytes", maxSegment)}}))
		return "", false
	}
	return v, true
}

func (a *api) porDNI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dni, ok := segment(w, r, "dni")
		if !ok {
			return
		}
		a.respondCliente(w, r, http.StatusOK, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.ObtenerPorDNI(ctx, dni)
		})
	})
}

func (a *api) porEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		email, ok := segment(w, r, "email")
		if !ok {
			return
		}
		a.respondCliente(w, r, http.StatusOK, func(ctx context.Context) (handlers.Cliente, error) {
			return a.o.Clientes.ObtenerPorEmail(ctx, email)
		})
	})
}

// listar serves a page of customers as the original service's bare JSON
// array; the next page, if any, is linked from a Link header (RFC 8288).
// With q it is a search. activo, when set, is the route's own filter
// (/cliente/activos).
func (a *api) listar(activo *bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params := r.URL.Query()
		q := handlers.ConsultaClientes{Q: params.Get("q"), Activo: activo, Cursor: params.Get("cursor"),
			RegistradoDesde: params.Get("registradoDesde"), RegistradoHasta: params.Get("registradoHasta"),
			Segmento: params.Get("segmento"), Moneda: params.Get("moneda"), Departamento: params.Get("departamento")}
		var bad []handlers.FieldError
		if s := params.Get("activo"); s != "" && activo == nil {
			b, err := strconv.ParseBool(s)
			if err != nil {
				bad = append(bad, handlers.FieldError{Field: "activo", Message: "must be true or false"})
			}
			q.Activo = &b
		}
		if s := params.Get("limite"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				bad = append(bad, handlers.FieldError{Field: "limite", Message: fmt.Sprintf("must be an integer from 1 to %d", handlers.MaxLimiteClientes)})
			}
			q.Limite = &n
		}
		if len(bad) > 0 {
			writeProblem(w, newProblem(r, string(handlers.CodeInvalid), "the listing parameters are not valid", bad))
			return
		}
		op := a.o.Clientes.Listar
		if q.Q != "" {
			op = a.o.Clientes.Buscar
		}
		page, err := call(a, r, func(ctx context.Context) (handlers.PaginaClientes, error) { return op(ctx, q) })
		if err != nil {
			writeError(w, r, err)
			return
		}
		if page.Siguiente != "" {
			params.Set("cursor", page.Siguiente)
			w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, params.Encode()))
		}
		writeJSON(w, http.StatusOK, page.Clientes)
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
// The next page, if any, is also linked from a Link header (RFC 8288).
func (a *api) compras(w http.ResponseWriter, r *http.Request, id int64) {
	cursor := r.URL.Query().Get("cursor")
	var limite *int
	if s := r.URL.Query().Get("limite"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeProblem(w, newProblem(r, string(handlers.CodeInvalid), "the request is not valid",
				[]handlers.FieldError{{Field: "limite", Message: fmt.Sprintf("must be an integer from 1 to %d", handlers.MaxLimiteCompras)}}))
			return
		}
		limite = &n
	}
	page, err := call(a, r, func(ctx context.Context) (handlers.HistorialCompras, error) {
		return a.o.Clientes.Compras(ctx, id, limite, cursor)
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	if page.Siguiente != "" {
		next := url.Values{"cursor": {page.Siguiente}}
		if limite != nil {
			next.Set("limite", strconv.Itoa(*limite))
		}
		w.Header().Set("Link", fmt.Sprintf(`</cliente/%d/compras?%s>; rel="next"`, id, next.Encode()))
	}
	writeJSON(w, http.StatusOK, page)
}

// resumen serves a customer's purchase totals and lifetime value.
func (a *api) resumen(w http.ResponseWriter, r *http.Request, id int64) {
	res, err := call(a, r, func(ctx context.Context) (handlers.Resumen, error) {
		return a.o.Clientes.Resumen(ctx, id)
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
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

// respondCliente runs op and writes the customer it returns, with its
// version as ETag, or the problem.
func (a *api) respondCliente(w http.ResponseWriter, r *http.Request, status int, op func(context.Context) (handlers.Cliente, error)) {
	c, err := call(a, r, op)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(c.Version))
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, c)
}

// call runs op with the edge's bounded wait.
func call[T any](a *api, r *http.Request, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(r.Context(), a.o.RequestTimeout)
	defer cancel()
	out, err := op(ctx)
	if err != nil && handlers.ErrorCode(err) == handlers.CodeUnavailable && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		a.o.Log.Warn().Err(err).Str("route", r.Pattern).Msg("call failed")
	}
	return out, err
}

// writeError writes the problem err is: a wait that ran out is a timeout,
// a client that went away needs no answer, the rest map by their code.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		writeProblem(w, newProblem(r, codeTimeout, "the customer service did not answer in time", nil))
	case errors.Is(err, context.Canceled):
		writeProblem(w, newProblem(r, string(handlers.CodeUnavailable), "request cancelled", nil))
	default:
		writeProblem(w, problemFromError(r, err))
	}
}

// cambioOf reads a change's conditions from the request's headers.
func cambioOf(r *http.Request) handlers.Cambio {
	return handlers.Cambio{Version: ifMatch(r), IdempotencyKey: r.Header.Get("Idempotency-Key")}
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes))
	if err == nil {
		// Text that decoding would silently repair is refused, naming it.
		if terr := handlers.CheckJSONText(body); terr != nil {
			return problemFromError(r, terr), false
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err == nil {
		err = dec.Decode(v)
	}
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
