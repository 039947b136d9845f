package handlers

import "context"

// Principal is the authenticated caller of an operation, as the HTTP edge
// established it from an access token. It travels in the context so that
// the Kafka client can put it on the request (meta.principal,
// meta.clientId) without every operation taking it as an argument.
type Principal struct {
	// Subject is the token's `sub`: the end user, or the client itself
	// for a client-credentials token.
	Subject string `json:"principal,omitempty"`
	// ClientID is the OAuth client that obtained the token (`client_id`,
	// else `azp`).
	ClientID string `json:"clientId,omitempty"`
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
