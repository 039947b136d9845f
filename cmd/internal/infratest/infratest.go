// Package infratest gives tests what deploy/local/infra.sh generated for the
// real infrastructure in INFRA_DIR/credentials: the Kafka services' SASL
// credentials, Ory Hydra's issuer and OAuth2 clients, and access tokens
// from Hydra's token endpoint.
package infratest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/topics"
)

// Dir returns INFRA_DIR, skipping the test when it or KAFKA_BROKERS is
// unset (make test-infra sets both).
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("INFRA_DIR")
	if dir == "" || os.Getenv("KAFKA_BROKERS") == "" {
		t.Skip("needs the real infrastructure: INFRA_DIR and KAFKA_BROKERS (make test-infra)")
	}
	return dir
}

// KafkaUser reads the SASL credentials infra.sh generated for user (admin,
// cliente-worker, cliente-edge, ventas).
func KafkaUser(dir, user string) (topics.SASL, error) {
	f, err := os.Open(filepath.Join(dir, "credentials", "kafka-"+user+".env"))
	if err != nil {
		return topics.SASL{}, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return topics.SASL{}, err
	}
	s := topics.SASLFromEnv(func(k string) string { return vars[k] })
	if s.Mechanism == "" || s.Username != user || s.Password == "" {
		return topics.SASL{}, fmt.Errorf("infratest: %s lacks the credentials of %s", f.Name(), user)
	}
	return s, nil
}

// Hydra is what infra.sh wrote to credentials/hydra.json.
type Hydra struct {
	Issuer        string                 `json:"issuer"`
	TokenEndpoint string                 `json:"token_endpoint"`
	AdminURL      string                 `json:"admin_url"`
	Audience      string                 `json:"audience"`
	Clients       map[string]OAuthClient `json:"clients"`
}

// OAuthClient is one registered client (client-credentials grant).
type OAuthClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	Audience     []string `json:"audience"`
}

// LoadHydra reads dir/credentials/hydra.json.
func LoadHydra(dir string) (Hydra, error) {
	var h Hydra
	raw, err := os.ReadFile(filepath.Join(dir, "credentials", "hydra.json"))
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("infratest: hydra.json: %w", err)
	}
	if h.Issuer == "" || h.TokenEndpoint == "" || len(h.Clients) == 0 {
		return h, errors.New("infratest: hydra.json lacks the issuer, token endpoint or clients")
	}
	return h, nil
}

// Token is an access token as the token endpoint returned it.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// Token gets an access token for the named client (lector, escritor,
// ventas, admin, otra-api) with the client-credentials grant, asking for
// scopes, or for all of the client's scopes when none are given, and for
// the client's audience.
func (h Hydra) Token(ctx context.Context, client string, scopes ...string) (Token, error) {
	c, ok := h.Clients[client]
	if !ok {
		return Token{}, fmt.Errorf("infratest: no Hydra client %q in hydra.json", client)
	}
	if len(scopes) == 0 {
		scopes = c.Scopes
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopes, " ")}}
	for _, a := range c.Audience {
		form.Add("audience", a)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: id and secret form-encoded inside Basic.
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return Token{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, fmt.Errorf("infratest: token for %s: %s: %s", client, resp.Status, body)
	}
	var tok Token
	if err := json.Unmarshal(body, &tok); err != nil {
		return Token{}, fmt.Errorf("infratest: token response: %w", err)
	}
	if tok.AccessToken == "" {
		return Token{}, fmt.Errorf("infratest: token response without access_token: %s", body)
	}
	return tok, nil
}
