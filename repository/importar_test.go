package repository

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
)

// Imported data reads exactly as the same data written through the use
// cases: customers are created, changed and sold to through the service
// on one database, then imported as they were stored into another, and
// every read of the store, the history and the reports (once each
// projector drained) must give the same on both. A key or search document
// that Importar forgot would make a lookup or a search differ.
//
// The imported database's projector reads as each way of varios.go does in
// turn, so a group read that missed a customer would count it wrong.
func TestImportar(t *testing.T) {
	for name, modo := range map[string]modoLectura{"in": leerConIn, "porID": leerPorID, "porGrupos": leerPorGrupos} {
		t.Run(name, func(t *testing.T) { testImportar(t, modo) })
	}
}

func testImportar(t *testing.T, modo modoLectura) {
	// Longer than testCtx: this test makes some thousand calls, which
	// under the race detector on a loaded machine took more than 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	casos, importados := newStore(t, newDatabase(t)), newStore(t, newDatabase(t))
	importados.modo, importados.minGrupo = modo, 1
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	svc, err := handlers.NewService(casos.Deps(time.Hour, clock))
	if err != nil {
		t.Fatal(err)
	}
	nombres := []string{"María José", "José", "Rosa", "Juan Carlos", "Quispe"}
	apellidos := []string{"Quispe Mamani", "Huamán", "Mamani", "", "Flores"}
	direcciones := []string{"Av. Arequipa 123, Miraflores, Lima", "Jr. Junín 456 - Cusco", "", "Av. Larco 1150, Trujillo, La Libertad"}
	telefonos := []string{"987654321", "", "014221234"}
	var ids []int64
	for i := range 40 {
		now = now.Add(-time.Duration(i) * 37 * time.Hour)
		dni, email := fmt.Sprintf("%08d", 20_000_000+i), fmt.Sprintf("imp%d@example.pe", i)
		c, err := svc.Crear(ctx, handlers.Datos{DNI: &dni, Nombre: &nombres[i%len(nombres)], Apellido: &apellidos[i%len(apellidos)],
			Email: &email, Direccion: &direcciones[i%len(direcciones)], Telefono: &telefonos[i%len(telefonos)]}, handlers.Cambio{})
		if err != nil {
			t.Fatalf("crear %d: %v", i, err)
		}
		ids = append(ids, c.ID)
	}
	now = time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	for i, id := range ids[:6] {
		if i%2 == 0 {
			if _, err := svc.Eliminar(ctx, id, handlers.Cambio{}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		c, err := casos.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		nombre := "Renombrado"
		if _, err := svc.Actualizar(ctx, id, handlers.Datos{DNI: &c.DNI, Nombre: &nombre, Apellido: &c.Apellido, Email: &c.Email,
			Telefono: &c.Telefono, Direccion: &direcciones[1]}, handlers.Cambio{}); err != nil {
			t.Fatalf("actualizar %d: %v", id, err)
		}
	}
	for i := range 100 {
		id := ids[(i*7)%len(ids)]
		venta, fecha := fmt.Sprintf("I%d", i), now.Add(-time.Duration(i*61)*time.Hour).Format(time.RFC3339)
		moneda, total := "PEN", json.Number(fmt.Sprintf("%d.%02d", 5+i*13%700, i%100))
		if i%4 == 0 {
			moneda = "USD"
		}
		items := 1 + i%3
		if _, err := svc.RegistrarVenta(ctx, handlers.DatosVenta{VentaID: &venta, ClienteID: &id, Fecha: &fecha, Total: &total,
			Moneda: &moneda, Items: &items}); err != nil {
			t.Fatalf("venta %d: %v", i, err)
		}
		if i%9 == 0 {
			if _, err := svc.AnularVenta(ctx, handlers.DatosAnulacion{VentaID: &venta, ClienteID: &id, Fecha: &fecha}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Import what the use cases stored, in three batches.
	clientes, err := casos.List(ctx, handlers.Filtro{})
	if err != nil || len(clientes) != len(ids) {
		t.Fatalf("List: %d customers, %v", len(clientes), err)
	}
	for part := range slices.Chunk(clientes, 15) {
		lote := Importacion{Clientes: part}
		for _, c := range part {
			compras, err := casos.Historial().ComprasDe(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			lote.Compras = append(lote.Compras, compras...)
		}
		if err := importados.Importar(ctx, lote); err != nil {
			t.Fatalf("Importar: %v", err)
		}
	}

	both := func(what string, read func(m *Mongo) (any, error)) {
		t.Helper()
		want, werr := read(casos)
		got, gerr := read(importados)
		if !reflect.DeepEqual(got, want) || handlers.ErrorCode(werr) != handlers.ErrorCode(gerr) {
			t.Errorf("%s: imported %+v, %v\n\tuse cases %+v, %v", what, got, gerr, want, werr)
		}
	}
	for _, c := range clientes {
		both(fmt.Sprintf("Get(%d)", c.ID), func(m *Mongo) (any, error) { return m.Get(ctx, c.ID) })
		both("GetByDNI "+c.DNI, func(m *Mongo) (any, error) { return m.GetByDNI(ctx, c.DNI) })
		both("GetByEmail "+c.Email, func(m *Mongo) (any, error) { return m.GetByEmail(ctx, c.Email) })
		both(fmt.Sprintf("Agregados(%d)", c.ID), func(m *Mongo) (any, error) {
			a, _, err := m.Historial().Agregados(ctx, c.ID)
			return a, err
		})
		both(fmt.Sprintf("ComprasDe(%d)", c.ID), func(m *Mongo) (any, error) {
			cs, err := m.Historial().ComprasDe(ctx, c.ID)
			slices.SortFunc(cs, func(a, b handlers.Compra) int { return strings.Compare(a.VentaID, b.VentaID) })
			return cs, err
		})
		both(fmt.Sprintf("PaginaCompras(%d)", c.ID), func(m *Mongo) (any, error) {
			var all [][]handlers.Compra
			p := handlers.PaginaCompras{Limite: 2}
			for {
				page, err := m.Historial().PaginaCompras(ctx, c.ID, p)
				if err != nil || len(page) == 0 {
					return all, err
				}
				all = append(all, page)
				last := page[len(page)-1]
				p.Despues = &handlers.CursorCompras{Fecha: last.Fecha, VentaID: last.VentaID}
			}
		})
	}
	inactivo := false
	for _, f := range []handlers.Filtro{{Limite: 7}, {Limite: 3, Activo: &inactivo}, {Limite: 4, Palabras: []string{"qui"}},
		{Limite: 5, Palabras: []string{"jos", "hua"}}, {Limite: 2, Palabras: []string{"renombrado"}},
		{Limite: 6, RegistradoDesde: now.AddDate(0, 0, -20)}} {
		both(fmt.Sprintf("List pages of %+v", f), func(m *Mongo) (any, error) {
			var pages [][]handlers.Cliente
			for f := f; ; {
				page, err := m.List(ctx, f)
				if err != nil || len(page) == 0 {
					return pages, err
				}
				pages = append(pages, page)
				f.DespuesDeID = page[len(page)-1].ID
			}
		})
	}

	// The reports, once each database's projector folded its notices.
	a := handlers.NewAnalizador()
	for _, m := range []*Mongo{casos, importados} {
		p, err := handlers.NewProjector(handlers.Projector{Store: m, Historial: m.Historial(), Reportes: m.Reportes(),
			Analizador: a, Now: clock, Batch: 16, Interval: time.Second, Takeover: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range handlers.Familias {
		both("Contadores "+f, func(m *Mongo) (any, error) { return m.Reportes().Contadores(ctx, f) })
	}
	both("Seleccionar Lima", func(m *Mongo) (any, error) {
		lima := "Lima"
		return m.Reportes().Seleccionar(ctx, handlers.Seleccion{Departamento: &lima}, 0, 100)
	})
	counters, err := importados.Reportes().Contadores(ctx, handlers.FamiliaAdquisicion)
	if err != nil || len(counters) == 0 {
		t.Fatalf("no acquisition counters after importing: %v, %v", counters, err)
	}

	// The counter is past the imported ids: a new customer gets a new id.
	c, err := importados.Insert(ctx, handlers.Campos{DNI: "29999999", Nombre: "Nuevo", Email: "nuevo@example.pe"}, now, handlers.Cambio{})
	if err != nil || c.ID <= slices.MaxFunc(clientes, func(a, b handlers.Cliente) int { return cmp.Compare(a.ID, b.ID) }).ID {
		t.Fatalf("Insert after Importar: %+v, %v", c, err)
	}
}
