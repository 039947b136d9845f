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
//
// FerretDB on SQLite finds a document without reading them all only by an
// exact string _id. So customers are keyed by their id as a decimal string
// (the number is also kept, as field id, for ranges and sorting on servers
// that index it), and, on a server that does not push a filter on dni down,
// small key documents map dni and email to the id (see claves.go).
package repository

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

const (
	// clientesColl holds the customers keyed by string ids; customers of
	// the first version, keyed by numbers, were in clientesV1Coll and are
	// copied over once (see migrarClientes).
	clientesColl   = "clientes_v2"
	clientesV1Coll = "clientes"
	countersColl   = "counters"
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

	// ids is this process's block of ids from the counter (see nextID).
	ids *idBlock

	// claves, set only on a server that scans the collection for a filter
	// on dni (FerretDB on SQLite), holds the key documents that take
	// lookups by dni and email, and listings, to reads by _id. Nil
	// elsewhere: MongoDB and FerretDB on PostgreSQL answer those filters
	// themselves.
	claves *mongo.Collection
	// buscar holds the search documents (buscar.go), where claves is set.
	buscar   *mongo.Collection
	bucketMu buckets
	// The group commits of a create's writes (lote.go), one per kind;
	// claveLote and palabrasLote only where claves is set.
	clienteLote, idemLote, outboxLote, claveLote *lote[any]
	palabrasLote                                 *lote[entradaPalabras]
	// varios is how to read many documents by id (varios.go).
	varios
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

// connect is Connect without EnsureSchema; extra options (tests' command
// monitors) are applied after the store's own.
func connect(ctx context.Context, uri, database string, extra ...*options.ClientOptions) (*Mongo, error) {
	if database == "" {
		return nil, errors.New("repository: empty database name")
	}
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetConnectTimeout(connectTimeout)
	client, err := mongo.Connect(ctx, append([]*options.ClientOptions{opts}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("repository: connect: %w", err)
	}
	db := client.Database(database)
	m := &Mongo{
		client:   client,
		db:       db,
		clientes: db.Collection(clientesColl),
		counters: db.Collection(countersColl),
		ids:      new(idBlock),
		varios:   varios{modo: leerConIn, minGrupo: grupoMinimo},
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
		pushed, err := m.pushesFieldFilters(ctx)
		if err != nil {
			_ = client.Disconnect(context.Background())
			return nil, fmt.Errorf("repository: explain: %w", err)
		}
		m.modo = leerPorGrupos
		if !pushed {
			m.claves, m.buscar = db.Collection(clavesColl), db.Collection(buscarColl)
			m.modo = leerPorID
			m.claveLote, m.palabrasLote = insertarLote(m.claves), nuevoLote(m.indexarEntradas)
		}
	}
	m.clienteLote = insertarLote(m.clientes)
	m.idemLote = insertarLote(db.Collection(idempotencyColl))
	m.outboxLote = insertarLote(db.Collection(outboxColl))
	return m, nil
}

// pushesFieldFilters asks FerretDB whether it hands a filter on dni to its
// backend (PostgreSQL does) or reads the whole collection and filters
// itself (SQLite): FerretDB's explain says so in filterPushdown.
func (m *Mongo) pushesFieldFilters(ctx context.Context) (bool, error) {
	// FerretDB explains a missing collection as not pushed down whatever
	// the backend: create it first, or a first start on PostgreSQL would
	// choose key documents and later starts not.
	err := m.db.CreateCollection(ctx, clientesColl)
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Name == "NamespaceExists") {
		return false, err
	}
	var res struct {
		FilterPushdown bool `bson:"filterPushdown"`
	}
	err = m.db.RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: clientesColl}, {Key: "filter", Value: bson.D{{Key: "dni", Value: "0"}}}}},
		{Key: "verbosity", Value: "queryPlanner"},
	}).Decode(&res)
	return res.FilterPushdown, err
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
		// The numeric id, for ranges and sorting; unique like the _id it
		// spells.
		{Keys: bson.D{{Key: "id", Value: 1}}, Options: options.Index().SetName("id_unique").SetUnique(true)},
		// List filters on activo and pages by id; the compound index
		// serves both, and its activo prefix serves plain activo filters.
		{Keys: bson.D{{Key: "activo", Value: 1}, {Key: "id", Value: 1}}, Options: options.Index().SetName("activo_id")},
		// A search is one anchored prefix regex per word on this multikey
		// index; listings by registration date use the next one.
		{Keys: bson.D{{Key: "palabras", Value: 1}}, Options: options.Index().SetName("palabras")},
		{Keys: bson.D{{Key: "fechaRegistro", Value: 1}}, Options: options.Index().SetName("fechaRegistro")},
		grupoIndex(),
	} {
		if _, err := m.clientes.Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("repository: create index %s: %w", *idx.Options.Name, err)
		}
	}

	others := []collIndex{{
		// Expire deletes idempotency records and results by age.
		m.db.Collection(idempotencyColl),
		mongo.IndexModel{Keys: bson.D{{Key: "creado", Value: 1}}, Options: options.Index().SetName("creado")},
	}, {
		m.db.Collection(resultadosColl),
		mongo.IndexModel{Keys: bson.D{{Key: "creado", Value: 1}}, Options: options.Index().SetName("creado")},
	}}
	others = append(others, historialIndexes(m.db)...)
	others = append(others, outboxIndexes(m.db)...)
	others = append(others, reportesIndexes(m.db)...)
	others = append(others, auditoriaIndexes(m.db)...)
	for _, ci := range others {
		if _, err := ci.coll.Indexes().CreateOne(ctx, ci.index); err != nil {
			return fmt.Errorf("repository: create index %s.%s: %w", ci.coll.Name(), *ci.index.Options.Name, err)
		}
	}

	if err := m.migrarClientes(ctx); err != nil {
		return fmt.Errorf("repository: copy customers to %s: %w", clientesColl, err)
	}

	if err := ensureFamilias(ctx, m.db); err != nil {
		return err
	}
	if err := m.ensureGrupos(ctx); err != nil {
		return fmt.Errorf("repository: group of applied contributions and totals: %w", err)
	}
	// Once per database (a mark in migrations), after the copy above.
	if err := m.backfillReportes(ctx); err != nil {
		return fmt.Errorf("repository: reports of older customers: %w", err)
	}
	// Start the counter at the highest id in use, so that a database whose
	// counter was lost does not hand out ids that exist. Inserting (rather
	// than upserting) makes concurrent callers race on the _id index: the
	// loser gets a duplicate key, which means the counter is there. FerretDB
	// does not retry racing upserts as MongoDB does, so an upsert could fail.
	// The highest id is looked for only when the counter is missing: on
	// FerretDB on SQLite that sorts the whole collection.
	switch err := m.counters.FindOne(ctx, bson.D{{Key: "_id", Value: counterID}}).Err(); {
	case err == nil:
		return nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("repository: read id counter: %w", err)
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
	// Clave is the id as a decimal string (claveDe): FerretDB on SQLite
	// finds a document by a string _id without a scan, never by a number.
	Clave         string    `bson:"_id"`
	ID            int64     `bson:"id"`
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
	// Registro is the last change's audit record, written with it.
	Registro    *registroDoc `bson:"registro,omitempty"`
	Anonimizado bool         `bson:"anonimizado,omitempty"`
	// Grupo is grupoDe(ID), for reading many customers at once (varios.go).
	Grupo int64 `bson:"grupo"`
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
		Registro:      d.Registro.toHandlers(),
		Anonimizado:   d.Anonimizado,
	}
}

