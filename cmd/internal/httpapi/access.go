package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/handlers"
)

// realm names the protection space in WWW-Authenticate (RFC 6750 §3).
const realm = "cliente"

// guard lets a request through to the mux only if its route is public, or
// it bears a valid access token that grants the route's scope; the
// token's principal then rides in the request's context. It runs before
// routing, so unknown paths and wrong methods also need a token: nobody
// learns the API's shape without one.
func guard(tokens TokenVerifier, log zerolog.Logger, mux *http.ServeMux, patternOf func(*http.Request) string, scopes map[string]string) http.Handler {
	if tokens == nil {
		panic("httpapi: Options.Tokens is required") // never serve unauthenticated by omission
	}
	miss := problemOnMiss(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pattern := patternOf(r)
		// Set as ServeMux would, so observe labels refused requests by
		// their route too.
		r.Pattern = pattern
		scope, known := scopes[pattern]
		if known && scope == public {
			mux.ServeHTTP(w, r)
			return
		}
		raw, present := bearerToken(r)
		if !present {
			// No credentials at all: no error code (RFC 6750 §3.1).
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			writeProblem(w, newProblem(r, codeUnauthorized, "an access token is required (Authorization: Bearer)", nil))
			return
		}
		tok, err := tokens.Verify(r.Context(), raw)
		if err != nil {
			detail := "the access token is not valid"
			if errors.Is(err, auth.ErrExpired) {
				detail = "the access token expired"
			}
			log.Debug().Err(err).Str("route", pattern).Msg("access token refused")
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token", error_description="`+detail+`"`)
			writeProblem(w, newProblem(r, codeUnauthorized, detail, nil))
			return
		}
		if known && !tok.Has(scope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="insufficient_scope", scope="`+scope+`"`)
			writeProblem(w, newProblem(r, codeForbidden, "this route needs the scope "+scope, nil))
			return
		}
		miss.ServeHTTP(w, r.WithContext(handlers.WithPrincipal(r.Context(), tok.Principal)))
	})
}

// bearerToken returns the token of an "Authorization: Bearer" header, and
// whether the request had such a header at all. Other schemes count as no
// credentials; tokens in the query string are not accepted (RFC 6750 §5.3).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
