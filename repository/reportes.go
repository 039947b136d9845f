package repository

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/jea/cliente/handlers"
)

const (
	avisosColl    = "reportes_avisos"
	aplicadasColl = "reportes_aplicadas"
	lotesColl     = "reportes_lotes"
	contadorsColl = "reportes"
)

// Reportes is a handlers.ReportesStore on the customers' database:
//   - one counters document per report family ({_id: family, lote, n: {bucket: count}}),
//     so a report is one read by _id;
//   - one applied-contribution document per customer, stamped with the
//     lote that wrote it;
//   - one document per notice and per lote, only ever inserted (unique
//     _id: the one atomic check FerretDB has) and deleted, or marked done.
//
// Every write of CompletarLote is conditional on the lote stamped on its
// document being older, so repeating it skips what is done.
type Reportes struct {
	avisos, aplicadas, lotes, contadores *mongo.Collection
	// soloID is set where the server finds documents without a scan only
	// by a filter that is exactly a string _id (FerretDB on SQLite, see
	// claves): there a contribution's lote is checked after reading it.
	soloID bool
}

var _ handlers.ReportesStore = (*Reportes)(nil)

// Reportes returns the report store of m's database.
func (m *Mongo) Reportes() *Reportes {
	return &Reportes{avisos: m.db.Collection(avisosColl), aplicadas: m.db.Collection(aplicadasColl),
		lotes: m.db.Collection(lotesColl), contadores: m.db.Collection(contadorsColl), soloID: m.claves != nil}
}

func reportesIndexes(db *mongo.Database) []collIndex {
	return []collIndex{
		// The segment filters page by the numeric id; the departamento
		// filter by both.
		{db.Collection(aplicadasColl), mongo.IndexModel{Keys: bson.D{{Key: "id", Value: 1}},
			Options: options.Index().SetName("id_unique").SetUnique(true)}},
		{db.Collection(aplicadasColl), mongo.IndexModel{Keys: bson.D{{Key: "departamento", Value: 1}, {Key: "id", Value: 1}},
			Options: options.Index().SetName("departamento_numero")}},
	}
}

type avisoDoc struct {
	ID         string    `bson:"_id"`
	ClienteID  int64     `bson:"clienteId"`
	Registrado time.Time `bson:"registrado"`
}

type celdaDoc struct {
	Moneda     string `bson:"moneda"`
	UltimoMes  string `bson:"ultimoMes"`
	Frecuencia int    `bson:"frecuencia"`
	Alto       bool   `bson:"alto"`
	Gasto      int64  `bson:"gasto"`
}

type contribucionDoc struct {
	// Clave is the id as a decimal string (claveDe), as for customers:
	// FerretDB on SQLite finds a document by a string _id without a scan,
	// never by a number.
	Clave        string     `bson:"_id"`
	ID           int64      `bson:"id"`
	Lote         int64      `bson:"lote"`
	Dia          string     `bson:"dia"`
	Activo       bool       `bson:"activo"`
	Departamento string     `bson:"departamento"`
	Provincia    string     `bson:"provincia"`
	Canal        string     `bson:"canal"`
	Telefono     string     `bson:"telefono"`
	Meses        []string   `bson:"meses"`
	Valor        []celdaDoc `bson:"valor"`
}

func contribucionDocOf(id, lote int64, c handlers.Contribucion) contribucionDoc {
	d := contribucionDoc{Clave: claveDe(id), ID: id, Lote: lote, Dia: c.Dia, Activo: c.Activo, Departamento: c.Departamento,
		Provincia: c.Provincia, Canal: c.Canal, Telefono: c.Telefono, Meses: c.Meses, Valor: []celdaDoc{}}
	if d.Meses == nil {
		d.Meses = []string{}
	}
	for _, v := range c.Valor {
		d.Valor = append(d.Valor, celdaDoc(v))
	}
	return d
}

func (d contribucionDoc) toHandlers() handlers.Contribucion {
	c := handlers.Contribucion{Dia: d.Dia, Activo: d.Activo, Departamento: d.Departamento, Provincia: d.Provincia,
		Canal: d.Canal, Telefono: d.Telefono}
	if len(d.Meses) > 0 {
		c.Meses = d.Meses
	}
	for _, v := range d.Valor {
		c.Valor = append(c.Valor, handlers.CeldaValor(v))
	}
	return c
}

