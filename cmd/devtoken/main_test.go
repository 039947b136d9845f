package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
)

// A token minted from the data folder verifies against the issuer that
// folder belongs to, with exactly the scopes asked for.
func TestMintsFromTheDataFolder(t *testing.T) {
	dir := t.TempDir()
	key, err := devissuer.LoadOrCreateKey(dir + "/" + devissuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	iss, srv := devissuer.ServeTest(t, key)
	if err := devissuer.WriteInfo(dir, devissuer.Info{Issuer: iss.URL(), Audience: "cliente"}); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "DEV_DATA_DIR" {
			return dir
		}
		return ""
	}
	var out bytes.Buffer
	if err := run([]string{"-scopes", "clientes:leer,ventas", "-sub", "ana"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	v, err := auth.Discover(context.Background(), iss.URL(), "cliente", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Principal.Subject != "ana" || !tok.Has(auth.ScopeLeer) || !tok.Has(auth.ScopeVentas) || tok.Has(auth.ScopeEscribir) {
		t.Fatalf("token %+v", tok)
	}
	for _, bad := range [][]string{{"-scopes", "clientes:borrar"}, {"-ttl", "0s"}} {
		if err := run(bad, getenv, &out); err == nil {
			t.Errorf("run(%q) accepted", bad)
		}
	}
	if err := run(nil, func(string) string { return t.TempDir() }, &out); err == nil {
		t.Error("minted without a dev stack's data folder")
	}
}
