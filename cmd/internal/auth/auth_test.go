package auth_test

import (
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
)

// What the verifier reads from a token beyond go-oidc's checks: scopes from
// scope and scp (array or string), the client from client_id else azp, and
// the type header. (Bad tokens at the HTTP edge: httpapi's access tests.)
func TestClaims(t *testing.T) {
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	iss, srv := devissuer.ServeTest(t, key)
	v, err := auth.Discover(t.Context(), iss.URL(), "cliente", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Discover(t.Context(), iss.URL()+"/other", "cliente", srv.Client()); err == nil {
		t.Error("discovery of an issuer that names itself differently succeeded")
	}
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": iss.URL(), "sub": "u", "aud": "cliente", "exp": time.Now().Add(time.Minute).Unix()}
		for k, x := range extra {
			c[k] = x
		}
		return c
	}
	tests := []struct {
		name       string
		typ        string
		claims     map[string]any
		wantScopes []string
		wantClient string
		wantErr    bool
	}{
		{"scope string", "at+jwt", base(map[string]any{"scope": "clientes:leer  ventas", "client_id": "c1", "azp": "c2"}), []string{"clientes:leer", "ventas"}, "c1", false},
		{"scp array, azp", "JWT", base(map[string]any{"scp": []string{"admin"}, "azp": "c2"}), []string{"admin"}, "c2", false},
		{"scp string", "application/at+jwt", base(map[string]any{"scp": "a b"}), []string{"a", "b"}, "", false},
		{"both", "", base(map[string]any{"scope": "a", "scp": []string{"b"}}), []string{"a", "b"}, "", false},
		{"no scopes", "at+jwt", base(nil), nil, "", false},
		{"scp of numbers", "at+jwt", base(map[string]any{"scp": []int{1}}), nil, "", true},
		{"ID token typ", "id_token+jwt", base(nil), nil, "", true},
		{"logout token", "logout+jwt", base(nil), nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := devissuer.Sign(key, tc.typ, tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := v.Verify(t.Context(), raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(tok.Scopes, tc.wantScopes) || tok.Principal.ClientID != tc.wantClient || tok.Principal.Subject != "u" {
				t.Fatalf("token %+v, want scopes %v client %q", tok, tc.wantScopes, tc.wantClient)
			}
		})
	}
}