type loteDoc struct {
	Numero         int64             `bson:"_id"`
	Owner          string            `bson:"owner"`
	Creado         time.Time         `bson:"creado"`
	Hecho          bool              `bson:"hecho"`
	Delta          []deltaDoc        `bson:"delta"`
	Contribuciones []contribucionDoc `bson:"contribuciones"`
	Avisos         []string          `bson:"avisos"`
}

// deltaDoc is one bucket's change; buckets are values, not field names,
// in the lote (field names cannot hold every character a key may).
type deltaDoc struct {
	K string `bson:"k"`
	D int64  `bson:"d"`
}

func (d loteDoc) toHandlers() handlers.Lote {
	l := handlers.Lote{Numero: d.Numero, Owner: d.Owner, Creado: d.Creado.UTC(), Hecho: d.Hecho, Avisos: d.Avisos,
		Delta: map[string]int64{}, Contribuciones: map[int64]handlers.Contribucion{}}
	for _, x := range d.Delta {
		l.Delta[x.K] = x.D
	}
	for _, c := range d.Contribuciones {
		l.Contribuciones[c.ID] = c.toHandlers()
	}
	return l
}

// Avisar inserts the notices in ordered inserts (insertarTodos): the
// relay records a batch's notices at once (handlers.Registros).
func (r *Reportes) Avisar(ctx context.Context, avisos ...handlers.Aviso) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	docs := make([]any, len(avisos))
	for i, a := range avisos {
		docs[i] = avisoDoc{ID: a.ID, ClienteID: a.ClienteID, Registrado: now}
	}
	return insertarTodos(ctx, r.avisos, docs)
}

// ignoreDuplicates treats an insert refused by a unique _id as done: the
// document is there.
func ignoreDuplicates(err error) error {
	if _, dup := duplicateKey(err); dup {
		return nil
	}
	return mapError(err)
}

// Avisos reads notices in no particular order: FerretDB would sort the
// whole collection for each call, and the order does not matter (a notice
// is only "look at this customer again").
func (r *Reportes) Avisos(ctx context.Context, limit int) ([]handlers.Aviso, error) {
	cur, err := r.avisos.Find(ctx, bson.D{}, options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, mapError(err)
	}
	var docs []avisoDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	out := make([]handlers.Aviso, len(docs))
	for i, d := range docs {
		out[i] = handlers.Aviso{ID: d.ID, ClienteID: d.ClienteID}
	}
	return out, nil
}

// Aplicadas reads each customer by _id, 8 at a time: FerretDB 1.x does not
// push an _id $in filter down and would scan the collection.
func (r *Reportes) Aplicadas(ctx context.Context, ids []int64) (map[int64]handlers.Contribucion, error) {
	out := map[int64]handlers.Contribucion{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			var d contribucionDoc
			err := r.aplicadas.FindOne(gctx, bson.D{{Key: "_id", Value: claveDe(id)}}).Decode(&d)
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
				return nil
			case err != nil:
				return mapError(err)
			}
			mu.Lock()
			defer mu.Unlock()
			out[id] = d.toHandlers()
			return nil
		})
	}
	return out, g.Wait()
}

// UltimoLote reads the counters' lote c (every family is stamped by every
// lote, before the lote is marked done) and returns lote c+1 if it was
// recorded (a lote is only recorded after the one before it is done), else
// lote c: two reads by _id, where sorting by _id would scan on FerretDB.
func (r *Reportes) UltimoLote(ctx context.Context) (*handlers.Lote, error) {
	cur, err := r.contadores.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "lote", Value: 1}}))
	if err != nil {
		return nil, mapError(err)
	}
	var fams []struct {
		Lote int64 `bson:"lote"`
	}
	if err := cur.All(ctx, &fams); err != nil {
		return nil, mapError(err)
	}
	c := int64(0)
	for i, f := range fams {
		if i == 0 || f.Lote < c {
			c = f.Lote
		}
	}
	for _, n := range []int64{c + 1, c} {
		if n == 0 {
			continue
		}
		var d loteDoc
		err := r.lotes.FindOne(ctx, bson.D{{Key: "_id", Value: n}}).Decode(&d)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue
		case err != nil:
			return nil, mapError(err)
		}
		l := d.toHandlers()
		return &l, nil
	}
	return nil, nil
}

