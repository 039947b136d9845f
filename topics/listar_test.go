package topics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
)

// Walking every page of 20,000 customers over Kafka finds each exactly
// once, in order, while customers are created and deactivated meanwhile;
// no reply comes near the record limit.
func TestListingWalksEveryCustomerOnceUnderChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 customers")
	}
	svc := newService()
	ctx := context.Background()
	const n = 20_000
	seeded := make(map[int64]int, n)
	for i := range n {
		c, err := svc.Crear(ctx, handlers.Datos{DNI: ptr(fmt.Sprintf("%08d", 30_000_000+i)), Nombre: ptr(fmt.Sprintf("Cliente %d", i)),
			Email: ptr(fmt.Sprintf("c%d@example.pe", i))}, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		seeded[c.ID] = 0
	}
	s := startStack(t, svc)

	// Changes while the pages are read: new customers, and deactivations
	// of seeded ones (which GET /cliente still lists).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			call(t, s, topics.Crear(handlers.Datos{DNI: ptr(fmt.Sprintf("%08d", 60_000_000+i)), Nombre: ptr("Nuevo"), Email: ptr(fmt.Sprintf("n%d@example.pe", i))}))
			call(t, s, topics.Eliminar(int64(1+i*97%n)))
		}
	}()

	limite, cursor, pages, largest := 1000, "", 0, 0
	var last int64
	for {
		r := call(t, s, topics.ListarClientes(handlers.ConsultaClientes{Limite: &limite, Cursor: cursor}))
		var page handlers.PaginaClientes
		if err := r.Decode(&page); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(r)
		largest = max(largest, len(raw))
		for _, c := range page.Clientes {
			if c.ID <= last {
				t.Fatalf("id %d after %d: not ascending", c.ID, last)
			}
			last = c.ID
			if _, ok := seeded[c.ID]; ok {
				seeded[c.ID]++
			}
		}
		pages++
		if page.Siguiente == "" {
			break
		}
		cursor = page.Siguiente
	}
	close(stop)
	wg.Wait()
	for id, seen := range seeded {
		if seen != 1 {
			t.Fatalf("customer %d seen %d times", id, seen)
		}
	}
	if largest > topics.MaxMessageBytes/2 {
		t.Fatalf("a reply of %d bytes", largest)
	}
	t.Logf("%d pages, largest reply %d bytes", pages, largest)
}

// Pages of customers whose every field is as long as allowed, in the
// characters that grow most in JSON, are cut to stay small, and the cut
// loses nobody.
func TestLargeCustomersMakeShorterPages(t *testing.T) {
	svc := memstore.Service(handlers.Deps{})
	ctx := context.Background()
	wide := strings.Repeat("<", 100) // "\u003c" in JSON: six bytes each
	const n = 1200
	for i := range n {
		dir := strings.Repeat("<", 200)
		_, err := svc.Crear(ctx, handlers.Datos{DNI: ptr(fmt.Sprintf("%08d", 40_000_000+i)), Nombre: &wide, Apellido: &wide,
			Direccion: &dir, Email: ptr(fmt.Sprintf("w%d@example.pe", i))}, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
	}
	limite, cursor, seen, pages := 1000, "", 0, 0
	for {
		page, err := svc.Listar(ctx, handlers.ConsultaClientes{Limite: &limite, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(page)
		if len(raw) > 600<<10 {
			t.Fatalf("a page of %d bytes", len(raw))
		}
		seen += len(page.Clientes)
		pages++
		if page.Siguiente == "" {
			break
		}
		cursor = page.Siguiente
	}
	if seen != n || pages < 3 {
		t.Fatalf("%d customers in %d pages, want %d in more than 2", seen, pages, n)
	}
}
