package repository

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// Totals and applied contributions stored before they had grupo are
// found by a group read once ensureGrupos ran: a group read of them is
// complete (no read by _id for a customer it misses). On whatever server
// the tests use, read as on FerretDB on PostgreSQL.
func TestEnsureGrupos(t *testing.T) {
	ctx := testCtx(t)
	m := newStore(t, newDatabase(t))
	m.modo, m.minGrupo = leerPorGrupos, 1
	const id = int64(5000)
	if _, err := m.db.Collection(resumenesColl).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "revision", Value: int64(1)},
		{Key: "compras", Value: 3}, {Key: "porMoneda", Value: bson.A{}}, {Key: "meses", Value: bson.A{}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Collection(aplicadasColl).InsertOne(ctx, bson.D{{Key: "_id", Value: claveDe(id)}, {Key: "id", Value: id},
		{Key: "lote", Value: int64(1)}, {Key: "dia", Value: "2026-01-05"}, {Key: "meses", Value: bson.A{}}, {Key: "valor", Value: bson.A{}}}); err != nil {
		t.Fatal(err)
	}
	// As a database made before grupo: not done yet (EnsureSchema did it
	// where the server is read by groups).
	if _, err := m.db.Collection(migrationsColl).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in",
		Value: bson.A{grupoAplicadasDone, grupoResumenesDone}}}}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second finds it done
		if err := m.ensureGrupos(ctx); err != nil {
			t.Fatal(err)
		}
	}
	totales, err := m.Historial().AgregadosVarios(ctx, []int64{id, id + 1})
	if err != nil || len(totales) != 1 || totales[id].Compras != 3 {
		t.Fatalf("AgregadosVarios = %+v, %v; want the old totals of %d", totales, err, id)
	}
	aplicadas, err := m.Reportes().Aplicadas(ctx, []int64{id, id + 1})
	if err != nil || len(aplicadas) != 1 || aplicadas[id].Dia != "2026-01-05" {
		t.Fatalf("Aplicadas = %+v, %v; want the old contribution of %d", aplicadas, err, id)
	}
}
