// Package auth verifies the OAuth 2.0 access tokens the HTTP edge accepts:
// JWTs as RFC 9068 profiles them, signed by one issuer whose keys are found
// through OpenID discovery, for one audience. It also names the scopes the
// service grants. Signature, issuer, audience and time checks are
// github.com/coreos/go-oidc's; this package adds what an access token needs
// beyond an ID token (its type, subject, client and scopes).
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/jea/cliente/handlers"
)

// The scopes of the service. A token carries them in `scope` (a
// space-separated string, RFC 9068) or `scp` (an array, as Ory Hydra
// sends them).
const (
	// ScopeLeer reads customers.
	ScopeLeer = "clientes:leer"
	// ScopeEscribir registers, changes and deactivates customers.
	ScopeEscribir = "clientes:escribir"
	// ScopeVentas is what the sales service needs: validate for sale, get
	// many, purchase history and summary.
	ScopeVentas = "ventas"
	// ScopeAdmin is for the audit trail, export and anonymisation.
	ScopeAdmin = "admin"
)

// AllScopes lists every scope, for tokens that may do everything (the dev
// stack's).
func AllScopes() []string { return []string{ScopeLeer, ScopeEscribir, ScopeVentas, ScopeAdmin} }

// Token is what a verified access token says about its bearer.
type Token struct {
	Principal handlers.Principal
	Scopes    []string
}

// Has reports whether the token grants scope.
func (t Token) Has(scope string) bool { return slices.Contains(t.Scopes, scope) }

// ErrExpired is matched (errors.Is) by the error for an expired token, so
// the edge can say so; every other failure is just "not valid".
var ErrExpired = errors.New("access token expired")

// signingAlgs are the only algorithms accepted: asymmetric ones. "none" and
// the HMAC family never verify, so a token signed with the issuer's public
// key as an HMAC secret is refused whatever the issuer advertises.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// Verifier checks access tokens of one issuer for one audience. Safe for
// concurrent use.
type Verifier struct {
	v *oidc.IDTokenVerifier
	// check is v.Verify; tests count its calls.
	check func(ctx context.Context, raw string) (*oidc.IDToken, error)
	// verified holds tokens that passed every check, by their SHA-256,
	// until their exp and for at most verifiedTTL: the signature check was
	// 20-40 % of the edge's CPU per request (pprof), and a caller sends
	// one token many times. A failure is never remembered.
	verified *lru.Cache[[sha256.Size]byte, verifiedToken]
	now      func() time.Time
}

type verifiedToken struct {
	tok   Token
	until time.Time
}

// verifiedTTL bounds how long a token is taken as verified without being
// checked again; verifiedSize bounds the tokens remembered.
const (
	verifiedTTL  = time.Minute
	verifiedSize = 4096
)

// Discover fetches the issuer's OpenID discovery document (which must name
// issuer exactly) and returns a verifier for tokens of that issuer whose
// `aud` includes audience. client makes every request to the issuer, then
// and later; give it a timeout. The issuer's keys (jwks_uri) are fetched on
// the first token and again whenever a token names a key id not cached yet,
// so a key the issuer rotates in is picked up without a restart;
// concurrent refreshes are merged into one request.
func Discover(ctx context.Context, issuer, audience string, client *http.Client) (*Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: discovery of %s: %w", issuer, err)
	}
	v := provider.Verifier(&oidc.Config{ClientID: audience, SupportedSigningAlgs: signingAlgs})
	cache, err := lru.New[[sha256.Size]byte, verifiedToken](verifiedSize)
	if err != nil {
		return nil, err
	}
	return &Verifier{v: v, check: v.Verify, verified: cache, now: time.Now}, nil
}

// claims are the access token claims read beyond go-oidc's checks.
type claims struct {
	Subject  string          `json:"sub"`
	ClientID string          `json:"client_id"`
	AZP      string          `json:"azp"`
	Scope    string          `json:"scope"`
	Scp      json.RawMessage `json:"scp"`
}

// Verify checks raw (signature by a key of the issuer, `iss`, `aud`, `exp`,
// `nbf` with go-oidc's 5 minutes of leeway, the `typ` header) and returns
// its bearer and scopes. Any error means the token must be refused.
func (v *Verifier) Verify(ctx context.Context, raw string) (Token, error) {
	key := sha256.Sum256([]byte(raw))
	if e, ok := v.verified.Get(key); ok && v.now().Before(e.until) {
		return Token{Principal: e.tok.Principal, Scopes: slices.Clone(e.tok.Scopes)}, nil
	}
	tok, exp, err := v.verify(ctx, raw)
	if err != nil {
		return Token{}, err
	}
	until := v.now().Add(verifiedTTL)
	if exp.Before(until) {
		until = exp
	}
	v.verified.Add(key, verifiedToken{tok: tok, until: until})
	return Token{Principal: tok.Principal, Scopes: slices.Clone(tok.Scopes)}, nil
}

// verify checks raw fully and returns its token and expiry.
func (v *Verifier) verify(ctx context.Context, raw string) (Token, time.Time, error) {
	if err := checkType(raw); err != nil {
		return Token{}, time.Time{}, err
	}
	idt, err := v.check(ctx, raw)
	if err != nil {
		if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			return Token{}, time.Time{}, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return Token{}, time.Time{}, err
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Token{}, time.Time{}, err
	}
	if c.Subject == "" {
		return Token{}, time.Time{}, errors.New("auth: token has no sub")
	}
	scopes := strings.Fields(c.Scope)
	if len(c.Scp) > 0 && string(c.Scp) != "null" {
		var list []string
		var one string
		switch {
		case json.Unmarshal(c.Scp, &list) == nil:
			scopes = append(scopes, list...)
		case json.Unmarshal(c.Scp, &one) == nil:
			scopes = append(scopes, strings.Fields(one)...)
		default:
			return Token{}, time.Time{}, errors.New("auth: scp is neither an array nor a string")
		}
	}
	client := c.ClientID
	if client == "" {
		client = c.AZP
	}
	return Token{Principal: handlers.Principal{Subject: c.Subject, ClientID: client}, Scopes: scopes}, idt.Expiry, nil
}

// checkType refuses JWTs typed as something other than an access token
// (RFC 8725 §3.11: logout tokens, DPoP proofs, ...). Untyped and plain
// "JWT" tokens pass, as many issuers (Ory Hydra among them) send access
// tokens that way; ID tokens are kept out by the audience instead.
func checkType(raw string) error {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return errors.New("auth: not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return fmt.Errorf("auth: JWT header: %w", err)
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("auth: JWT header: %w", err)
	}
	switch strings.ToLower(h.Typ) {
	case "", "jwt", "at+jwt", "application/at+jwt":
		return nil
	}
	return fmt.Errorf("auth: JWT of type %q is not an access token", h.Typ)
}
