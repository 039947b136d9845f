package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	partesColl    = "reportes_lotes_partes"
	contadorsColl = "reportes"
	// parteSize is the most contributions, and notices, one part of a
	// lote holds: about 1.5 MB, well below a document's 16 MB.
	parteSize = 5000
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
	avisos, aplicadas, lotes, partes, contadores *mongo.Collection
	// soloID is set where the server finds documents without a scan only
	// by a filter that is exactly a string _id (FerretDB on SQLite, see
	// claves): there a contribution's lote is checked after reading it.
	soloID bool
	varios
}

var _ handlers.ReportesStore = (*Reportes)(nil)

// Reportes returns the report store of m's database.
func (m *Mongo) Reportes() *Reportes {
	return &Reportes{avisos: m.db.Collection(avisosColl), aplicadas: m.db.Collection(aplicadasColl),
		lotes: m.db.Collection(lotesColl), partes: m.db.Collection(partesColl), contadores: m.db.Collection(contadorsColl),
		soloID: m.claves != nil, varios: m.varios}
}

// lecturaAplicadas reads applied contributions. Every one carries grupo
// (ensureGrupos), so a group read is complete.
func (r *Reportes) lecturaAplicadas() lectura[contribucionDoc] {
	return lectura[contribucionDoc]{coll: r.aplicadas, varios: r.varios, clave: func(id int64) any { return claveDe(id) },
		id: func(d contribucionDoc) int64 { return d.ID }, completos: true}
}

func reportesIndexes(db *mongo.Database) []collIndex {
	return []collIndex{
		// The segment filters page by the numeric id; the departamento
		// filter by both.
		{db.Collection(aplicadasColl), mongo.IndexModel{Keys: bson.D{{Key: "id", Value: 1}},
			Options: options.Index().SetName("id_unique").SetUnique(true)}},
		{db.Collection(aplicadasColl), mongo.IndexModel{Keys: bson.D{{Key: "departamento", Value: 1}, {Key: "id", Value: 1}},
			Options: options.Index().SetName("departamento_numero")}},
		{db.Collection(aplicadasColl), grupoIndex()},
		{db.Collection(avisosColl), grupoIndex()},
	}
}

type avisoDoc struct {
	ID         string    `bson:"_id"`
	ClienteID  int64     `bson:"clienteId"`
	Registrado time.Time `bson:"registrado"`
	// Grupo is grupoDe(ClienteID): a lote's notices are deleted a group
	// at a time (borrarAvisos).
	Grupo int64 `bson:"grupo"`
}

func avisoDocOf(a handlers.Aviso, registrado time.Time) avisoDoc {
	return avisoDoc{ID: a.ID, ClienteID: a.ClienteID, Registrado: registrado, Grupo: grupoDe(a.ClienteID)}
}

// avisoRef is a notice in a lote's part.
type avisoRef struct {
	ID        string `bson:"id"`
	ClienteID int64  `bson:"clienteId"`
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
	// Grupo is grupoDe(ID), for reading many at once (varios.go).
	Grupo int64 `bson:"grupo"`
}

