package topics_test

import (
	"testing"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// One Idempotency-Key used by two callers is two keys: neither gets the
// other's result, nor is refused as reusing it for a different request.
func TestIdempotencyKeysAreScopedPerCaller(t *testing.T) {
	s := startStack(t, newService())
	create := func(principal, dni string) topics.Reply {
		c := topics.Crear(handlers.Datos{DNI: ptr(dni), Nombre: ptr("Ana"), Email: ptr("ana" + dni + "@example.pe")})
		c.Meta = topics.Meta{Principal: principal, ClientID: "web", IdempotencyKey: "pedido-1"}
		return call(t, s, c)
	}
	var a, b, again handlers.Cliente
	if err := create("ana", "11111111").Decode(&a); err != nil {
		t.Fatal(err)
	}
	if err := create("luis", "22222222").Decode(&b); err != nil || b.ID == a.ID || b.DNI != "22222222" {
		t.Fatalf("another caller's create with the same key: %+v, %v", b, err)
	}
	if err := create("ana", "11111111").Decode(&again); err != nil || again.ID != a.ID {
		t.Fatalf("the same caller's retry: %+v, %v; want customer %d replayed", again, err, a.ID)
	}
	if r := create("ana", "33333333"); handlers.ErrorCode(r.Err()) != handlers.CodeInvalid {
		t.Fatalf("the same caller reusing its key for another request: %+v, want invalid", r)
	}
}
