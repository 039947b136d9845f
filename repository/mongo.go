// Package repository stores customers in MongoDB. It is the only package of
// the service that imports the MongoDB driver; the rest of the code sees it
// as a handlers.Store.
//
// The code is written for MongoDB and also runs on FerretDB 1.x (SQLite or
// PostgreSQL), which is what tests and development machines use. It relies
// only on what both support: single-document updates, unique indexes and
// an $inc counter; no transactions, no date operators. One difference
// remains: FerretDB 1.x applies an update as a read followed by a write of
// the whole document, so concurrent updates of one document can lose one
// another (ids stay unique, see Insert; versions and fields may not).
package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

const (
	clientesColl = "clientes"
	countersColl = "counters"
	// counterID is the _id of the counters document that allocates
	// customer ids.
	counterID = "clientes"

	// Bounds for reaching the server, so that a missing database fails
	// Connect and later calls in seconds instead of hanging.
	serverSelectionTimeout = 5 * time.Second
	connectTimeout         = 5 * time.Second

	// writeAttempts bounds the tries of a write that breaks a unique index
	// while no other customer holds the value (see writeError). Only
	// FerretDB needs more than one, when several processes insert at once
	// (measured: up to 5 tries for 4 processes inserting 8 at a time each).
	writeAttempts = 10
)

// Mongo is a handlers.Store on a MongoDB database. It is safe for
// concurrent use, also by several processes on the same database.
type Mongo struct {
	client   *mongo.Client
	db       *mongo.Database
	clientes *mongo.Collection
	counters *mongo.Collection

	// idMu, set only on FerretDB, serialises id allocation in this
	// process. FerretDB 1.x runs findAndModify as a read, then a write of
	// the whole document, with nothing in between to stop a concurrent
	// writer: concurrent $inc lose updates and hand out the same id. The
	// _id index still rejects the second insert of an id (Insert then
	// retries), but without the lock concurrent inserts retry in lockstep.
	idMu *sync.Mutex
}

var _ handlers.Store = (*Mongo)(nil)

// Connect connects to the server at uri, checks that it answers and
// prepares database for use with EnsureSchema, so the returned store is
// ready. ctx bounds the whole operation.
func Connect(ctx context.Context, uri, database string) (*Mongo, error) {
	m, err := connect(ctx, uri, database)
	if err != nil {
		return nil, err
	}
	if err := m.EnsureSchema(ctx); err != nil {
		_ = m.client.Disconnect(context.Background())
		return nil, err
	}
	return m, nil
}

