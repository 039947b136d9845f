package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/handlers"
)

// principalOf reads the subject and client a token stands for, as the
// edge does (client_id, else azp), without verifying it: the edge did.
func principalOf(t *testing.T, token string) handlers.Principal {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub      string `json:"sub"`
		ClientID string `json:"client_id"`
		Azp      string `json:"azp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return handlers.Principal{Subject: c.Sub, ClientID: cmpOr(c.ClientID, c.Azp)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// A customer's life through the edge and the worker, read back as an
// administrator: the audit trail names the token's principal on every
// change, newest first and paged; the data export holds it all; a token
// without the admin scope reads none of it; anonymisation erases the
// personal data everywhere it shows, frees the dni and email, and is
// idempotent.
func TestAuditTrailAndDataRights(t *testing.T) {
	writer := tokenWith(t, auth.ScopeLeer, auth.ScopeEscribir)
	who := principalOf(t, writer)
	t.Logf("changes made as %+v (issuer %s)", who, issuerURL)
	asWriter := map[string]string{"Authorization": "Bearer " + writer}
	body := newCliente(t)
	r := doWith(t, "POST", "/cliente", body, asWriter)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c handlers.Cliente
	r.json(t, &c)
	path := fmt.Sprintf("/cliente/%d", c.ID)
	renamed := newCliente(t)
	renamed["dni"], renamed["email"], renamed["nombre"] = c.DNI, c.Email, "Ana María"
	if r := doWith(t, "PUT", path, renamed, asWriter); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := doWith(t, "DELETE", path, nil, asWriter); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}

	// Not without the admin scope, whatever else the token holds.
	for _, scopes := range [][]string{{auth.ScopeLeer, auth.ScopeEscribir, auth.ScopeVentas}, {auth.ScopeVentas}} {
		h := map[string]string{"Authorization": "Bearer " + tokenWith(t, scopes...)}
		for _, route := range [][2]string{{"GET", path + "/auditoria"}, {"GET", path + "/datos"}, {"POST", path + "/anonimizar"}} {
			r := doWith(t, route[0], route[1], nil, h)
			wantProblem(t, r, 403, "forbidden")
			if wa := r.header.Get("WWW-Authenticate"); !strings.Contains(wa, `scope="admin"`) {
				t.Errorf("%s %s with %v: WWW-Authenticate %q", route[0], route[1], scopes, wa)
			}
		}
	}

	// The trail, two entries a page, following the Link header.
	var entradas []handlers.EntradaAuditoria
	next := path + "/auditoria?limite=2"
	for pages := 0; next != ""; pages++ {
		if pages == 3 {
			t.Fatalf("more than 3 pages for 3 entries")
		}
		r := do(t, "GET", next, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		var p handlers.PaginaAuditoria
		r.json(t, &p)
		entradas = append(entradas, p.Entradas...)
		next = ""
		if link := r.header.Get("Link"); link != "" {
			next = strings.TrimPrefix(strings.Split(link, ">")[0], "<")
		}
	}
	var got []string
	for _, e := range entradas {
		got = append(got, fmt.Sprintf("%d %s", e.Version, e.Tipo))
		if e.Autor != who || e.ClienteID != c.ID {
			t.Errorf("entry %d by %+v for %d, want %+v for %d", e.Version, e.Autor, e.ClienteID, who, c.ID)
		}
	}
	if want := "[3 desactivado 2 actualizado 1 registrado]"; fmt.Sprint(got) != want {
		t.Fatalf("trail %v, want %s", got, want)
	}
	if ch := entradas[1].Campos; len(ch) == 0 || ch[0].Campo != "nombre" || ch[0].Antes != "Ana" || ch[0].Despues != "Ana María" {
		t.Errorf("the update's fields: %+v", ch)
	}

	// Everything held, in one document.
	var d handlers.DatosCliente
	if r := do(t, "GET", path+"/datos", nil); r.status != 200 {
		t.Fatalf("GET datos: %d %s", r.status, r.body)
	} else {
		r.json(t, &d)
	}
	if d.Cliente.ID != c.ID || d.Cliente.Nombre != "Ana María" || len(d.Auditoria) != 3 || !d.Completo || d.Resumen.ClienteID != c.ID {
		t.Fatalf("datos %+v", d)
	}

	// Anonymise, twice with one key and once more without: one change.
	key := map[string]string{"Idempotency-Key": fmt.Sprintf("anon-%d", runID)}
	var anon handlers.Cliente
	for range 2 {
		r := doWith(t, "POST", path+"/anonimizar", nil, key)
		if r.status != 200 || r.header.Get("ETag") != `"4"` {
			t.Fatalf("anonimizar: %d %q %s", r.status, r.header.Get("ETag"), r.body)
		}
		r.json(t, &anon)
	}
	if r := do(t, "POST", path+"/anonimizar", nil); r.status != 200 {
		t.Fatalf("anonimizar again: %d %s", r.status, r.body)
	}
	if !anon.Anonimizado || anon.Activo || anon.Nombre != "" || anon.DNI == c.DNI || anon.Email == c.Email || anon.Version != 4 {
		t.Fatalf("anonymised %+v", anon)
	}
	r = do(t, "GET", path+"/datos", nil)
	if r.status != 200 {
		t.Fatalf("GET datos: %d %s", r.status, r.body)
	}
	for _, personal := range []string{c.DNI, c.Email, `"Ana María"`, `"Quispe"`, "Arequipa", "987654321"} {
		if strings.Contains(string(r.body), personal) {
			t.Errorf("after anonymising, the data export still holds %s: %s", personal, r.body)
		}
	}
	r.json(t, &d)
	if len(d.Auditoria) != 4 || d.Auditoria[0].Tipo != handlers.CambioAnonimizado {
		t.Fatalf("trail after anonymising: %+v", d.Auditoria)
	}
	wantProblem(t, do(t, "PUT", path, renamed), 409, "conflict", "id")
	wantProblem(t, do(t, "GET", "/cliente/dni/"+c.DNI, nil), 404, "not_found")
	again := newCliente(t)
	again["dni"], again["email"] = c.DNI, c.Email
	if r := do(t, "POST", "/cliente", again); r.status != http.StatusCreated {
		t.Fatalf("registering the freed dni and email: %d %s", r.status, r.body)
	}
}
