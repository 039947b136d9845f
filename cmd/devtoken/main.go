// Command devtoken prints an access token of the dev stack's issuer with
// the scopes asked for, for trying the API as a caller with less than
// every scope:
//
//	go run ./cmd/devtoken -scopes clientes:leer
//	curl -s http://127.0.0.1:8080/cliente -H "Authorization: Bearer $(go run ./cmd/devtoken -scopes clientes:leer)"
//
// It reads the issuer's key and URL from DEV_DATA_DIR (default .data),
// where the dev stack (`make run`) keeps them; tokens stay valid across
// restarts of the stack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
)

func main() {
	app.Main("devtoken", func(context.Context) error { return run(os.Args[1:], os.Getenv, os.Stdout) })
}

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	scopes := fs.String("scopes", strings.Join(auth.AllScopes(), ","), "scopes, comma- or space-separated: "+strings.Join(auth.AllScopes(), ", "))
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	sub := fs.String("sub", "dev", "subject (sub)")
	clientID := fs.String("client", "devtoken", "OAuth client (client_id)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list := strings.FieldsFunc(*scopes, func(r rune) bool { return r == ',' || r == ' ' })
	for _, s := range list {
		if !slices.Contains(auth.AllScopes(), s) {
			return fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(auth.AllScopes(), ", "))
		}
	}
	if *ttl <= 0 {
		return errors.New("-ttl must be positive")
	}
	dir := getenv("DEV_DATA_DIR")
	if dir == "" {
		dir = ".data"
	}
	iss, info, err := devissuer.Open(dir)
	if err != nil {
		return err
	}
	tok, err := iss.Mint(devissuer.Claims{Subject: *sub, ClientID: *clientID, Audience: info.Audience, Scopes: list, TTL: *ttl})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