// clienteDocOf is the stored form of c; dates are truncated to BSON's
// milliseconds, so what is returned equals what a later read gives.
func clienteDocOf(c handlers.Cliente) cliente {
	fecha := c.FechaRegistro.UTC().Truncate(time.Millisecond)
	return cliente{
		Clave: claveDe(c.ID), ID: c.ID, DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido,
		Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion,
		FechaRegistro: fecha, MesRegistro: fecha.Format("2006-01"), Palabras: handlers.Palabras(c.Nombre, c.Apellido),
		Activo: c.Activo, Version: c.Version, LastOp: c.LastOp, Cambio: c.Cambio,
		Registro: registroDocOf(c.Registro), Anonimizado: c.Anonimizado, Grupo: grupoDe(c.ID),
	}
}

// claveDe is the _id of customer id.
func claveDe(id int64) string { return strconv.FormatInt(id, 10) }

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

func (m *Mongo) Insert(ctx context.Context, c handlers.Campos, fechaRegistro time.Time, cambio handlers.Cambio) (handlers.Cliente, error) {
	for attempt := 1; ; attempt++ {
		id, err := m.nextID(ctx, attempt)
		if err != nil {
			return handlers.Cliente{}, err
		}
		// The key documents and the search entry go first: a customer is
		// never stored without them (see claves.go, buscar.go). They do not
		// depend on each other, so they are written at the same time: one
		// group-commit round less on a create's path. A search entry left
		// by a failed create points at an id nobody holds, and search
		// checks every hit against the customer.
		palabras := make(chan error, 1)
		go func() { palabras <- m.indexarPalabras(ctx, id, palabrasTexto(c)) }()
		errClaves := m.reclamarClaves(ctx, id, c, handlers.Campos{})
		if err := cmp.Or(errClaves, <-palabras); err != nil {
			return handlers.Cliente{}, err
		}
		d := clienteDocOf(handlers.Cliente{
			ID: id, DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido,
			Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion, FechaRegistro: fechaRegistro,
			Activo: true, Version: 1, LastOp: cambio.IdempotencyKey, Cambio: handlers.CambioRegistrado, Registro: cambio.Registro,
		})
		err = m.clienteLote.uno(ctx, d)
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
		ID int64 `bson:"id"`
	}
	err := m.clientes.FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "id", Value: -1}}).SetProjection(bson.D{{Key: "id", Value: 1}}),
	).Decode(&last)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return last.ID, err
}

