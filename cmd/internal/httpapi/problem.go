package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/jea/cliente/handlers"
)

// Problem is an RFC 9457 problem details body, with the service's error
// code and per-field details as extension members.
type Problem struct {
	Type     string                `json:"type"`
	Title    string                `json:"title"`
	Status   int                   `json:"status"`
	Detail   string                `json:"detail,omitempty"`
	Instance string                `json:"instance,omitempty"`
	Code     string                `json:"code"`
	Errors   []handlers.FieldError `json:"errors,omitempty"`
}

// Codes that exist only at the HTTP edge, next to the handlers.Code values.
const (
	codeTimeout         = "timeout"
	codeTooLarge        = "too_large"
	codeUnsupportedType = "unsupported_media_type"
	codeMethod          = "method_not_allowed"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
)

// statusOf is the one place where error codes become HTTP statuses.
func statusOf(code string) int {
	switch code {
	case string(handlers.CodeInvalid):
		return http.StatusBadRequest
	case string(handlers.CodeNotFound):
		return http.StatusNotFound
	case string(handlers.CodeConflict):
		return http.StatusConflict
	case string(handlers.CodePrecondition):
		return http.StatusPreconditionFailed
	case string(handlers.CodeUnavailable):
		return http.StatusServiceUnavailable
	case codeTimeout:
		return http.StatusGatewayTimeout
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeUnsupportedType:
		return http.StatusUnsupportedMediaType
	case codeMethod:
		return http.StatusMethodNotAllowed
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeForbidden:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// problemTypeBase prefixes the problem type URIs; each code's URI is stable
// so clients may switch on it.
const problemTypeBase = "urn:jea:cliente:problem:"

func newProblem(r *http.Request, code, detail string, fields []handlers.FieldError) Problem {
	status := statusOf(code)
	return Problem{
		Type:     problemTypeBase + code,
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   detail,
		Instance: instanceOf(r),
		Code:     code,
		Errors:   fields,
	}
}

// maxInstance bounds the path a problem echoes: an error body never
// repeats megabytes a client sent.
const maxInstance = 512

func instanceOf(r *http.Request) string {
	if len(r.URL.Path) <= maxInstance {
		return r.URL.Path
	}
	if r.Pattern != "" {
		return r.Pattern[strings.IndexByte(r.Pattern, ' ')+1:] // the route, without the method
	}
	return ""
}

// problemFromError builds the problem for any error a call returned.
func problemFromError(r *http.Request, err error) Problem {
	e := handlers.AsError(err)
	return newProblem(r, string(e.Code), e.Message, e.Fields)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 is worth retrying; say when.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeRaw writes a JSON body that is already encoded (a reply's data).
func writeRaw(w http.ResponseWriter, status int, body json.RawMessage) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
