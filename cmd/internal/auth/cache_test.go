package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/jea/cliente/cmd/internal/devissuer"
)

// A token that passed is not checked again until verifiedTTL has passed
// or it expires; what a caller does with the returned token does not
// change what is remembered.
func TestVerifiedTokensAreRememberedUntilTheirExpiry(t *testing.T) {
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	iss, srv := devissuer.ServeTest(t, key)
	v, err := Discover(t.Context(), iss.URL(), "cliente", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	checks := 0
	check := v.check
	v.check = func(ctx context.Context, raw string) (*oidc.IDToken, error) { checks++; return check(ctx, raw) }
	now := time.Now()
	v.now = func() time.Time { return now }
	sign := func(exp time.Time) string {
		raw, err := devissuer.Sign(key, "at+jwt", map[string]any{"iss": iss.URL(), "sub": "u", "aud": "cliente", "exp": exp.Unix(), "scope": "a b"})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	long := sign(now.Add(time.Hour))
	for range 3 {
		tok, err := v.Verify(t.Context(), long)
		if err != nil || len(tok.Scopes) != 2 || tok.Principal.Subject != "u" {
			t.Fatalf("token %+v, %v", tok, err)
		}
		tok.Scopes[0] = "admin" // the caller's copy
	}
	if checks != 1 {
		t.Fatalf("%d full checks of one token verified 3 times, want 1", checks)
	}
	if tok, _ := v.Verify(t.Context(), long); tok.Scopes[0] != "a" {
		t.Fatalf("remembered scopes changed by a caller: %v", tok.Scopes)
	}
	now = now.Add(verifiedTTL)
	if _, err := v.Verify(t.Context(), long); err != nil || checks != 2 {
		t.Fatalf("after verifiedTTL: %v, %d checks, want a second full check", err, checks)
	}

	// A failure is never remembered.
	if _, err := v.Verify(t.Context(), long+"x"); err == nil {
		t.Fatal("a tampered token passed")
	}
	if _, err := v.Verify(t.Context(), long+"x"); err == nil || checks != 4 {
		t.Fatalf("tampered again: %v after %d checks, want 4", err, checks)
	}

	// Remembered only until its exp: then it is refused as expired.
	v.now = time.Now
	exp := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	short := sign(exp)
	if _, err := v.Verify(t.Context(), short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(exp) + 1100*time.Millisecond)
	if _, err := v.Verify(t.Context(), short); !errors.Is(err, ErrExpired) {
		t.Fatalf("a remembered token after its exp: %v, want ErrExpired", err)
	}
}