func (r *Reportes) IniciarLote(ctx context.Context, l handlers.Lote) error {
	d := loteDoc{Numero: l.Numero, Owner: l.Owner, Creado: l.Creado.UTC().Truncate(time.Millisecond), Avisos: l.Avisos,
		Delta: []deltaDoc{}, Contribuciones: []contribucionDoc{}}
	if d.Avisos == nil {
		d.Avisos = []string{}
	}
	for k, v := range l.Delta {
		d.Delta = append(d.Delta, deltaDoc{k, v})
	}
	for id, c := range l.Contribuciones {
		d.Contribuciones = append(d.Contribuciones, contribucionDocOf(id, l.Numero, c))
	}
	_, err := r.lotes.InsertOne(ctx, d)
	if _, dup := duplicateKey(err); dup {
		return handlers.ErrLoteOcupado
	}
	return mapError(err)
}

// CompletarLote makes its writes in this order, each skipped if done: the
// counters of each family, the applied contributions, the notices, the
// lote's done mark. Every update is conditional on the lote stamped on its
// document being older; a missing document is inserted (a unique _id makes
// that idempotent), never upserted, which FerretDB does not make atomic.
func (r *Reportes) CompletarLote(ctx context.Context, l handlers.Lote) error {
	n := l.Numero
	older := bson.D{{Key: "$lt", Value: n}}
	for _, f := range handlers.Familias {
		inc := bson.D{}
		for k, d := range l.Delta {
			if handlers.FamiliaDe(k) == f {
				inc = append(inc, bson.E{Key: "n." + k, Value: d})
			}
		}
		update := bson.D{{Key: "$set", Value: bson.D{{Key: "lote", Value: n}}}}
		if len(inc) > 0 {
			update = append(update, bson.E{Key: "$inc", Value: inc})
		}
		if _, err := r.contadores.UpdateOne(ctx, bson.D{{Key: "_id", Value: f}, {Key: "lote", Value: older}}, update); err != nil {
			return mapError(err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for id, c := range l.Contribuciones {
		g.Go(func() error {
			doc := contribucionDocOf(id, n, c)
			filter := bson.D{{Key: "_id", Value: doc.Clave}, {Key: "lote", Value: older}}
			if r.soloID {
				// A two-key filter would scan every contribution; FerretDB
				// does not apply updates atomically anyway, and only one
				// projector completes a lote at a time (see the projector).
				var cur contribucionDoc
				switch err := r.aplicadas.FindOne(gctx, bson.D{{Key: "_id", Value: doc.Clave}}).Decode(&cur); {
				case errors.Is(err, mongo.ErrNoDocuments):
					_, err = r.aplicadas.InsertOne(gctx, doc)
					return ignoreDuplicates(err)
				case err != nil:
					return mapError(err)
				case cur.Lote >= n:
					return nil // already at this lote or a later one
				}
				filter = filter[:1]
			}
			res, err := r.aplicadas.ReplaceOne(gctx, filter, doc)
			if err != nil || res.MatchedCount > 0 {
				return mapError(err)
			}
			// New, or already at this lote (then the insert is refused).
			_, err = r.aplicadas.InsertOne(gctx, doc)
			return ignoreDuplicates(err)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range l.Avisos {
		// One delete by _id each: FerretDB would scan for an $in.
		g.Go(func() error {
			_, err := r.avisos.DeleteOne(gctx, bson.D{{Key: "_id", Value: id}})
			return mapError(err)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err := r.lotes.UpdateOne(ctx, bson.D{{Key: "_id", Value: n}}, bson.D{{Key: "$set", Value: bson.D{{Key: "hecho", Value: true}}}})
	return mapError(err)
}

// ensureFamilias creates each family's counters document at lote 0;
// EnsureSchema runs it.
func ensureFamilias(ctx context.Context, db *mongo.Database) error {
	for _, f := range handlers.Familias {
		_, err := db.Collection(contadorsColl).InsertOne(ctx, bson.D{{Key: "_id", Value: f}, {Key: "lote", Value: int64(0)}, {Key: "n", Value: bson.D{}}})
		if err := ignoreDuplicates(err); err != nil {
			return fmt.Errorf("repository: report counters %s: %w", f, err)
		}
	}
	return nil
}

func (r *Reportes) Contadores(ctx context.Context, familia string) (map[string]int64, error) {
	var d struct {
		N map[string]int64 `bson:"n"`
	}
	err := r.contadores.FindOne(ctx, bson.D{{Key: "_id", Value: familia}}).Decode(&d)
	out := map[string]int64{}
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return out, nil
	case err != nil:
		return nil, mapError(err)
	}
	for k, v := range d.N {
		if v != 0 {
			out[k] = v
		}
	}
	return out, nil
}

// Seleccionar pushes the departamento down to the index and checks the
// RFM ranges here, a batch of documents at a time: FerretDB 1.x has no
// $elemMatch on documents.
func (r *Reportes) Seleccionar(ctx context.Context, sel handlers.Seleccion, despuesDe int64, limit int) ([]int64, error) {
	const batch = 500
	var out []int64
	for len(out) < limit {
		filter := bson.D{{Key: "id", Value: bson.D{{Key: "$gt", Value: despuesDe}}}}
		if sel.Departamento != nil {
			dep := *sel.Departamento
			if dep == handlers.SinUbicar {
				dep = ""
			}
			filter = append(filter, bson.E{Key: "departamento", Value: dep})
		}
		n := batch
		if sel.Valor == nil {
			n = limit - len(out)
		}
		cur, err := r.aplicadas.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "id", Value: 1}}).SetLimit(int64(n)))
		if err != nil {
			return nil, mapError(err)
		}
		var docs []contribucionDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, mapError(err)
		}
		for _, d := range docs {
			if len(out) < limit && sel.Selecciona(d.toHandlers()) {
				out = append(out, d.ID)
			}
		}
		if len(docs) < n {
			break
		}
		despuesDe = docs[len(docs)-1].ID
	}
	return out, nil
}

func (r *Reportes) Podar(ctx context.Context, before time.Time) error {
	last, err := r.UltimoLote(ctx)
	if err != nil || last == nil {
		return err
	}
	_, err = r.lotes.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: last.Numero}}},
		{Key: "hecho", Value: true}, {Key: "creado", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}})
	return mapError(err)
}