// connect is Connect without EnsureSchema.
func connect(ctx context.Context, uri, database string) (*Mongo, error) {
	if database == "" {
		return nil, errors.New("repository: empty database name")
	}
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetConnectTimeout(connectTimeout)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("repository: connect: %w", err)
	}
	db := client.Database(database)
	m := &Mongo{
		client:   client,
		db:       db,
		clientes: db.Collection(clientesColl),
		counters: db.Collection(countersColl),
	}
	if err := m.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("repository: ping: %w", err)
	}
	var info struct {
		FerretDBVersion string `bson:"ferretdbVersion"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("repository: buildInfo: %w", err)
	}
	if info.FerretDBVersion != "" {
		m.idMu = new(sync.Mutex)
	}
	return m, nil
}

// Close disconnects from the server, waiting for in-use connections until
// ctx is done.
func (m *Mongo) Close(ctx context.Context) error {
	return m.client.Disconnect(ctx)
}

// Ping checks that the server answers, for readiness probes. Its error is a
// *handlers.Error with CodeUnavailable when the server cannot be reached.
func (m *Mongo) Ping(ctx context.Context) error {
	if err := m.client.Ping(ctx, nil); err != nil {
		return mapError(err)
	}
	return nil
}

// PingURI connects to uri, pings the server and disconnects: a readiness
// probe that touches no database.
func PingURI(ctx context.Context, uri string) error {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(serverSelectionTimeout).SetConnectTimeout(connectTimeout))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	return client.Ping(ctx, nil)
}

// EnsureSchema creates the indexes and the id counter if they are missing.
// It is idempotent and safe to run from several processes at once; Connect
// runs it.
func (m *Mongo) EnsureSchema(ctx context.Context) error {
	// One index per command: FerretDB 1.24 panics (and drops the
	// connection) on a createIndexes naming several indexes that exist.
	for _, idx := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "dni", Value: 1}}, Options: options.Index().SetName("dni_unique").SetUnique(true)},
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetName("email_unique").SetUnique(true)},
		// List filters on activo and pages by _id; the compound index
		// serves both, and its activo prefix serves plain activo filters.
		{Keys: bson.D{{Key: "activo", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("activo_id")},
		// A search is one anchored prefix regex per word on this multikey
		// index; listings by registration date use the next one.
		{Keys: bson.D{{Key: "palabras", Value: 1}}, Options: options.Index().SetName("palabras")},
		{Keys: bson.D{{Key: "fechaRegistro", Value: 1}}, Options: options.Index().SetName("fechaRegistro")},
	} {
		if _, err := m.clientes.Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("repository: create index %s: %w", *idx.Options.Name, err)
		}
	}

	others := []collIndex{{
		// Expire deletes idempotency records by age.
		m.db.Collection(idempotencyColl),
		mongo.IndexModel{Keys: bson.D{{Key: "creado", Value: 1}}, Options: options.Index().SetName("creado")},
	}}
	others = append(others, historialIndexes(m.db)...)
	others = append(others, outboxIndexes(m.db)...)
	others = append(others, reportesIndexes(m.db)...)
	for _, ci := range others {
		if _, err := ci.coll.Indexes().CreateOne(ctx, ci.index); err != nil {
			return fmt.Errorf("repository: create index %s.%s: %w", ci.coll.Name(), *ci.index.Options.Name, err)
		}
	}

	if err := ensureFamilias(ctx, m.db); err != nil {
		return err
	}
	// Start the counter at the highest id in use, so that a database whose
	// counter was lost does not hand out ids that exist. Inserting (rather
	// than upserting) makes concurrent callers race on the _id index: the
	// loser gets a duplicate key, which means the counter is there. FerretDB
	// does not retry racing upserts as MongoDB does, so an upsert could fail.
	if err := m.backfillPalabras(ctx); err != nil {
		return fmt.Errorf("repository: search words of older customers: %w", err)
	}
	last, err := m.lastID(ctx)
	if err != nil {
		return fmt.Errorf("repository: read last id: %w", err)
	}
	_, err = m.counters.InsertOne(ctx, bson.D{{Key: "_id", Value: counterID}, {Key: "seq", Value: last}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("repository: create id counter: %w", err)
	}
	return nil
}

// collIndex is an index of a collection, for EnsureSchema.
type collIndex struct {
	coll  *mongo.Collection
	index mongo.IndexModel
}

// cliente is the stored form of a customer.
type cliente struct {
	ID            int64     `bson:"_id"`
	DNI           string    `bson:"dni"`
	Nombre        string    `bson:"nombre"`
	Apellido      string    `bson:"apellido"`
	Email         string    `bson:"email"`
	Telefono      string    `bson:"telefono"`
	Direccion     string    `bson:"direccion"`
	FechaRegistro time.Time `bson:"fechaRegistro"`
	// MesRegistro is fechaRegistro's UTC month, "YYYY-MM", stored because
	// FerretDB cannot group by date operators.
	MesRegistro string `bson:"mesRegistro"`
	// Palabras are the search words of nombre and apellido
	// (handlers.Palabras), stored so that a search is an index lookup.
	Palabras []string `bson:"palabras"`
	Activo   bool     `bson:"activo"`
	Version  int64    `bson:"version"`
	// LastOp is the idempotency key of the last change, written with it.
	LastOp string `bson:"lastOp,omitempty"`
	// Cambio is the kind of the last change, written with it.
	Cambio string `bson:"cambio,omitempty"`
}

func (d *cliente) toHandlers() handlers.Cliente {
	return handlers.Cliente{
		ID:            d.ID,
		DNI:           d.DNI,
		Nombre:        d.Nombre,
		Apellido:      d.Apellido,
		Email:         d.Email,
		Telefono:      d.Telefono,
		Direccion:     d.Direccion,
		FechaRegistro: d.FechaRegistro.UTC(),
		Activo:        d.Activo,
		Version:       d.Version,
		LastOp:        d.LastOp,
		Cambio:        d.Cambio,
	}
}

// clienteDocOf is the stored form of c; dates are truncated to BSON's
// milliseconds, so what is returned equals what a later read gives.
func clienteDocOf(c handlers.Cliente) cliente {
	fecha := c.FechaRegistro.UTC().Truncate(time.Millisecond)
	return cliente{
		ID: c.ID, DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido,
		Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion,
		FechaRegistro: fecha, MesRegistro: fecha.Format("2006-01"), Palabras: handlers.Palabras(c.Nombre, c.Apellido),
		Activo: c.Activo, Version: c.Version, LastOp: c.LastOp, Cambio: c.Cambio,
	}
}

// editable are the fields Replace overwrites.
func editable(c handlers.Campos) bson.D {
	return bson.D{
		{Key: "dni", Value: c.DNI},
		{Key: "nombre", Value: c.Nombre},
		{Key: "apellido", Value: c.Apellido},
		{Key: "email", Value: c.Email},
		{Key: "telefono", Value: c.Telefono},
		{Key: "direccion", Value: c.Direccion},
		{Key: "palabras", Value: handlers.Palabras(c.Nombre, c.Apellido)},
	}
}

func (m *Mongo) Insert(ctx context.Context, c handlers.Campos, fechaRegistro time.Time, op string) (handlers.Cliente, error) {
	for attempt := 1; ; attempt++ {
		id, err := m.nextID(ctx, attempt)
		if err != nil {
			return handlers.Cliente{}, err
		}
		d := clienteDocOf(handlers.Cliente{
			ID: id, DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido,
			Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion, FechaRegistro: fechaRegistro,
			Activo: true, Version: 1, LastOp: op, Cambio: handlers.CambioRegistrado,
		})
		_, err = m.clientes.InsertOne(ctx, d)
		if err == nil {
			return d.toHandlers(), nil
		}
		// The _id index is what finally guarantees unique ids: if the id
		// was taken, try again with a new one (the failed one is skipped).
		if retry, err := m.writeError(ctx, err, id, c); !retry || attempt == writeAttempts {
			return handlers.Cliente{}, err
		}
	}
}

// lastID returns the highest id in use, 0 if there is none.
func (m *Mongo) lastID(ctx context.Context) (int64, error) {
	var last struct {
		ID int64 `bson:"_id"`
	}
	err := m.clientes.FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 1}}),
	).Decode(&last)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return last.ID, err
}

// nextID allocates a customer id with an $inc on the counter document. On
// MongoDB the $inc is atomic, so concurrent inserters, in this process or
// others, never get the same id. On FerretDB it is not (see idMu): after a
// collision, attempt > 1, the counter jumps by a random step so that
// processes that read the same value end up with different ids.
func (m *Mongo) nextID(ctx context.Context, attempt int) (int64, error) {
	step := int64(1)
	if attempt > 1 {
		step += rand.Int64N(int64(8 * attempt))
	}
	if m.idMu != nil {
		m.idMu.Lock()
		defer m.idMu.Unlock()
	}
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	err := m.counters.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: counterID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: step}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After),
	).Decode(&counter)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, handlers.Wrap(handlers.CodeInternal, errors.New("repository: id counter missing: EnsureSchema was not run"), "internal error")
	}
	if err != nil {
		return 0, mapError(err)
	}
	return counter.Seq, nil
}

func (m *Mongo) Replace(ctx context.Context, id int64, c handlers.Campos, activo *bool, cond handlers.Cambio) (handlers.Cliente, error) {
	// The kind of change depends on the status before it. Each variant
	// matches one status and writes its kind, so reading the old status and
	// writing the new one are one atomic step on MongoDB.
	type variant struct {
		filter bson.D
		set    bson.D
	}
	base := append(editable(c), bson.E{Key: "lastOp", Value: cond.IdempotencyKey})
	var variants []variant
	if activo == nil {
		variants = []variant{{bson.D{{Key: "_id", Value: id}}, append(base, bson.E{Key: "cambio", Value: handlers.CambioActualizado})}}
	} else {
		for _, before := range []bool{!*activo, *activo} {
			variants = append(variants, variant{
				bson.D{{Key: "_id", Value: id}, {Key: "activo", Value: before}},
				append(slices.Clone(base), bson.E{Key: "activo", Value: *activo},
					bson.E{Key: "cambio", Value: handlers.CambioDeEstado(before, *activo)}),
			})
		}
	}
	for attempt := 1; ; attempt++ {
		retry := false
		for _, v := range variants {
			d, err := m.findOneAndUpdate(ctx, withVersion(v.filter, cond), bson.D{
				{Key: "$set", Value: v.set},
				{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
			})
			if err == nil {
				return d.toHandlers(), nil
			}
			if errors.Is(err, mongo.ErrNoDocuments) {
				continue
			}
			if retry, err = m.writeError(ctx, err, id, c); !retry || attempt == writeAttempts {
				return handlers.Cliente{}, err
			}
			break
		}
		if retry {
			continue
		}
		// No variant matched: the customer is missing, at another version,
		// or changed status in between (then try again).
		if _, err := m.whyNoMatch(ctx, id, cond); err != nil {
			return handlers.Cliente{}, err
		}
		if attempt == writeAttempts {
			return handlers.Cliente{}, handlers.Errorf(handlers.CodeInternal, "replace kept matching nothing")
		}
	}
}

func (m *Mongo) SetActivo(ctx context.Context, id int64, activo bool, cond handlers.Cambio) (handlers.Cliente, error) {
	// Matching only a customer with the other status (and the expected
	// version) makes the checks and the change one atomic step on MongoDB:
	// two concurrent calls bump the version once. (On FerretDB no update is
	// atomic; see idMu.)
	d, err := m.findOneAndUpdate(ctx,
		withVersion(bson.D{{Key: "_id", Value: id}, {Key: "activo", Value: bson.D{{Key: "$ne", Value: activo}}}}, cond),
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "activo", Value: activo}, {Key: "lastOp", Value: cond.IdempotencyKey},
				{Key: "cambio", Value: handlers.CambioDeEstado(!activo, activo)}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
		})
	switch {
	case err == nil:
		return d.toHandlers(), nil
	case errors.Is(err, mongo.ErrNoDocuments):
		// No such customer, another version, or already at that status.
		return m.whyNoMatch(ctx, id, cond)
	default:
		return handlers.Cliente{}, mapError(err)
	}
}

// withVersion adds cond's version to an update filter, so the check and the
// change are one step.
func withVersion(filter bson.D, cond handlers.Cambio) bson.D {
	if cond.Version != nil {
		filter = append(filter, bson.E{Key: "version", Value: *cond.Version})
	}
	return filter
}

// whyNoMatch explains a conditional update that matched nothing: the
// customer is missing, at another version, or (for SetActivo) already as
// asked, in which case it is returned unchanged.
func (m *Mongo) whyNoMatch(ctx context.Context, id int64, cond handlers.Cambio) (handlers.Cliente, error) {
	c, err := m.Get(ctx, id)
	if err != nil {
		return handlers.Cliente{}, err
	}
	if err := cond.Check(c.Version); err != nil {
		return handlers.Cliente{}, err
	}
	return c, nil
}

func (m *Mongo) findOneAndUpdate(ctx context.Context, filter, update bson.D) (*cliente, error) {
	var d cliente
	err := m.clientes.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (m *Mongo) Get(ctx context.Context, id int64) (handlers.Cliente, error) {
	return m.findOne(ctx, bson.D{{Key: "_id", Value: id}})
}

// GetByDNI and GetByEmail put the client's value in the filter as a plain
// string, so a value such as `{"$ne":""}` matches only itself.
func (m *Mongo) GetByDNI(ctx context.Context, dni string) (handlers.Cliente, error) {
	return m.findOne(ctx, bson.D{{Key: "dni", Value: dni}})
}

func (m *Mongo) GetByEmail(ctx context.Context, email string) (handlers.Cliente, error) {
	return m.findOne(ctx, bson.D{{Key: "email", Value: email}})
}

func (m *Mongo) findOne(ctx context.Context, filter bson.D) (handlers.Cliente, error) {
	var d cliente
	if err := m.clientes.FindOne(ctx, filter).Decode(&d); err != nil {
		return handlers.Cliente{}, mapError(err)
	}
	return d.toHandlers(), nil
}

func (m *Mongo) List(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	idCond := bson.D{{Key: "$gt", Value: f.DespuesDeID}}
	if f.IDs != nil {
		idCond = append(idCond, bson.E{Key: "$in", Value: f.IDs})
	}
	filter := bson.D{{Key: "_id", Value: idCond}}
	if f.Activo != nil {
		filter = append(filter, bson.E{Key: "activo", Value: *f.Activo})
	}
	var fecha bson.D
	if !f.RegistradoDesde.IsZero() {
		fecha = append(fecha, bson.E{Key: "$gte", Value: f.RegistradoDesde})
	}
	if !f.RegistradoHasta.IsZero() {
		fecha = append(fecha, bson.E{Key: "$lt", Value: f.RegistradoHasta})
	}
	if fecha != nil {
		filter = append(filter, bson.E{Key: "fechaRegistro", Value: fecha})
	}
	if len(f.Palabras) > 0 {
		// Each word must begin some stored word: an anchored regex, which
		// MongoDB answers from the palabras index.
		var all bson.A
		for _, w := range f.Palabras {
			all = append(all, bson.D{{Key: "palabras", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(w)}}}})
		}
		filter = append(filter, bson.E{Key: "$and", Value: all})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if f.Limite > 0 {
		opts.SetLimit(int64(f.Limite))
	}
	cur, err := m.clientes.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapError(err)
	}
	defer cur.Close(ctx)
	out := []handlers.Cliente{}
	for cur.Next(ctx) {
		var d cliente
		if err := cur.Decode(&d); err != nil {
			return nil, mapError(err)
		}
		out = append(out, d.toHandlers())
	}
	if err := cur.Err(); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

func notFound() *handlers.Error {
	return handlers.Errorf(handlers.CodeNotFound, "customer not found")
}

// migrationsColl records the data migrations done; palabrasDone marks that
// every customer has its search words, so later starts skip the scan for
// older ones.
const (
	migrationsColl = "migrations"
	palabrasDone   = "palabras-backfilled"
)

// backfillPalabras stores the search words of customers written before
// they existed, in batches, once per database.
func (m *Mongo) backfillPalabras(ctx context.Context) error {
	migrations := m.db.Collection(migrationsColl)
	switch err := migrations.FindOne(ctx, bson.D{{Key: "_id", Value: palabrasDone}}).Err(); {
	case err == nil:
		return nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return mapError(err)
	}
	for {
		cur, err := m.clientes.Find(ctx, bson.D{{Key: "palabras", Value: bson.D{{Key: "$exists", Value: false}}}},
			options.Find().SetLimit(500).SetProjection(bson.D{{Key: "nombre", Value: 1}, {Key: "apellido", Value: 1}}))
		if err != nil {
			return mapError(err)
		}
		var docs []cliente
		if err := cur.All(ctx, &docs); err != nil {
			return mapError(err)
		}
		if len(docs) == 0 {
			_, err := migrations.InsertOne(ctx, bson.D{{Key: "_id", Value: palabrasDone}})
			if mongo.IsDuplicateKeyError(err) {
				err = nil // another worker finished first
			}
			return mapError(err)
		}
		for _, d := range docs {
			_, err := m.clientes.UpdateByID(ctx, d.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "palabras", Value: handlers.Palabras(d.Nombre, d.Apellido)}}}})
			if err != nil {
				return mapError(err)
			}
		}
	}
}
