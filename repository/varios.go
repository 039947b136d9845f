package repository

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/jea/cliente/handlers"
)

// Reading many documents by id (the projector reads a lote's customers,
// totals and applied contributions) costs what the server makes of it:
//
//   - MongoDB answers {_id: {$in: ids}} from the _id index: one query.
//   - FerretDB on SQLite finds by a string _id without a scan, and scans
//     for anything else, $in included: one read by _id each, in parallel,
//     but where _id is a number (totals), which a read by _id scans for
//     as well: there one $in scans once for all.
//   - FerretDB 1.24 on PostgreSQL does not hand $in to PostgreSQL at all,
//     decoding every document itself. An equality it does hand down (as
//     jsonb @>, which only the GIN twins of deploy/local/ferretdb-gin.sql
//     serve; without them every query scans the table). So customers,
//     totals and contributions carry grupo, their id divided by
//     grupoSize, and the ids of one group are read with one {grupo: g}
//     query: one index scan (grupoIndex) instead of one query per id.
//
// Documents stored before grupo existed are not found by a group read;
// where that can be (customers), every id a group read misses is read
// again by _id. Applied contributions and totals were given grupo once
// (ensureGrupos).
const (
	grupoSize = 1024
	// grupoMinimo is the fewest wanted ids for which a group is read as a
	// group: below it, the group's other documents cost more than the
	// separate reads save. With the GIN twins a read by _id is an index
	// lookup, and decoding a group's 1,024 documents costs about as much
	// as a hundred of them: lotes of 16 folded 61 notices/s reading
	// groups (8 was the bound), 407 reading by _id (BenchmarkProyector).
	grupoMinimo = 128
	// leerEnParalelo bounds the reads by _id one call has in flight.
	leerEnParalelo = 8
	// inLote bounds the ids of one $in.
	inLote = 1000
)

func grupoDe(id int64) int64 { return id / grupoSize }

// grupoIndex serves the group reads. Every field a store reads by
// equality has a single-field index of its own, even where a compound
// index's prefix would do on MongoDB: FerretDB on PostgreSQL can serve an
// equality only through the GIN twin of a single-field index
// (deploy/local/ferretdb-gin.sql), and scans the table otherwise.
//
// A new one each call: the driver writes to an index model's options
// when it creates it, and EnsureSchema may run in several goroutines.
func grupoIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "grupo", Value: 1}}, Options: options.Index().SetName("grupo")}
}

// modoLectura is how a store reads many documents by id (see above).
type modoLectura int

// varios is how a store reads many documents by id.
type varios struct {
	modo modoLectura
	// minGrupo is grupoMinimo but in tests, which read every group as a
	// group.
	minGrupo int
}

const (
	leerConIn     modoLectura = iota // MongoDB
	leerPorID                        // FerretDB on SQLite
	leerPorGrupos                    // FerretDB on PostgreSQL
)

// lectura reads documents of type T from coll by customer id.
type lectura[T any] struct {
	coll *mongo.Collection
	varios
	// clave is the _id of the document of a customer id; id the customer
	// id of a decoded document.
	clave func(int64) any
	id    func(T) int64
	// completos says every document has grupo, so a group read that
	// misses an id means there is none.
	completos bool
}

// leer returns the documents of ids that exist, by customer id.
func (l lectura[T]) leer(ctx context.Context, ids []int64) (map[int64]T, error) {
	out := make(map[int64]T, len(ids))
	var porID []int64
	modo := l.modo
	if _, texto := l.clave(0).(string); modo == leerPorID && !texto {
		modo = leerConIn
	}
	switch modo {
	case leerConIn:
		for len(ids) > 0 {
			n := min(len(ids), inLote)
			claves := make(bson.A, n)
			for i, id := range ids[:n] {
				claves[i] = l.clave(id)
			}
			if err := l.find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: claves}}}}, out); err != nil {
				return nil, err
			}
			ids = ids[n:]
		}
		return out, nil
	case leerPorGrupos:
		grupos := map[int64][]int64{}
		for _, id := range ids {
			grupos[grupoDe(id)] = append(grupos[grupoDe(id)], id)
		}
		for grupo, miembros := range grupos {
			if len(miembros) < l.minGrupo {
				porID = append(porID, miembros...)
				delete(grupos, grupo)
			}
		}
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(leerEnParalelo)
		for grupo, miembros := range grupos {
			g.Go(func() error {
				found := map[int64]T{}
				if err := l.find(gctx, bson.D{{Key: "grupo", Value: grupo}}, found); err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, id := range miembros {
					if d, ok := found[id]; ok {
						out[id] = d
					} else if !l.completos {
						porID = append(porID, id)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	default:
		porID = ids
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(leerEnParalelo)
	for _, id := range porID {
		g.Go(func() error {
			var d T
			switch err := l.coll.FindOne(gctx, bson.D{{Key: "_id", Value: l.clave(id)}}).Decode(&d); {
			case errors.Is(err, mongo.ErrNoDocuments):
				return nil
			case err != nil:
				return mapError(err)
			}
			mu.Lock()
			defer mu.Unlock()
			out[id] = d
			return nil
		})
	}
	return out, g.Wait()
}

// leerComo reads the documents of ids with l, converted by conv.
func leerComo[T, U any](ctx context.Context, l lectura[T], ids []int64, conv func(T) U) (map[int64]U, error) {
	docs, err := l.leer(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]U, len(docs))
	for id, d := range docs {
		out[id] = conv(d)
	}
	return out, nil
}

// find adds the documents filter selects to out.
func (l lectura[T]) find(ctx context.Context, filter bson.D, out map[int64]T) error {
	cur, err := l.coll.Find(ctx, filter)
	if err != nil {
		return mapError(err)
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return mapError(err)
	}
	for _, d := range docs {
		out[l.id(d)] = d
	}
	return nil
}

// GetVarios returns the customers of ids that exist, by id
// (handlers.LectorClientes).
func (m *Mongo) GetVarios(ctx context.Context, ids []int64) (map[int64]handlers.Cliente, error) {
	return leerComo(ctx, lectura[cliente]{coll: m.clientes, varios: m.varios, clave: func(id int64) any { return claveDe(id) },
		id: func(d cliente) int64 { return d.ID }}, ids, func(d cliente) handlers.Cliente { return d.toHandlers() })
}

// AgregadosVarios returns the stored totals of ids, by id; a customer
// without totals is absent (handlers.LectorAgregados).
func (h *Historial) AgregadosVarios(ctx context.Context, ids []int64) (map[int64]handlers.Agregados, error) {
	return leerComo(ctx, lectura[resumenDoc]{coll: h.resumenes, varios: h.varios, clave: func(id int64) any { return id },
		id: func(d resumenDoc) int64 { return d.ClienteID }, completos: true}, ids, resumenDoc.toHandlers)
}
