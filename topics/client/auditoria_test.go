package client_test

import (
	"errors"
	"testing"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics/client"
)

// The administration operations over Kafka: the principal a caller puts
// in its context travels in meta to the worker, which records it as the
// author of each change; the trail pages newest first; anonymisation and
// the data export answer through the typed client.
func TestAdminOperations(t *testing.T) {
	_, cl, ctx := startWithClient(t)

	ana := handlers.WithPrincipal(ctx, handlers.Principal{Subject: "user-7", ClientID: "consola"})
	ventas := handlers.WithPrincipal(ctx, handlers.Principal{ClientID: "ventas"})
	c, err := cl.Crear(ana, handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Eliminar(ventas, c.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	anon, err := cl.Anonimizar(ana, c.ID, handlers.Cambio{IdempotencyKey: "anon-1"})
	if err != nil || !anon.Anonimizado || anon.DNI != handlers.Anonimo(c.ID).DNI || anon.Version != 3 {
		t.Fatalf("Anonimizar = %+v, %v", anon, err)
	}

	var autores []handlers.Principal
	var tipos []string
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		p, err := cl.Auditoria(ctx, c.ID, ptr(2), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entradas {
			autores, tipos = append(autores, e.Autor), append(tipos, e.Tipo)
		}
		if cursor = p.Siguiente; cursor == "" {
			break
		}
	}
	want := []handlers.Principal{{Subject: "user-7", ClientID: "consola"}, {ClientID: "ventas"}, {Subject: "user-7", ClientID: "consola"}}
	if len(autores) != 3 || autores[0] != want[0] || autores[1] != want[1] || autores[2] != want[2] ||
		tipos[0] != handlers.CambioAnonimizado || tipos[1] != handlers.CambioDesactivado || tipos[2] != handlers.CambioRegistrado {
		t.Fatalf("trail: authors %+v, kinds %v; want %+v and anonimizado, desactivado, registrado", autores, tipos, want)
	}

	datos, err := cl.Datos(ctx, c.ID)
	if err != nil || datos.Cliente.ID != c.ID || !datos.Cliente.Anonimizado || len(datos.Auditoria) != 3 || !datos.Completo {
		t.Fatalf("Datos = %+v, %v", datos, err)
	}
	if _, err := cl.Auditoria(ctx, c.ID, ptr(0), ""); handlers.ErrorCode(err) != handlers.CodeInvalid {
		t.Fatalf("limite 0: %v, want invalid before sending", err)
	}
	if _, err := cl.Datos(ctx, 999_999); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Datos of a missing customer: %v", err)
	}
}
