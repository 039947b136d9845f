package repository

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/idempotencytest"
	"github.com/jea/cliente/handlers/storetest"
	"github.com/jea/cliente/repository/embedded"
)

// The tests use the server at MONGODB_URI if set (a real MongoDB, or
// FerretDB on PostgreSQL), else one embedded FerretDB shared by the
// package: on PostgreSQL if FERRETDB_POSTGRESQL_URL is set, else on SQLite.
// Each test gets databases of its own.
var (
	serverOnce sync.Once
	serverURI  string
	serverErr  error
	embedSrv   *embedded.Server
	embedDir   string

	// dbPrefix keeps runs against a shared external server apart.
	dbPrefix = "rt" + strconv.FormatInt(time.Now().UnixNano(), 36)
	dbSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if embedSrv != nil {
		if err := embedSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing embedded server:", err)
		}
		if embedDir != "" {
			os.RemoveAll(embedDir)
		}
	}
	os.Exit(code)
}

func testURI(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		if serverURI = os.Getenv("MONGODB_URI"); serverURI != "" {
			return
		}
		opts := embedded.Options{PostgreSQLURL: os.Getenv("FERRETDB_POSTGRESQL_URL")}
		if opts.PostgreSQLURL == "" {
			// Not t.TempDir: the server outlives the test that starts it.
			if embedDir, serverErr = os.MkdirTemp("", "repository-test-"); serverErr != nil {
				return
			}
			opts.Dir = embedDir
		}
		embedSrv, serverErr = embedded.Start(context.Background(), opts)
		if serverErr == nil {
			serverURI = embedSrv.URI()
		}
	})
	if serverErr != nil {
		t.Fatalf("starting the test server: %v", serverErr)
	}
	return serverURI
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDatabase returns a database name not used before, dropped when t ends.
func newDatabase(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d", dbPrefix, dbSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := connect(ctx, testURI(t), name)
		if err != nil {
			t.Errorf("connecting to drop %s: %v", name, err)
			return
		}
		defer m.Close(ctx)
		if err := m.db.Drop(ctx); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name
}

// newStore connects to database, closing the connection when t ends.
func newStore(t *testing.T, database string) *Mongo {
	t.Helper()
	m, err := Connect(testCtx(t), testURI(t), database)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) handlers.Store {
		return newStore(t, newDatabase(t))
	})
}

func TestIdempotencyContract(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T) handlers.IdempotencyStore {
		return newStore(t, newDatabase(t)).Idempotency()
	})
}

func TestHistorialContract(t *testing.T) {
	storetest.RunHistorial(t, func(t *testing.T) handlers.Historial {
		return newStore(t, newDatabase(t)).Historial()
	})
}

func TestReportesContract(t *testing.T) {
	storetest.RunReportes(t, storetest.ReportesOptions{Seeds: []uint64{7}, Operations: 120},
		func(t *testing.T) storetest.ReportesStores {
			m := newStore(t, newDatabase(t))
			return storetest.ReportesStores{Store: m, Historial: m.Historial(), Reportes: m.Reportes()}
		})
}

// The projector's reads of many documents and its deletes of notices, in
// each of the ways varios.go has, on whatever server the tests use: the
// server only changes what they cost.
func TestReportesModos(t *testing.T) {
	for name, modo := range map[string]modoLectura{"in": leerConIn, "porID": leerPorID, "porGrupos": leerPorGrupos} {
		t.Run(name, func(t *testing.T) {
			storetest.RunReportes(t, storetest.ReportesOptions{Seeds: []uint64{11}, Operations: 150},
				func(t *testing.T) storetest.ReportesStores {
					m := newStore(t, newDatabase(t))
					m.modo, m.minGrupo = modo, 1
					return storetest.ReportesStores{Store: m, Historial: m.Historial(), Reportes: m.Reportes()}
				})
		})
	}
}

func TestOutboxContract(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) handlers.Outbox {
		return newStore(t, newDatabase(t)).Outbox()
	})
}

func TestAuditoriaContract(t *testing.T) {
	storetest.RunAuditoria(t, func(t *testing.T) handlers.Auditoria {
		return newStore(t, newDatabase(t)).Auditoria()
	})
}