// reportesDone marks that every customer stored before the reports
// existed was noticed, and its totals carry what the reports need.
const reportesDone = "reportes-backfilled"

// backfillReportes runs once per database: for every customer, it
// recomputes totals saved by an older version (without the months of
// purchase and the last purchase per currency) and records a notice, so
// the projector counts customers that will never change again. Notices
// are idempotent and the projector reads current state, so a start that
// dies half way only repeats work.
func (m *Mongo) backfillReportes(ctx context.Context) error {
	migrations := m.db.Collection(migrationsColl)
	switch err := migrations.FindOne(ctx, bson.D{{Key: "_id", Value: reportesDone}}).Err(); {
	case err == nil:
		return nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return mapError(err)
	}
	h, r := m.Historial(), m.Reportes()
	for after := int64(0); ; {
		cur, err := m.clientes.Find(ctx, bson.D{{Key: "id", Value: bson.D{{Key: "$gt", Value: after}}}},
			options.Find().SetSort(bson.D{{Key: "id", Value: 1}}).SetLimit(500).SetProjection(bson.D{{Key: "id", Value: 1}}))
		if err != nil {
			return mapError(err)
		}
		var docs []struct {
			ID int64 `bson:"id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return mapError(err)
		}
		if len(docs) == 0 {
			_, err := migrations.InsertOne(ctx, bson.D{{Key: "_id", Value: reportesDone}})
			return ignoreDuplicates(err)
		}
		for _, d := range docs {
			var old struct {
				Revision int64     `bson:"revision"`
				Meses    *[]string `bson:"meses"`
			}
			err := h.resumenes.FindOne(ctx, bson.D{{Key: "_id", Value: d.ID}}).Decode(&old)
			if err == nil && old.Meses == nil {
				compras, err := h.ComprasDe(ctx, d.ID)
				if err != nil {
					return err
				}
				// ErrRevision: a sale saved fresh totals in between.
				if err := h.GuardarAgregados(ctx, handlers.Agregar(d.ID, compras), old.Revision); err != nil && !errors.Is(err, handlers.ErrRevision) {
					return err
				}
			} else if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
				return mapError(err)
			}
			if err := r.Avisar(ctx, handlers.Aviso{ID: "b" + strconv.FormatInt(d.ID, 10), ClienteID: d.ID}); err != nil {
				return err
			}
		}
		after = docs[len(docs)-1].ID
	}
}