func contribucionDocOf(id, lote int64, c handlers.Contribucion) contribucionDoc {
	d := contribucionDoc{Clave: claveDe(id), ID: id, Lote: lote, Grupo: grupoDe(id), Dia: c.Dia, Activo: c.Activo, Departamento: c.Departamento,
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

// loteDoc is a lote's header; its content is in Partes parts (parteDoc)
// named by Cuerpo. Lotes recorded before parts existed hold their content
// themselves (Partes 0).
//
// A header stays small because it is read every round: FerretDB on
// PostgreSQL scans every lote kept (an hour's worth) to find one, and
// decodes the one it returns; with thousands of contributions inline
// that took 0.4 s a round.
type loteDoc struct {
	Numero         int64             `bson:"_id"`
	Owner          string            `bson:"owner"`
	Creado         time.Time         `bson:"creado"`
	Hecho          bool              `bson:"hecho"`
	Cuerpo         string            `bson:"cuerpo,omitempty"`
	Partes         int               `bson:"partes,omitempty"`
	Delta          []deltaDoc        `bson:"delta,omitempty"`
	Contribuciones []contribucionDoc `bson:"contribuciones,omitempty"`
	Avisos         []string          `bson:"avisos,omitempty"`
	// partesAvisos are the notices read from the parts.
	partesAvisos []avisoRef
}

// parteDoc is part i of the lote whose header names Cuerpo; part 0 holds
// the delta. Cuerpo is new for every IniciarLote call, so the parts of a
// call that lost the race for the lote number (or failed half way) are
// never taken for the winner's; they are deleted with the lote's own
// once a later lote is done.
//
// The content is one BSON binary (parteContenido), never queried: FerretDB
// spends far longer encoding and decoding thousands of subdocuments
// (0.3 s a part, seen on PostgreSQL) than one opaque value.
type parteDoc struct {
	ID    string `bson:"_id"` // Cuerpo:i
	Lote  int64  `bson:"lote"`
	Datos []byte `bson:"datos"`
}

type parteContenido struct {
	Delta          []deltaDoc        `bson:"delta"`
	Contribuciones []contribucionDoc `bson:"contribuciones"`
	Avisos         []avisoRef        `bson:"avisos"`
}

func parteID(cuerpo string, i int) string { return cuerpo + ":" + strconv.Itoa(i) }

// deltaDoc is one bucket's change; buckets are values, not field names,
// in the lote (field names cannot hold every character a key may).
type deltaDoc struct {
	K string `bson:"k"`
	D int64  `bson:"d"`
}

func (d loteDoc) toHandlers() handlers.Lote {
	l := handlers.Lote{Numero: d.Numero, Owner: d.Owner, Creado: d.Creado.UTC(), Hecho: d.Hecho,
		Delta: map[string]int64{}, Contribuciones: map[int64]handlers.Contribucion{}}
	for _, id := range d.Avisos { // a lote recorded before parts: ids only
		l.Avisos = append(l.Avisos, handlers.Aviso{ID: id})
	}
	for _, a := range d.partesAvisos {
		l.Avisos = append(l.Avisos, handlers.Aviso(a))
	}
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
		docs[i] = avisoDocOf(a, now)
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

// Aplicadas reads the contributions as varios.go reads many documents.
func (r *Reportes) Aplicadas(ctx context.Context, ids []int64) (map[int64]handlers.Contribucion, error) {
	return leerComo(ctx, r.lecturaAplicadas(), ids, contribucionDoc.toHandlers)
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
		// A done lote's content is never used again; one not done is
		// completed from it.
		if !d.Hecho && d.Partes > 0 {
			if err := r.leerPartes(ctx, &d); err != nil {
				return nil, err
			}
		}
		l := d.toHandlers()
		return &l, nil
	}
	return nil, nil
}

// leerPartes reads the content of lote d from its parts, by _id.
func (r *Reportes) leerPartes(ctx context.Context, d *loteDoc) error {
	for i := range d.Partes {
		var doc parteDoc
		if err := r.partes.FindOne(ctx, bson.D{{Key: "_id", Value: parteID(d.Cuerpo, i)}}).Decode(&doc); err != nil {
			return fmt.Errorf("repository: part %d of report lote %d: %w", i, d.Numero, mapError(err))
		}
		var p parteContenido
		if err := bson.Unmarshal(doc.Datos, &p); err != nil {
			return fmt.Errorf("repository: part %d of report lote %d: %w", i, d.Numero, err)
		}
		d.Delta = append(d.Delta, p.Delta...)
		d.Contribuciones = append(d.Contribuciones, p.Contribuciones...)
		d.partesAvisos = append(d.partesAvisos, p.Avisos...)
	}
	return nil
}

// IniciarLote stores the parts first, then the header, whose unique _id
// takes the lote number: a header is never without its parts.
func (r *Reportes) IniciarLote(ctx context.Context, l handlers.Lote) error {
	var token [8]byte
	_, _ = rand.Read(token[:]) // never fails (crypto/rand)
	cuerpo := strconv.FormatInt(l.Numero, 10) + ":" + hex.EncodeToString(token[:])
	contribuciones := make([]contribucionDoc, 0, len(l.Contribuciones))
	for _, id := range slices.Sorted(maps.Keys(l.Contribuciones)) {
		contribuciones = append(contribuciones, contribucionDocOf(id, l.Numero, l.Contribuciones[id]))
	}
	delta := []deltaDoc{}
	for k, v := range l.Delta {
		delta = append(delta, deltaDoc{k, v})
	}
	avisos := make([]avisoRef, len(l.Avisos))
	for i, a := range l.Avisos {
		avisos[i] = avisoRef(a)
	}
	var partes []any
	for i := 0; i == 0 || i*parteSize < max(len(contribuciones), len(avisos)); i++ {
		p := parteContenido{Delta: []deltaDoc{},
			Contribuciones: contribuciones[min(i*parteSize, len(contribuciones)):min((i+1)*parteSize, len(contribuciones))],
			Avisos:         avisos[min(i*parteSize, len(avisos)):min((i+1)*parteSize, len(avisos))]}
		if i == 0 {
			p.Delta = delta
		}
		datos, err := bson.Marshal(p)
		if err != nil {
			return err
		}
		partes = append(partes, parteDoc{ID: parteID(cuerpo, i), Lote: l.Numero, Datos: datos})
	}
	if err := insertarLotes(ctx, r.partes, partes); err != nil {
		return err
	}
	_, err := r.lotes.InsertOne(ctx, loteDoc{Numero: l.Numero, Owner: l.Owner, Creado: l.Creado.UTC().Truncate(time.Millisecond),
		Cuerpo: cuerpo, Partes: len(partes)})
	if _, dup := duplicateKey(err); dup {
		return handlers.ErrLoteOcupado
	}
	return mapError(err)
}

// CompletarLote makes its writes in this order, each skipped if done: the
// counters of each family, the applied contributions, the notices, the
// lote's done mark, then the parts of this lote and older ones. Every
// update is conditional on the lote stamped on its document being older;
// a missing document is inserted (a unique _id makes that idempotent),
// never upserted, which FerretDB does not make atomic.
//
// The contributions are read first, many at a time (varios.go), unless
// the round that recorded l read them (l.Leido): the missing ones are
// inserted together, the older ones replaced one by one, those at this
// lote or a later one left alone. The notices go in one delete per
// thousand where the server finds them by $in, or where they were all
// the notices there were (borrarAvisos).
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
	if err := r.aplicar(ctx, l); err != nil {
		return err
	}
	if err := r.borrarAvisos(ctx, l.Avisos, l.Leido != nil && l.Leido.TodosLosAvisos); err != nil {
		return err
	}
	if _, err := r.lotes.UpdateOne(ctx, bson.D{{Key: "_id", Value: n}}, bson.D{{Key: "$set", Value: bson.D{{Key: "hecho", Value: true}}}}); err != nil {
		return mapError(err)
	}
	// Done lotes' content is never read again; the headers stay for
	// Podar (see the projector).
	_, err := r.partes.DeleteMany(ctx, bson.D{{Key: "lote", Value: bson.D{{Key: "$lte", Value: n}}}})
	return mapError(err)
}

// aplicar sets the applied contribution of each customer of l that is
// not at lote l.Numero or a later one yet.
func (r *Reportes) aplicar(ctx context.Context, l handlers.Lote) error {
	n := l.Numero
	ids := slices.Sorted(maps.Keys(l.Contribuciones))
	// The lote each customer's applied contribution is at, if it has one.
	lotes := make(map[int64]int64, len(ids))
	if l.Leido != nil {
		for id := range l.Leido.Aplicadas {
			lotes[id] = n - 1 // read before lote n was recorded: older
		}
	} else {
		current, err := r.lecturaAplicadas().leer(ctx, ids)
		if err != nil {
			return err
		}
		for id, d := range current {
			lotes[id] = d.Lote
		}
	}
	var nuevas []any
	var viejas, dudosas []contribucionDoc
	for _, id := range ids {
		doc := contribucionDocOf(id, n, l.Contribuciones[id])
		switch lote, ok := lotes[id]; {
		case !ok:
			nuevas = append(nuevas, doc)
		case lote < n:
			viejas = append(viejas, doc)
		}
	}
	// Only one projector completes a lote at a time but on MongoDB (see
	// the projector), where a duplicate only means another got there
	// first: those documents are then set one by one, their lote read
	// again.
	if err := insertarLotes(ctx, r.aplicadas, nuevas); err != nil {
		if _, dup := duplicateKey(err); !dup {
			return err
		}
		for _, d := range nuevas {
			dudosas = append(dudosas, d.(contribucionDoc))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(leerEnParalelo)
	for _, doc := range viejas {
		g.Go(func() error { return r.aplicarUna(gctx, doc, true) })
	}
	for _, doc := range dudosas {
		g.Go(func() error { return r.aplicarUna(gctx, doc, false) })
	}
	return g.Wait()
}

// aplicarUna sets one applied contribution unless it is at doc's lote or
// a later one. vieja says it was just read at an older lote.
func (r *Reportes) aplicarUna(ctx context.Context, doc contribucionDoc, vieja bool) error {
	n := doc.Lote
	filter := bson.D{{Key: "_id", Value: doc.Clave}, {Key: "lote", Value: bson.D{{Key: "$lt", Value: n}}}}
	if r.soloID {
		// A two-key filter would scan every contribution; FerretDB does
		// not apply updates atomically anyway, and only one projector
		// completes a lote at a time (see the projector): the lote read
		// here, or just before (vieja), is as good as the filter.
		if !vieja {
			var cur contribucionDoc
			switch err := r.aplicadas.FindOne(ctx, bson.D{{Key: "_id", Value: doc.Clave}}).Decode(&cur); {
			case errors.Is(err, mongo.ErrNoDocuments):
				_, err = r.aplicadas.InsertOne(ctx, doc)
				return ignoreDuplicates(err)
			case err != nil:
				return mapError(err)
			case cur.Lote >= n:
				return nil // already at this lote or a later one
			}
		}
		filter = filter[:1]
	}
	res, err := r.aplicadas.ReplaceOne(ctx, filter, doc)
	if err != nil || res.MatchedCount > 0 {
		return mapError(err)
	}
	// New, or already at this lote (then the insert is refused).
	_, err = r.aplicadas.InsertOne(ctx, doc)
	return ignoreDuplicates(err)
}

// borrarAvisos deletes the notices: by _id one at a time where only that
// is found without a scan (FerretDB on SQLite), unless they were all the
// notices there were (todos): then a scan of the few left is cheaper
// than a command each, and they go by $in; a thousand per $in on
// MongoDB; on FerretDB on PostgreSQL, which does not hand $in down and
// would decode every notice for each, one delete per group of customers
// ({grupo, _id $in}: the group is handed down). A notice the group delete
// missed (recorded before notices had grupo, or deleted already) is
// deleted by its _id.
func (r *Reportes) borrarAvisos(ctx context.Context, avisos []handlers.Aviso, todos bool) error {
	porGrupo := map[int64][]string{}
	var porID []string
	for _, a := range avisos {
		switch {
		case r.modo == leerPorID && !todos || r.modo == leerPorGrupos && a.ClienteID <= 0:
			porID = append(porID, a.ID)
		case r.modo != leerPorGrupos:
			porGrupo[0] = append(porGrupo[0], a.ID)
		default:
			porGrupo[grupoDe(a.ClienteID)] = append(porGrupo[grupoDe(a.ClienteID)], a.ID)
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(leerEnParalelo)
	for grupo, ids := range porGrupo {
		g.Go(func() error {
			for len(ids) > 0 {
				k := min(len(ids), inLote)
				filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids[:k]}}}}
				if r.modo == leerPorGrupos {
					filter = append(bson.D{{Key: "grupo", Value: grupo}}, filter...)
				}
				res, err := r.avisos.DeleteMany(gctx, filter)
				if err != nil {
					return mapError(err)
				}
				if r.modo == leerPorGrupos && int(res.DeletedCount) < k {
					mu.Lock()
					porID = append(porID, ids[:k]...)
					mu.Unlock()
				}
				ids = ids[k:]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(leerEnParalelo)
	for _, id := range porID {
		g.Go(func() error {
			_, err := r.avisos.DeleteOne(gctx, bson.D{{Key: "_id", Value: id}})
			return mapError(err)
		})
	}
	return g.Wait()
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

// grupoAplicadasDone and grupoResumenesDone mark that every applied
// contribution, and every customer's totals, carry grupo.
const (
	grupoAplicadasDone = "aplicadas-grupo"
	grupoResumenesDone = "resumenes-grupo"
)

// ensureGrupos runs once per database on a server read by groups
// (varios.go): it sets grupo on the applied contributions and the totals
// stored before it existed, so that a group read that misses a customer
// means it has none (a read by _id each otherwise: every new customer's
// totals, on FerretDB on PostgreSQL). Workers of the version before must
// be stopped first, as for migrarClientes: what they write without grupo
// afterwards would be counted again, or missed.
func (m *Mongo) ensureGrupos(ctx context.Context) error {
	if m.modo != leerPorGrupos {
		return nil
	}
	for _, g := range []struct{ done, coll, id string }{
		{grupoAplicadasDone, aplicadasColl, "id"},
		{grupoResumenesDone, resumenesColl, "_id"},
	} {
		if err := m.ensureGrupo(ctx, g.done, m.db.Collection(g.coll), g.id); err != nil {
			return fmt.Errorf("%s: %w", g.coll, err)
		}
	}
	return nil
}

// ensureGrupo sets grupo on the documents of coll without it, from their
// customer id in field id, and marks done.
func (m *Mongo) ensureGrupo(ctx context.Context, done string, coll *mongo.Collection, id string) error {
	if hecha, err := m.migracionHecha(ctx, done); hecha || err != nil {
		return err
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "grupo", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(bson.D{{Key: id, Value: 1}}))
	if err != nil {
		return mapError(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		return mapError(err)
	}
	for _, d := range docs {
		cliente, ok := d.Lookup(id).AsInt64OK()
		if !ok {
			return fmt.Errorf("repository: %s %v: no customer id in %s", coll.Name(), d.Lookup("_id"), id)
		}
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Lookup("_id")}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "grupo", Value: grupoDe(cliente)}}}}); err != nil {
			return mapError(err)
		}
	}
	_, err = m.db.Collection(migrationsColl).InsertOne(ctx, bson.D{{Key: "_id", Value: done}})
	return ignoreDuplicates(err)
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
	if hecha, err := m.migracionHecha(ctx, reportesDone); hecha || err != nil {
		return err
	}
	migrations := m.db.Collection(migrationsColl)
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