// idBlockSize is how many ids one update of the counter hands out.
const idBlockSize = 16

// idBlock holds ids next..last, taken from the counter by this process and
// not handed out yet.
type idBlock struct {
	mu         sync.Mutex
	next, last int64
}

// nextID hands out a customer id from this process's block, taking a new
// block of idBlockSize from the counter when it is used up: one counter
// update per idBlockSize inserts instead of one each. Ids are unique and
// grow within a process; they are not consecutive (a restart leaves the
// rest of a block unused) nor, between processes, in order of creation.
//
// On MongoDB the $inc is atomic, so processes never get overlapping
// blocks. FerretDB 1.x runs findAndModify as a read, then a write of the
// whole document, so two processes can get the same block; the _id index
// rejects the second insert of an id and Insert tries again with attempt >
// 1: then the block is dropped and the counter jumps by a random step, so
// that processes that read the same value end up with different blocks.
func (m *Mongo) nextID(ctx context.Context, attempt int) (int64, error) {
	b := m.ids
	b.mu.Lock()
	defer b.mu.Unlock()
	if attempt > 1 {
		b.next = b.last + 1
	}
	if b.next > 0 && b.next <= b.last {
		b.next++
		return b.next - 1, nil
	}
	step := int64(idBlockSize)
	if attempt > 1 {
		step += rand.Int64N(int64(8 * attempt * idBlockSize))
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
	b.next, b.last = counter.Seq-idBlockSize+2, counter.Seq
	return counter.Seq - idBlockSize + 1, nil
}

func (m *Mongo) Replace(ctx context.Context, id int64, c handlers.Campos, activo *bool, cond handlers.Cambio) (handlers.Cliente, error) {
	return m.cambiarCampos(ctx, id, c, cond, func(cur handlers.Cliente) bson.D {
		nuevo := cur.Activo
		if activo != nil {
			nuevo = *activo
		}
		return bson.D{{Key: "activo", Value: nuevo}, {Key: "lastOp", Value: cond.IdempotencyKey},
			{Key: "cambio", Value: handlers.CambioDeEstado(cur.Activo, nuevo)}, {Key: "registro", Value: registroDocOf(cond.Registro)}}
	})
}

func (m *Mongo) SetActivo(ctx context.Context, id int64, activo bool, cond handlers.Cambio) (handlers.Cliente, error) {
	return m.cambiar(ctx, id, cond, func(cur handlers.Cliente) (bson.D, error) {
		if cur.Activo == activo {
			return nil, nil // already so: a no-op
		}
		return bson.D{{Key: "activo", Value: activo}, {Key: "lastOp", Value: cond.IdempotencyKey},
			{Key: "cambio", Value: handlers.CambioDeEstado(cur.Activo, activo)}, {Key: "registro", Value: registroDocOf(cond.Registro)}}, nil
	}, handlers.Campos{})
}

// cambiarCampos is cambiar for a change that stores the editable fields c
// besides what set returns for the customer as read (nil: a no-op). New
// dni and email keys are claimed, and new search words added to the old,
// before the write that takes them; the old words are dropped after it.
func (m *Mongo) cambiarCampos(ctx context.Context, id int64, c handlers.Campos, cond handlers.Cambio,
	set func(cur handlers.Cliente) bson.D) (handlers.Cliente, error) {
	words, renamed := palabrasTexto(c), false
	d, err := m.cambiar(ctx, id, cond, func(cur handlers.Cliente) (bson.D, error) {
		fields := set(cur)
		if fields == nil {
			return nil, nil
		}
		if err := m.reclamarClaves(ctx, id, c, campos(cur)); err != nil {
			return nil, err
		}
		if old := palabrasTexto(campos(cur)); old != words {
			renamed = true
			if err := m.indexarPalabras(ctx, id, old+" "+words); err != nil {
				return nil, err
			}
		}
		return append(editable(c), fields...), nil
	}, c)
	if err == nil && renamed {
		// Drop the old words. If this fails, the search document keeps
		// both, which a search's check of the customer makes harmless.
		_ = m.indexarPalabras(ctx, id, words)
	}
	return d, err
}

// cambiar changes customer id: it reads the customer, checks cond, asks
// set for the fields to set (nil: nothing to change, the customer is
// returned as it is), and writes them with the version one higher. The
// write is conditional on the version read (see filtroCambio), so a change
// in between makes it match nothing: then it starts over. c are the
// fields the change stores, for naming a unique index it breaks.
func (m *Mongo) cambiar(ctx context.Context, id int64, cond handlers.Cambio,
	set func(cur handlers.Cliente) (bson.D, error), c handlers.Campos) (handlers.Cliente, error) {
	for attempt := 1; ; attempt++ {
		cur, err := m.actual(ctx, id, cond, attempt)
		if err != nil {
			return handlers.Cliente{}, err
		}
		if err := cond.Check(cur.Version); err != nil {
			return handlers.Cliente{}, err
		}
		fields, err := set(cur)
		if err != nil || fields == nil {
			return cur, err
		}
		d, err := m.findOneAndUpdate(ctx, m.filtroCambio(cur), bson.D{
			{Key: "$set", Value: fields},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
		})
		switch {
		case err == nil:
			return d.toHandlers(), nil
		case errors.Is(err, mongo.ErrNoDocuments):
			// Changed in between: read it again.
		default:
			if retry, err := m.writeError(ctx, err, id, c); !retry {
				return handlers.Cliente{}, err
			}
		}
		if attempt == writeAttempts {
			return handlers.Cliente{}, handlers.Errorf(handlers.CodeUnavailable, "the customer kept changing")
		}
	}
}

// actual is the customer a change starts from: on the first attempt the
// one the caller read at the version the change is pinned to
// (cond.Leido), where the write is conditional on that version
// (filtroCambio), so a change in between makes it match nothing and the
// next attempt reads; else the customer as stored now. On FerretDB on
// SQLite the write is by _id alone, so there it always reads.
func (m *Mongo) actual(ctx context.Context, id int64, cond handlers.Cambio, attempt int) (handlers.Cliente, error) {
	if l := cond.Leido; attempt == 1 && m.claves == nil && l != nil && l.ID == id && cond.Version != nil && l.Version == *cond.Version {
		return *l, nil
	}
	return m.Get(ctx, id)
}

// filtroCambio selects cur for a change only if it is still at the
// version read, which makes reading, checking and writing one atomic step
// on MongoDB. FerretDB on SQLite finds by _id alone without a scan, so
// there the filter is the _id: FerretDB applies no update atomically
// anyway (see the package comment), and the worker handles one customer's
// commands one at a time.
func (m *Mongo) filtroCambio(cur handlers.Cliente) bson.D {
	filter := bson.D{{Key: "_id", Value: claveDe(cur.ID)}}
	if m.claves == nil {
		filter = append(filter, bson.E{Key: "version", Value: cur.Version})
	}
	return filter
}

// campos are the stored editable fields of c.
func campos(c handlers.Cliente) handlers.Campos {
	return handlers.Campos{DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido, Email: c.Email, Telefono: c.Telefono, Direccion: c.Direccion}
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
	return m.findOne(ctx, bson.D{{Key: "_id", Value: claveDe(id)}})
}

// GetByDNI and GetByEmail put the client's value in the filter as a plain
// string, so a value such as `{"$ne":""}` matches only itself.
func (m *Mongo) GetByDNI(ctx context.Context, dni string) (handlers.Cliente, error) {
	return m.porCampo(ctx, "dni", dni)
}

func (m *Mongo) GetByEmail(ctx context.Context, email string) (handlers.Cliente, error) {
	return m.porCampo(ctx, "email", email)
}

// porCampo finds the customer whose field (dni or email) is value: through
// its key document where there are key documents, else by the field.
func (m *Mongo) porCampo(ctx context.Context, field, value string) (handlers.Cliente, error) {
	if m.claves != nil {
		return m.porClave(ctx, field, value)
	}
	return m.findOne(ctx, bson.D{{Key: field, Value: value}})
}

func (m *Mongo) findOne(ctx context.Context, filter bson.D) (handlers.Cliente, error) {
	var d cliente
	if err := m.clientes.FindOne(ctx, filter).Decode(&d); err != nil {
		return handlers.Cliente{}, mapError(err)
	}
	return d.toHandlers(), nil
}

func (m *Mongo) List(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	switch {
	case m.buscar != nil && len(f.Palabras) > 0 && f.IDs == nil:
		return m.buscarPorBuckets(ctx, f)
	case m.claves != nil && len(f.Palabras) == 0:
		return m.listarPorID(ctx, f)
	}
	return m.listarConsulta(ctx, f)
}

// listarConsulta is List as one query, which MongoDB answers from its
// indexes.
func (m *Mongo) listarConsulta(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	idCond := bson.D{{Key: "$gt", Value: f.DespuesDeID}}
	if f.IDs != nil {
		idCond = append(idCond, bson.E{Key: "$in", Value: f.IDs})
	}
	filter := bson.D{{Key: "id", Value: idCond}}
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
	opts := options.Find().SetSort(bson.D{{Key: "id", Value: 1}})
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

// Deps are the service's dependencies that this database provides, so the
// worker and the seeding tools cannot forget one. The worker replaces
// Outbox and Reportes with the wrappers that wake its relay and projector.
func (m *Mongo) Deps(ttl time.Duration, now func() time.Time) handlers.Deps {
	return handlers.Deps{
		Store: m, Historial: m.Historial(), Outbox: m.Outbox(), Auditoria: m.Auditoria(), Reportes: m.Reportes(),
		Idempotency: m.Idempotency(), IdempotencyTTL: ttl, Now: now,
	}
}
