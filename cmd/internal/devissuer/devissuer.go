// Package devissuer is a minimal OpenID issuer for the dev stack, the
// devtoken command and tests: it serves a discovery document and a JWKS,
// and mints RFC 9068 access tokens with the keys it holds. It has no login,
// no clients and no token endpoint: tokens come from Mint. Never use it
// beyond a developer's machine.
package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Key is a signing key with its key id and algorithm.
type Key struct {
	ID      string
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// Public is the key as the JWKS publishes it.
func (k Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}

// NewKey generates a key: ES256 (P-256) or RS256 (RSA 2048). Its id is
// its RFC 7638 thumbprint, so a key always has the same id.
func NewKey(alg jose.SignatureAlgorithm) (Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return Key{}, fmt.Errorf("devissuer: algorithm %s not supported", alg)
	}
	if err != nil {
		return Key{}, err
	}
	return keyOf(priv)
}

func keyOf(priv crypto.Signer) (Key, error) {
	alg := jose.ES256
	if _, ok := priv.(*rsa.PrivateKey); ok {
		alg = jose.RS256
	} else if k, ok := priv.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		return Key{}, errors.New("devissuer: the key must be RSA or ECDSA P-256")
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(tp), Alg: alg, Private: priv}, nil
}

// LoadOrCreateKey reads the PKCS #8 PEM key at path, or generates an ES256
// key and writes it there (mode 0600) if the file does not exist.
func LoadOrCreateKey(path string) (Key, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := NewKey(jose.ES256)
		if err != nil {
			return Key{}, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return Key{}, err
		}
		return k, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return Key{}, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return Key{}, fmt.Errorf("devissuer: %s holds no PEM block", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("devissuer: %s: %w", path, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("devissuer: %s: not a signing key", path)
	}
	return keyOf(signer)
}

// Issuer serves discovery and JWKS for its URL and mints tokens. Safe for
// concurrent use.
type Issuer struct {
	url string

	mu        sync.RWMutex
	signer    Key
	published []Key
}

// New returns an issuer named url (exactly what tokens carry in `iss`),
// signing with signer and publishing it.
func New(url string, signer Key) *Issuer {
	return &Issuer{url: strings.TrimSuffix(url, "/"), signer: signer, published: []Key{signer}}
}

// URL is the issuer identifier.
func (i *Issuer) URL() string { return i.url }

// Rotate publishes k if needed and signs with it from now on; the keys
// published before stay published, as an issuer keeps them until the
// tokens they signed have expired.
func (i *Issuer) Rotate(k Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, p := range i.published {
		if p.ID == k.ID {
			i.signer = k
			return
		}
	}
	i.published = append(i.published, k)
	i.signer = k
}

// Handler serves /.well-known/openid-configuration and /jwks.json.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                i.url,
			"jwks_uri":                              i.url + "/jwks.json",
			"authorization_endpoint":                i.url + "/authorize", // required by the spec; not served
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{string(jose.ES256), string(jose.RS256)},
		})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		i.mu.RLock()
		set := jose.JSONWebKeySet{}
		for _, k := range i.published {
			set.Keys = append(set.Keys, k.Public())
		}
		i.mu.RUnlock()
		writeJSON(w, set)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Claims are the claims of a minted access token.
type Claims struct {
	Subject, ClientID, Audience string
	Scopes                      []string
	TTL                         time.Duration
}

// Mint returns an access token (typ at+jwt) of this issuer signed with the
// current key, valid from now for c.TTL.
func (i *Issuer) Mint(c Claims) (string, error) {
	i.mu.RLock()
	k := i.signer
	i.mu.RUnlock()
	now := time.Now()
	return Sign(k, "at+jwt", map[string]any{
		"iss":       i.url,
		"sub":       c.Subject,
		"aud":       []string{c.Audience},
		"client_id": c.ClientID,
		"scope":     strings.Join(c.Scopes, " "),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(c.TTL).Unix(),
		"jti":       rand.Text(),
	})
}

// Sign signs any claims with k and the header typ (none if empty): tests
// use it to make tokens that Mint would not.
func Sign(k Key, typ string, claims map[string]any) (string, error) {
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, opts)
	if err != nil {
		return "", err
	}
	return jwt.Signed(s).Claims(claims).Serialize()
}

// The files the dev stack keeps in its data folder, so that tokens minted
// later (cmd/devtoken) and after a restart stay valid.
const (
	KeyFile   = "dev-issuer-key.pem"
	InfoFile  = "dev-issuer.json"
	TokenFile = "dev-token"
)

// Info is what a token minter needs besides the key.
type Info struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
}

// WriteInfo records info in dir.
func WriteInfo(dir string, info Info) error {
	raw, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, InfoFile), append(raw, '\n'), 0o600)
}

// Open returns the issuer a dev stack recorded in dir (not serving: for
// minting only) and its audience.
func Open(dir string) (*Issuer, Info, error) {
	var info Info
	raw, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, info, fmt.Errorf("devissuer: %w (has the dev stack, `make run`, started with this data folder?)", err)
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, info, fmt.Errorf("devissuer: %s: %w", InfoFile, err)
	}
	path := filepath.Join(dir, KeyFile)
	if _, err := os.Stat(path); err != nil {
		return nil, info, fmt.Errorf("devissuer: %w", err)
	}
	key, err := LoadOrCreateKey(path)
	if err != nil {
		return nil, info, err
	}
	return New(info.Issuer, key), info, nil
}