func TestStoredDocument(t *testing.T) {
	m := newStore(t, newDatabase(t))
	ctx := testCtx(t)
	// Not in UTC and below the millisecond, to see both normalised.
	lima := time.FixedZone("PET", -5*3600)
	fecha := time.Date(2026, 1, 31, 22, 30, 0, 123_456_789, lima)
	cl, err := m.Insert(ctx, storetest.Campos(1), fecha, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	wantFecha := time.Date(2026, 2, 1, 3, 30, 0, 123_000_000, time.UTC)
	if cl.FechaRegistro != wantFecha {
		t.Errorf("returned fechaRegistro = %v, want %v", cl.FechaRegistro, wantFecha)
	}
	got, err := m.Get(ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != cl {
		t.Errorf("Get = %+v\nInsert returned %+v", got, cl)
	}

	var raw bson.M
	if err := m.clientes.FindOne(ctx, bson.D{{Key: "_id", Value: claveDe(cl.ID)}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["mesRegistro"] != "2026-02" {
		t.Errorf("mesRegistro = %#v, want the UTC month \"2026-02\"", raw["mesRegistro"])
	}
	if _, ok := raw["fechaRegistro"].(primitive.DateTime); !ok {
		t.Errorf("fechaRegistro is stored as %T, want a BSON date", raw["fechaRegistro"])
	}
	if _, ok := raw["version"].(int64); !ok {
		t.Errorf("version is stored as %T, want int64", raw["version"])
	}

	// Replace and SetActivo leave fechaRegistro and mesRegistro alone.
	if _, err := m.Replace(ctx, cl.ID, storetest.Campos(2), nil, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetActivo(ctx, cl.ID, false, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	raw = nil
	if err := m.clientes.FindOne(ctx, bson.D{{Key: "_id", Value: claveDe(cl.ID)}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["mesRegistro"] != "2026-02" || !raw["fechaRegistro"].(primitive.DateTime).Time().Equal(wantFecha) {
		t.Errorf("after updates: mesRegistro %v, fechaRegistro %v", raw["mesRegistro"], raw["fechaRegistro"])
	}
}

func TestEnsureSchema(t *testing.T) {
	t.Run("Twice", func(t *testing.T) {
		m := newStore(t, newDatabase(t)) // Connect runs it once
		ctx := testCtx(t)
		for i := 1; i <= 2; i++ {
			mustInsertID(t, m, i, int64(i))
			if err := m.EnsureSchema(ctx); err != nil {
				t.Fatalf("EnsureSchema again: %v", err)
			}
		}
		// The counter went on from where it was, not from zero.
		mustInsertID(t, m, 3, 3)
		checkIndexes(t, m)
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Four workers, each with its own client, start on a database
		// that does not exist yet.
		database := newDatabase(t)
		const workers = 4
		stores := make([]*Mongo, workers)
		for i := range stores {
			m, err := connect(testCtx(t), testURI(t), database)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close(context.Background()) })
			stores[i] = m
		}
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i, m := range stores {
			wg.Go(func() { errs[i] = m.EnsureSchema(testCtx(t)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("worker %d: EnsureSchema: %v", i, err)
			}
		}
		checkIndexes(t, stores[0])
		n, err := stores[0].counters.CountDocuments(testCtx(t), bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("counters holds %d documents (%v), want 1", n, err)
		}
		mustInsertID(t, stores[1], 1, 1)
	})

	t.Run("CounterFromExistingData", func(t *testing.T) {
		// A database whose counter was lost goes on after its highest id.
		m := newStore(t, newDatabase(t))
		ctx := testCtx(t)
		mustInsertID(t, m, 1, 1)
		mustInsertID(t, m, 2, 2)
		if _, err := m.counters.DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		// A new process, with no block of ids of its own yet.
		fresh := newStore(t, m.db.Name())
		if _, err := fresh.counters.DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.Insert(ctx, storetest.Campos(3), time.Now(), handlers.Cambio{}); handlers.ErrorCode(err) != handlers.CodeInternal {
			t.Fatalf("Insert without counter: %v, want an internal error", err)
		}
		if err := fresh.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
		mustInsertID(t, fresh, 3, 3)
	})
}

func mustInsertID(t *testing.T, m *Mongo, n int, wantID int64) {
	t.Helper()
	cl, err := m.Insert(testCtx(t), storetest.Campos(n), time.Now(), handlers.Cambio{})
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if cl.ID != wantID {
		t.Fatalf("Insert got id %d, want %d", cl.ID, wantID)
	}
}

func checkIndexes(t *testing.T, m *Mongo) {
	t.Helper()
	ctx := testCtx(t)
	cur, err := m.clientes.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var specs []struct {
		Name   string `bson:"name"`
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range specs {
		got[s.Name] = fmt.Sprintf("%v unique=%v", s.Key, s.Unique)
	}
	want := map[string]string{
		"_id_":          "[{_id 1}] unique=false", // unique implicitly, not flagged
		"dni_unique":    "[{dni 1}] unique=true",
		"email_unique":  "[{email 1}] unique=true",
		"id_unique":     "[{id 1}] unique=true",
		"activo_id":     "[{activo 1} {id 1}] unique=false",
		"palabras":      "[{palabras 1}] unique=false",
		"fechaRegistro": "[{fechaRegistro 1}] unique=false",
		"grupo":         "[{grupo 1}] unique=false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("indexes:\n got %v\nwant %v", got, want)
	}
}

// TestInsertSeveralWorkers inserts concurrently through several clients,
// like several service instances; on FerretDB their counter updates can
// collide, which Insert must absorb.
func TestInsertSeveralWorkers(t *testing.T) {
	database := newDatabase(t)
	const workers, perWorker = 4, 8
	var (
		mu   sync.Mutex
		seen = map[int64]bool{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		m := newStore(t, database)
		for i := range perWorker {
			wg.Go(func() {
				cl, err := m.Insert(testCtx(t), storetest.Campos(w*perWorker+i), time.Now(), handlers.Cambio{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("worker %d insert %d: %v", w, i, err)
				case cl.ID <= 0 || seen[cl.ID]:
					t.Errorf("id %d allocated twice or not positive", cl.ID)
				}
				seen[cl.ID] = true
			})
		}
	}
	wg.Wait()
	list, err := newStore(t, database).List(testCtx(t), handlers.Filtro{})
	if err != nil || len(list) != workers*perWorker {
		t.Fatalf("List: %d customers, %v; want %d", len(list), err, workers*perWorker)
	}
}

// TestEmbeddedRestart checks that the embedded server keeps its data in its
// directory, and that a store whose server went away reports unavailable.
func TestEmbeddedRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	const database = "restart"

	srv, err := embedded.Start(ctx, embedded.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Connect(ctx, srv.URI(), database)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Insert(ctx, storetest.Campos(1), time.Now(), handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv, err = embedded.Start(ctx, embedded.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if srv.URI() == "" {
		t.Fatal("empty URI")
	}
	m, err = Connect(ctx, srv.URI(), database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	got, err := m.GetByDNI(ctx, first.DNI)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got != first {
		t.Fatalf("after restart: %+v, want %+v", got, first)
	}
	// Ids grow, but the rest of the first process's block stays unused.
	second, err := m.Insert(ctx, storetest.Campos(2), time.Now(), handlers.Cambio{})
	if err != nil || second.ID != first.ID+idBlockSize {
		t.Fatalf("insert after restart = id %d, %v; want id %d", second.ID, err, first.ID+idBlockSize)
	}

	// Stop the server under the connected store.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func(context.Context) error{
		"Get":  func(ctx context.Context) error { _, err := m.Get(ctx, first.ID); return err },
		"Ping": m.Ping,
	} {
		short, cancel := context.WithTimeout(ctx, time.Second)
		err := call(short)
		cancel()
		if handlers.ErrorCode(err) != handlers.CodeUnavailable {
			t.Errorf("%s with the server down = %v, want unavailable", name, err)
		}
	}
}

// Customers stored by an older version, keyed by number and some without
// search words, are copied to the new form at the next start, once: every
// lookup, listing and search finds them, new ids go on after theirs, and
// the old collection is gone.
func TestEnsureSchemaMigratesCustomers(t *testing.T) {
	ctx := testCtx(t)
	db := newDatabase(t)
	m := newStore(t, db)
	old := m.db.Collection(clientesV1Coll)
	fecha := time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)
	var docs []any
	for i := 1; i <= 3; i++ {
		c := storetest.Campos(i)
		d := bson.D{{Key: "_id", Value: int64(i)}, {Key: "dni", Value: c.DNI}, {Key: "nombre", Value: "María José"},
			{Key: "apellido", Value: "Quispe"}, {Key: "email", Value: c.Email}, {Key: "telefono", Value: c.Telefono},
			{Key: "direccion", Value: c.Direccion}, {Key: "fechaRegistro", Value: fecha}, {Key: "activo", Value: i != 2},
			{Key: "version", Value: int64(i)}, {Key: "lastOp", Value: fmt.Sprint("op-", i)}}
		if i == 2 {
			d = append(d, bson.E{Key: "anonimizado", Value: true})
		}
		if i == 3 { // as the first version wrote them
			d = append(d, bson.E{Key: "palabras", Value: bson.A{"maria", "jose", "quispe"}}, bson.E{Key: "mesRegistro", Value: "2025-07"})
		}
		docs = append(docs, d)
	}
	if _, err := old.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := m.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: counterID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(3)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Collection(migrationsColl).DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second start finds the mark
		if err := m.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		c := storetest.Campos(i)
		for name, get := range map[string]func() (handlers.Cliente, error){
			"Get":        func() (handlers.Cliente, error) { return m.Get(ctx, int64(i)) },
			"GetByDNI":   func() (handlers.Cliente, error) { return m.GetByDNI(ctx, c.DNI) },
			"GetByEmail": func() (handlers.Cliente, error) { return m.GetByEmail(ctx, c.Email) },
		} {
			got, err := get()
			if err != nil || got.ID != int64(i) || got.Version != int64(i) || got.Activo != (i != 2) ||
				got.LastOp != fmt.Sprint("op-", i) || !got.FechaRegistro.Equal(fecha) || got.Anonimizado != (i == 2) {
				t.Fatalf("%s(customer %d) after the copy = %+v, %v", name, i, got, err)
			}
		}
	}
	for q, want := range map[string]int{"maria qui": 3, "jose": 3} {
		got, err := m.List(ctx, handlers.Filtro{Palabras: handlers.Palabras(q)})
		if err != nil || len(got) != want {
			t.Fatalf("search %q after the copy: %d customers, %v; want %d", q, len(got), err, want)
		}
	}
	yes := true
	if got, err := m.List(ctx, handlers.Filtro{Activo: &yes, Limite: 10}); err != nil || len(got) != 2 {
		t.Fatalf("active customers after the copy: %d, %v; want 2", len(got), err)
	}
	mustInsertID(t, m, 4, 4)
	if _, err := m.Insert(ctx, storetest.Campos(1), time.Now(), handlers.Cambio{}); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("insert of a copied customer's dni = %v, want a conflict", err)
	}
	names, err := m.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: clientesV1Coll}})
	if err != nil || len(names) != 0 {
		t.Fatalf("old collection still there: %v, %v", names, err)
	}
	if n, err := m.db.Collection(migrationsColl).CountDocuments(ctx, bson.D{{Key: "_id", Value: clientesV2Done}}); err != nil || n != 1 {
		t.Fatalf("migration mark: %d, %v", n, err)
	}
}

// TestStaleKeyDocuments puts the key documents (claves.go) in each state a
// crash or a race can leave them in, and checks that lookups and inserts
// still tell the truth, and repair what they read.
func TestStaleKeyDocuments(t *testing.T) {
	m := newStore(t, newDatabase(t))
	if m.claves == nil {
		t.Skip("this server answers lookups by dni itself: no key documents")
	}
	ctx := testCtx(t)
	point := func(field, value string, id int64) {
		t.Helper()
		key := claveCampo(field, value)
		_, err := m.claves.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, claveDoc{Clave: key, Cliente: id}, options.Replace().SetUpsert(true))
		if err != nil {
			t.Fatal(err)
		}
	}
	pointer := func(field, value string) int64 {
		t.Helper()
		var k claveDoc
		if err := m.claves.FindOne(ctx, bson.D{{Key: "_id", Value: claveCampo(field, value)}}).Decode(&k); err != nil {
			t.Fatal(err)
		}
		return k.Cliente
	}
	a := mustInsert(t, m, 1)
	b := mustInsert(t, m, 2)

	// A writer killed between its key documents and its customer.
	ghost := storetest.Campos(3)
	point("dni", ghost.DNI, 999)
	point("email", ghost.Email, 999)
	if _, err := m.GetByDNI(ctx, ghost.DNI); handlers.ErrorCode(err) != handlers.CodeNotFound {
		t.Fatalf("lookup through a key of a customer never stored = %v, want not found", err)
	}
	c := mustInsert(t, m, 3)
	if got, err := m.GetByEmail(ctx, ghost.Email); err != nil || got.ID != c.ID {
		t.Fatalf("after the value was taken again: %+v, %v; want customer %d", got, err, c.ID)
	}

	// A loser of a race that overwrote the pointer, then failed: the
	// lookup finds the holder anyway and points the key back at it.
	point("dni", a.DNI, b.ID)
	point("email", a.Email, 12345)
	for _, get := range []func() (handlers.Cliente, error){
		func() (handlers.Cliente, error) { return m.GetByDNI(ctx, a.DNI) },
		func() (handlers.Cliente, error) { return m.GetByEmail(ctx, a.Email) },
	} {
		if got, err := get(); err != nil || got.ID != a.ID {
			t.Fatalf("lookup through an overwritten pointer = %+v, %v; want customer %d", got, err, a.ID)
		}
	}
	if p, q := pointer("dni", a.DNI), pointer("email", a.Email); p != a.ID || q != a.ID {
		t.Fatalf("pointers after the lookups: %d, %d; want both repaired to %d", p, q, a.ID)
	}

	// An insert that meets a wrong pointer to a value someone holds still
	// conflicts, through the unique index.
	point("dni", b.DNI, 999)
	dup := storetest.Campos(4)
	dup.DNI = b.DNI
	if _, err := m.Insert(ctx, dup, time.Now(), handlers.Cambio{}); handlers.ErrorCode(err) != handlers.CodeConflict {
		t.Fatalf("insert of a held dni behind a stale key = %v, want a conflict", err)
	}
	if got, err := m.GetByDNI(ctx, b.DNI); err != nil || got.ID != b.ID {
		t.Fatalf("after the failed insert: %+v, %v; want customer %d", got, err, b.ID)
	}
}

func mustInsert(t *testing.T, m *Mongo, n int) handlers.Cliente {
	t.Helper()
	c, err := m.Insert(testCtx(t), storetest.Campos(n), time.Now(), handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIDBlocks checks that a process updates the counter once per
// idBlockSize inserts, and that its ids still come in order.
func TestIDBlocks(t *testing.T) {
	m := newStore(t, newDatabase(t))
	const n = idBlockSize + 4
	for i := 1; i <= n; i++ {
		mustInsertID(t, m, i, int64(i))
	}
	seq, err := m.ultimoID(testCtx(t))
	if err != nil || seq != 2*idBlockSize {
		t.Fatalf("counter after %d inserts = %d, %v; want two blocks, %d", n, seq, err, 2*idBlockSize)
	}
}

// TestStaleSearchDocuments puts the search documents (buscar.go) in the
// states a crash can leave them in: an entry for a customer never stored,
// and the old words beside the new after a rename.
func TestStaleSearchDocuments(t *testing.T) {
	m := newStore(t, newDatabase(t))
	if m.buscar == nil {
		t.Skip("this server searches by itself: no search documents")
	}
	ctx := testCtx(t)
	c := storetest.Campos(1)
	c.Nombre, c.Apellido = "Rosa", "Castro"
	rosa, err := m.Insert(ctx, c, time.Now(), handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.indexarPalabras(ctx, rosa.ID+1, "maria quispe"); err != nil { // killed before its insert
		t.Fatal(err)
	}
	if err := m.indexarPalabras(ctx, rosa.ID, "maria quispe rosa castro"); err != nil { // killed mid-rename
		t.Fatal(err)
	}
	for q, want := range map[string]string{"maria": "[]", "rosa cas": fmt.Sprint([]int64{rosa.ID})} {
		got, err := m.List(ctx, handlers.Filtro{Palabras: handlers.Palabras(q), Limite: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if fmt.Sprint(ids) != want && !(want == "[]" && len(ids) == 0) {
			t.Errorf("search %q = %v, want %s", q, ids, want)
		}
	}
}

// TestKeyDocumentMode checks that a store chooses key documents exactly
// on a server that does not push a filter on dni down (FerretDB on
// SQLite), the same on a new database as on an existing one: processes
// that chose differently would miss each other's customers.
func TestKeyDocumentMode(t *testing.T) {
	db := newDatabase(t)
	first := newStore(t, db)
	mustInsert(t, first, 1)
	second := newStore(t, db)
	sqlite := os.Getenv("MONGODB_URI") == "" && os.Getenv("FERRETDB_POSTGRESQL_URL") == ""
	for i, m := range []*Mongo{first, second} {
		if got := m.claves != nil; got != sqlite {
			t.Errorf("store %d: key documents %v, want %v (embedded SQLite: %v)", i+1, got, sqlite, sqlite)
		}
	}
}

// TestInsertRoundTrips counts the commands Insert sends to the server: the
// customer's insert, one counter update per idBlockSize inserts, and where
// there are key and search documents, one insert of both keys and one
// update of the search bucket.
func TestInsertRoundTrips(t *testing.T) {
	db := newDatabase(t)
	newStore(t, db) // the schema
	var mu sync.Mutex
	counts := map[string]int{}
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		counts[e.CommandName]++
	}}
	m, err := connect(testCtx(t), testURI(t), db, options.Client().SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	mu.Lock()
	clear(counts)
	mu.Unlock()
	const n = 2 * idBlockSize
	for i := range n {
		mustInsert(t, m, i+1)
	}
	perInsert := 1
	if m.claves != nil {
		perInsert = 3
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, c := range counts {
		total += c
	}
	if want := n*perInsert + n/idBlockSize; total != want {
		t.Errorf("%d inserts sent %d commands %v, want %d", n, total, counts, want)
	}
}

// A database of an older version: customers never noticed, totals without
// the months of purchase. EnsureSchema notices every customer once and
// recomputes such totals, so the reports count them.
func TestEnsureSchemaBackfillsReports(t *testing.T) {
	ctx := testCtx(t)
	m := newStore(t, newDatabase(t))
	c, err := m.Insert(ctx, storetest.Campos(1), time.Now(), handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Historial()
	compra := storetest.Compra(1, c.ID)
	if _, _, err := h.RegistrarCompra(ctx, compra); err != nil {
		t.Fatal(err)
	}
	if err := h.GuardarAgregados(ctx, handlers.Agregar(c.ID, []handlers.Compra{compra}), 0); err != nil {
		t.Fatal(err)
	}
	// As an older version left it.
	if _, err := h.resumenes.UpdateByID(ctx, c.ID, bson.D{{Key: "$unset", Value: bson.D{{Key: "meses", Value: ""}, {Key: "porMoneda.0.ultima", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Collection(migrationsColl).DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	a, _, err := h.Agregados(ctx, c.ID)
	if err != nil || !a.Equal(handlers.Agregar(c.ID, []handlers.Compra{compra})) {
		t.Fatalf("totals after the backfill %+v, %v", a, err)
	}
	avisos, err := m.Reportes().Avisos(ctx, 10)
	if err != nil || len(avisos) != 1 || avisos[0].ClienteID != c.ID {
		t.Fatalf("notices after the backfill %v, %v; want one for customer %d", avisos, err, c.ID)
	}
	if n, err := m.db.Collection(migrationsColl).CountDocuments(ctx, bson.D{{Key: "_id", Value: reportesDone}}); err != nil || n != 1 {
		t.Fatalf("migration mark: %d, %v", n, err)
	}
}
