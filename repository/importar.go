package repository

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

// Bulk import, for seeding benchmarks and load tests only: it writes many
// customers and their purchases in large batches, with every document the
// store's own writes derive from them (key documents and search documents
// where the store uses them, the purchase history and each customer's
// totals), and one report notice per customer, so that the projector then
// counts them from notices as it counts any change. It records no events
// and no audit entries: an import is not a change anybody made through the
// service, and nothing consumes those of a seed. TestImportar checks that
// every read of imported data equals what the use cases give.
//
// The use cases write one document per round trip; 100,000 customers and
// 1,000,000 sales through them take hours on FerretDB. Here a batch of
// customers costs a handful of round trips.

// importarLote is how many documents one InsertMany sends: large enough
// that round trips do not matter, small enough for one message.
const importarLote = 1000

// Importacion is one batch of customers to import with all their
// purchases.
type Importacion struct {
	// Clientes are stored as they are (id, version, change and audit
	// record included): build them as Insert would. Their ids must not be
	// stored yet, nor their dni or email held.
	Clientes []handlers.Cliente
	// Compras are every purchase of Clientes (a cancelled one has Anulada
	// and FechaAnulacion set); each customer's totals are computed from
	// them, so none may be left for a later batch.
	Compras []handlers.Compra
}

// ReservarIDs takes n consecutive customer ids from the counter, as Insert
// takes its blocks, and returns the first: ids for Importar that no
// Insert hands out.
func (m *Mongo) ReservarIDs(ctx context.Context, n int) (int64, error) {
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	err := m.counters.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: counterID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(n)}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&counter)
	if err != nil {
		return 0, mapError(err)
	}
	return counter.Seq - int64(n) + 1, nil
}

// Importar stores lote in the order the store's own writes keep (see
// claves.go, buscar.go and the projector): the id counter past every id,
// key and search documents, customers, purchases and cancellations,
// totals, and the notices last, so that a notice never finds a customer
// without its totals. Several Importar calls may run at once on different
// customers. It is not idempotent: a batch that fails half way leaves
// what it wrote, and importing it again fails on the first duplicate.
func (m *Mongo) Importar(ctx context.Context, lote Importacion) error {
	if len(lote.Clientes) == 0 {
		return nil
	}
	var claves, clientes, avisos []any
	porBucket := map[int64]bson.D{}
	maxID := int64(0)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, c := range lote.Clientes {
		if c.ID <= 0 {
			return fmt.Errorf("repository: Importar: customer id %d", c.ID)
		}
		maxID = max(maxID, c.ID)
		// Insert keys only the values it stores (reclamarClaves skips an
		// empty one).
		for _, k := range [][2]string{{"dni", c.DNI}, {"email", c.Email}} {
			if k[1] != "" {
				claves = append(claves, claveDoc{Clave: claveCampo(k[0], k[1]), Cliente: c.ID})
			}
		}
		b := bucketDe(c.ID)
		porBucket[b] = append(porBucket[b], bson.E{Key: "p." + claveDe(c.ID), Value: palabrasTexto(campos(c))})
		clientes = append(clientes, clienteDocOf(c))
		avisos = append(avisos, avisoDocOf(handlers.Aviso{ID: "b" + strconv.FormatInt(c.ID, 10), ClienteID: c.ID}, now))
	}
	porCliente := map[int64][]handlers.Compra{}
	var compras, anulaciones, resumenes []any
	for _, c := range lote.Compras {
		// Stored, a purchase reads as registered (a cancellation alone is
		// never imported): the totals must count it so.
		c.Registrada = true
		porCliente[c.ClienteID] = append(porCliente[c.ClienteID], c)
		compras = append(compras, compraDocOf(c))
		if c.Anulada {
			anulaciones = append(anulaciones, anulacionDoc{VentaID: c.VentaID, ClienteID: c.ClienteID,
				Fecha: c.FechaAnulacion.UTC().Truncate(time.Millisecond)})
		}
	}
	for _, c := range lote.Clientes {
		if cs := porCliente[c.ID]; len(cs) > 0 {
			// Revision 1: as the first GuardarAgregados stores it.
			resumenes = append(resumenes, resumenDocOf(handlers.Agregar(c.ID, cs), 1))
		}
	}

	// The counter first, so that no Insert hands out an imported id.
	if _, err := m.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: counterID}},
		bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: maxID}}}}); err != nil {
		return mapError(err)
	}
	if m.claves != nil {
		if err := insertarLotes(ctx, m.claves, claves); err != nil {
			return err
		}
		for b, set := range porBucket {
			if err := m.indexarBucket(ctx, b, set); err != nil {
				return mapError(err)
			}
		}
	}
	h, r := m.Historial(), m.Reportes()
	for _, w := range []struct {
		coll *mongo.Collection
		docs []any
	}{{m.clientes, clientes}, {h.compras, compras}, {h.anulaciones, anulaciones}, {h.resumenes, resumenes}, {r.avisos, avisos}} {
		if err := insertarLotes(ctx, w.coll, w.docs); err != nil {
			return err
		}
	}
	return nil
}

// insertarLotes inserts docs, importarLote at a time, in order: an
// unordered InsertMany that breaks a unique index can leave FerretDB 1.24
// without an answer (see Avisar).
func insertarLotes(ctx context.Context, coll *mongo.Collection, docs []any) error {
	for len(docs) > 0 {
		n := min(len(docs), importarLote)
		if _, err := coll.InsertMany(ctx, docs[:n], options.InsertMany().SetOrdered(true)); err != nil {
			return fmt.Errorf("repository: insert into %s: %w", coll.Name(), mapError(err))
		}
		docs = docs[n:]
	}
	return nil
}
