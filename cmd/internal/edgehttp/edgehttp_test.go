package edgehttp

import (
	"net/http"
	"testing"
)

func TestNextLink(t *testing.T) {
	for link, want := range map[string]string{
		`</cliente?cursor=abc&limite=2>; rel="next"`:                            "/cliente?cursor=abc&limite=2",
		`</cliente/1/compras?cursor=x>; rel="prev", </cliente?c=y>; rel="next"`: "/cliente?c=y",
		`</cliente?c=y>; rel="prev"`:                                            "",
		``:                                                                      "",
	} {
		if got := NextLink(http.Header{"Link": {link}}); got != want {
			t.Errorf("NextLink(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	if err := LoopbackOnly("http://127.0.0.1:8080"); err != nil {
		t.Error(err)
	}
	if err := LoopbackOnly("http://10.1.2.3:8080"); err == nil {
		t.Error("a private address was accepted")
	}
}
