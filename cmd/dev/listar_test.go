package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jea/cliente/cmd/internal/edgehttp"
	"github.com/jea/cliente/handlers"
)

// A search by the start of words, any case or accents, paged with Link.
func TestSearchAndPagingOverHTTP(t *testing.T) {
	tag := "zq" + strconv.FormatInt(runID%1_000_000_000, 36) // a word only this run's customers have
	var ids []int64
	for _, nombre := range []string{"María José", "Mariana", "Rosa"} {
		body := newCliente(t)
		body["nombre"], body["apellido"] = nombre, "Quispe "+strings.ToUpper(tag)
		ids = append(ids, create(t, body).ID)
	}
	q := url.Values{"q": {"MARI " + tag}, "limite": {"1"}}
	next, got := "/cliente?"+q.Encode(), []int64(nil)
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatalf("more pages than matches: %v", got)
		}
		r := do(t, "GET", next, nil)
		var page []handlers.Cliente
		r.json(t, &page)
		if r.status != 200 || len(page) > 1 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		next = edgehttp.NextLink(r.header)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids[:2]) {
		t.Fatalf("search found %v, want %v (María José and Mariana, not Rosa)", got, ids[:2])
	}
	wantProblem(t, do(t, "GET", "/cliente?limite=0", nil), 400, "invalid", "limite")
	wantProblem(t, do(t, "GET", "/cliente?cursor=nope", nil), 400, "invalid", "cursor")
	wantProblem(t, do(t, "GET", "/cliente?q=%20-%20", nil), 400, "invalid", "q")
}

// Addresses that differ only in Unicode case or encoding are one address.
func TestUnicodeEmailDuplicatesConflict(t *testing.T) {
	local := fmt.Sprintf("sam.%d.%d", runID, seq.Add(1))
	first := newCliente(t)
	first["email"] = strings.Replace(local, "s", "ſ", 1) + "@example.pe" // long s
	c := create(t, first)
	second := newCliente(t)
	second["email"] = strings.ToUpper(local) + "@EXAMPLE.PE"
	wantProblem(t, do(t, "POST", "/cliente", second), http.StatusConflict, "conflict", "email")
	if got := get(t, "/cliente/email/"+url.PathEscape(local+"@example.pe")); got.ID != c.ID {
		t.Fatalf("lookup found %d, want %d", got.ID, c.ID)
	}
}

// Bodies under the size limit never get a 5xx, however they re-encode;
// text that would be silently changed is refused naming its field.
func TestBadBodiesAreNamed400s(t *testing.T) {
	// 400 KB as sent; 2.4 MB if re-encoded with HTML escaping.
	grows := `{"dni":"` + newDNI() + `","nombre":"Ana","email":"g` + strconv.FormatInt(seq.Add(1), 10) + `@example.pe","direccion":"` +
		strings.Repeat("<", 400_000) + `"}`
	wantProblem(t, do(t, "POST", "/cliente", grows), 400, "invalid", "direccion")

	broken := `{"dni":"` + newDNI() + `","nombre":"Ana` + "\xff" + `","email":"x` + strconv.FormatInt(seq.Add(1), 10) + `@example.pe"}`
	wantProblem(t, do(t, "POST", "/cliente", broken), 400, "invalid", "nombre")
	lone := `{"dni":"` + newDNI() + `","nombre":"Ana \udc00","email":"y` + strconv.FormatInt(seq.Add(1), 10) + `@example.pe"}`
	wantProblem(t, do(t, "POST", "/cliente", lone), 400, "invalid", "nombre")

	r := do(t, "GET", "/cliente/dni/"+strings.Repeat("1", 400_000), nil)
	if p := wantProblem(t, r, 400, "invalid", "dni"); len(r.body) > 2048 || len(p.Instance) > 512 {
		t.Fatalf("an error body of %d bytes", len(r.body))
	}
}
