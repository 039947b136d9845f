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

func testURI(t *testing.T) string {
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
	storetest.RunReportes(t, storetest.ReportesOptions{Seeds: []uint64{1, 2}, Operations: 250},
		func(t *testing.T) storetest.ReportesStores {
			m := newStore(t, newDatabase(t))
			return storetest.ReportesStores{Store: m, Historial: m.Historial(), Reportes: m.Reportes()}
		})
}

func TestOutboxContract(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) handlers.Outbox {
		return newStore(t, newDatabase(t)).Outbox()
	})
}

func TestStoredDocument(t *testing.T) {
	m := newStore(t, newDatabase(t))
	ctx := testCtx(t)
	// Not in UTC and below the millisecond, to see both normalised.
	lima := time.FixedZone("PET", -5*3600)
	fecha := time.Date(2026, 1, 31, 22, 30, 0, 123_456_789, lima)
	cl, err := m.Insert(ctx, storetest.Campos(1), fecha, "")
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
	if err := m.clientes.FindOne(ctx, bson.D{{Key: "_id", Value: cl.ID}}).Decode(&raw); err != nil {
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
	if err := m.clientes.FindOne(ctx, bson.D{{Key: "_id", Value: cl.ID}}).Decode(&raw); err != nil {
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
		if _, err := m.Insert(ctx, storetest.Campos(3), time.Now(), ""); handlers.ErrorCode(err) != handlers.CodeInternal {
			t.Fatalf("Insert without counter: %v, want an internal error", err)
		}
		if err := m.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
		mustInsertID(t, m, 3, 3)
	})
}

func mustInsertID(t *testing.T, m *Mongo, n int, wantID int64) {
	t.Helper()
	cl, err := m.Insert(testCtx(t), storetest.Campos(n), time.Now(), "")
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
		"activo_id":     "[{activo 1} {_id 1}] unique=false",
		"palabras":      "[{palabras 1}] unique=false",
		"fechaRegistro": "[{fechaRegistro 1}] unique=false",
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
				cl, err := m.Insert(testCtx(t), storetest.Campos(w*perWorker+i), time.Now(), "")
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
	first, err := m.Insert(ctx, storetest.Campos(1), time.Now(), "")
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
	second, err := m.Insert(ctx, storetest.Campos(2), time.Now(), "")
	if err != nil || second.ID != first.ID+1 {
		t.Fatalf("insert after restart = id %d, %v; want id %d", second.ID, err, first.ID+1)
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

// Customers stored before search words existed get them at the next start,
// once: a search finds them, and a later start does not scan again.
func TestEnsureSchemaBackfillsSearchWords(t *testing.T) {
	ctx := testCtx(t)
	db := newDatabase(t)
	m := newStore(t, db)
	c, err := m.Insert(ctx, handlers.Campos{DNI: "10117410", Nombre: "María José", Apellido: "Quispe", Email: "mj@example.pe"}, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	// As an older version left it: no palabras, no migration mark.
	if _, err := m.clientes.UpdateByID(ctx, c.ID, bson.D{{Key: "$unset", Value: bson.D{{Key: "palabras", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Collection(migrationsColl).DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	search := func() int {
		got, err := m.List(ctx, handlers.Filtro{Palabras: handlers.Palabras("maria qui")})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := search(); n != 0 {
		t.Fatalf("a customer without search words was found %d times", n)
	}
	if err := m.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if n := search(); n != 1 {
		t.Fatalf("after the backfill the search finds %d customers, want 1", n)
	}
	if n, err := m.db.Collection(migrationsColl).CountDocuments(ctx, bson.D{{Key: "_id", Value: palabrasDone}}); err != nil || n != 1 {
		t.Fatalf("migration mark: %d, %v", n, err)
	}
}
