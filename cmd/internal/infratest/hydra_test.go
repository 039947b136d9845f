package infratest_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/cmd/internal/infratest"
)

// Hydra issues, for each test client, a JWT access token signed by a key
// that the issuer publishes at the JWKS its OpenID discovery document
// names, with the client's scopes and the cliente-api audience; it refuses
// a scope the client was not given.
func TestHydraIssuesVerifiableJWTs(t *testing.T) {
	dir := infratest.Dir(t)
	h, err := infratest.LoadHydra(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var disc struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	getJSON(t, ctx, strings.TrimSuffix(h.Issuer, "/")+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != h.Issuer || disc.TokenEndpoint != h.TokenEndpoint || disc.JWKSURI == "" {
		t.Fatalf("discovery %+v does not match hydra.json (issuer %s, token endpoint %s)", disc, h.Issuer, h.TokenEndpoint)
	}
	var jwks struct {
		Keys []struct {
			Kty, Kid, Alg, Use, N, E string
		} `json:"keys"`
	}
	getJSON(t, ctx, disc.JWKSURI, &jwks)
	keys := map[string]*rsa.PublicKey{}
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil {
			t.Fatalf("JWKS key %s: bad n or e", k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(keys) == 0 {
		t.Fatalf("JWKS at %s has no RSA key", disc.JWKSURI)
	}

	for _, name := range []string{"lector", "escritor", "ventas", "admin"} {
		t.Run(name, func(t *testing.T) {
			c := h.Clients[name]
			tok, err := h.Token(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(tok.TokenType, "bearer") {
				t.Errorf("token_type %q, want bearer", tok.TokenType)
			}
			claims := verifyJWT(t, tok.AccessToken, keys)
			if claims.Iss != h.Issuer {
				t.Errorf("iss %q, want %q", claims.Iss, h.Issuer)
			}
			if !slices.Contains(claims.Aud, h.Audience) {
				t.Errorf("aud %v lacks %q", claims.Aud, h.Audience)
			}
			if !slices.Equal(claims.Scp, c.Scopes) || claims.Scope != strings.Join(c.Scopes, " ") {
				t.Errorf("scp %v, scope %q, want %v", claims.Scp, claims.Scope, c.Scopes)
			}
			if claims.ClientID != c.ClientID || claims.Sub != c.ClientID {
				t.Errorf("client_id %q, sub %q, want %q", claims.ClientID, claims.Sub, c.ClientID)
			}
			if now := time.Now().Unix(); claims.Exp <= now || claims.Iat > now+60 {
				t.Errorf("exp %d, iat %d at %d", claims.Exp, claims.Iat, now)
			}
		})
	}

	// A subset of the client's scopes is granted as asked.
	tok, err := h.Token(ctx, "admin", "clientes:leer")
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyJWT(t, tok.AccessToken, keys); !slices.Equal(c.Scp, []string{"clientes:leer"}) {
		t.Errorf("admin asking for clientes:leer got scp %v", c.Scp)
	}
	// A scope the client was not given is refused.
	if _, err := h.Token(ctx, "lector", "clientes:escribir"); err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Errorf("lector asking for clientes:escribir: %v, want invalid_scope", err)
	}
	// Another audience's client gets no cliente-api token.
	tok, err = h.Token(ctx, "otra-api")
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyJWT(t, tok.AccessToken, keys); slices.Contains(c.Aud, h.Audience) {
		t.Errorf("otra-api's token has aud %v", c.Aud)
	}
}

type claims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      []string `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	ClientID string   `json:"client_id"`
	Scp      []string `json:"scp"`
	Scope    string   `json:"scope"`
}

// verifyJWT checks the RS256 signature of token against the key its kid
// names, and a flipped signature byte being rejected, then returns the
// claims.
func verifyJWT(t *testing.T, token string, keys map[string]*rsa.PublicKey) claims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS compact JWT (%d parts)", len(parts))
	}
	var hdr struct{ Alg, Kid, Typ string }
	decodePart(t, parts[0], &hdr)
	key, ok := keys[hdr.Kid]
	if hdr.Alg != "RS256" || !ok {
		t.Fatalf("JWT header %+v: want RS256 with a kid of the JWKS", hdr)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("JWT signature does not verify with JWKS key %s: %v", hdr.Kid, err)
	}
	sig[len(sig)/2] ^= 1
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) == nil {
		t.Fatal("a tampered signature verifies: the check proves nothing")
	}
	var c claims
	decodePart(t, parts[1], &c)
	return c
}

func decodePart(t *testing.T, part string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatalf("JWT part: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("JWT part %s: %v", raw, err)
	}
}

func getJSON(t *testing.T, ctx context.Context, url string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
