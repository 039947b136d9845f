package repository

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/storetest"
)

// commandCounter counts the commands a client sends, by name, and by
// name and collection.
type commandCounter struct {
	mu        sync.Mutex
	counts    map[string]int
	porColecc map[string]int
}

func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.counts[e.CommandName]++
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		if c.porColecc == nil {
			c.porColecc = map[string]int{}
		}
		c.porColecc[e.CommandName+" "+coll]++
	}}
}

// take returns the counts by name since the last take and starts again.
func (c *commandCounter) take() (map[string]int, int) {
	porNombre, _, total := c.takeAll()
	return porNombre, total
}

// takeColecc is take by name and collection.
func (c *commandCounter) takeColecc() (map[string]int, int) {
	_, porColecc, total := c.takeAll()
	return porColecc, total
}

func (c *commandCounter) takeAll() (porNombre, porColecc map[string]int, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	porNombre, porColecc = c.counts, c.porColecc
	for _, n := range porNombre {
		total += n
	}
	c.counts, c.porColecc = map[string]int{}, map[string]int{}
	return porNombre, porColecc, total
}

func formatCounts(counts map[string]int, n int) string {
	var parts []string
	for name, k := range counts {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(k)/float64(n)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// monitoredService is a Service on database db whose commands counter
// counts, built as the worker builds it (repository.Deps, Diferir), and
// the relay that records what its changes leave to it.
func monitoredService(t *testing.T, db string, pub handlers.Publisher) (*Mongo, *handlers.Service, *handlers.Relay, *commandCounter) {
	t.Helper()
	newStore(t, db) // the schema
	counter := &commandCounter{counts: map[string]int{}}
	m, err := connect(testCtx(t), testURI(t), db, options.Client().SetMonitor(counter.monitor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	deps := m.Deps(time.Hour, time.Now)
	deps.Diferir = true
	svc, err := handlers.NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := handlers.NewRelay(handlers.Relay{Outbox: deps.Outbox, Publisher: pub, Now: time.Now, Lease: time.Millisecond,
		Batch: 100, Interval: time.Second,
		Registros: &handlers.Registros{Auditoria: deps.Auditoria, Reportes: deps.Reportes, Idempotency: deps.Idempotency}})
	if err != nil {
		t.Fatal(err)
	}
	counter.take()
	return m, svc, relay, counter
}

// publisher fails while fail is set, else counts what it publishes.
type publisher struct {
	fail      bool
	published int
}

func (p *publisher) Publish(ctx context.Context, events []handlers.Evento) error {
	if p.fail {
		return handlers.Errorf(handlers.CodeUnavailable, "broker down")
	}
	p.published += len(events)
	return nil
}

// TestCommandRoundTrips counts the commands a create, an update and a get
// by id send to the database, each with an idempotency key as the worker
// always gives one (issue 15: a create was the slowest path), and what
// the relay sends per event to record what they left to it. Before
// Diferir a create sent 6.06 (8.06 with key and search documents) and an
// update 8 (10), reading the customer twice.
func TestCommandRoundTrips(t *testing.T) {
	pub := &publisher{}
	m, svc, relay, counter := monitoredService(t, newDatabase(t), pub)
	ctx := testCtx(t)
	const n = 32
	ptr := func(s string) *string { return &s }
	datos := func(i int, nombre string) handlers.Datos {
		c := storetest.Campos(i)
		return handlers.Datos{DNI: &c.DNI, Nombre: ptr(nombre), Apellido: &c.Apellido, Email: &c.Email, Telefono: &c.Telefono}
	}
	ids := make([]int64, n)
	for i := range n {
		c, err := svc.Crear(ctx, datos(i, "Ana"), handlers.Cambio{IdempotencyKey: fmt.Sprintf("crear-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	creates, perCreate := counter.take()
	for i, id := range ids {
		if _, err := svc.Actualizar(ctx, id, datos(i, "Beto"), handlers.Cambio{IdempotencyKey: fmt.Sprintf("actualizar-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	updates, perUpdate := counter.take()
	for _, id := range ids {
		if _, err := svc.Obtener(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	gets, perGet := counter.take()
	drain(t, relay)
	relayed, perRelay := counter.take()
	t.Logf("per create: %.2f commands (%s)", float64(perCreate)/n, formatCounts(creates, n))
	t.Logf("per update: %.2f commands (%s)", float64(perUpdate)/n, formatCounts(updates, n))
	t.Logf("per get: %.2f commands (%s)", float64(perGet)/n, formatCounts(gets, n))
	t.Logf("relay, per event: %.2f commands (%s)", float64(perRelay)/(2*n), formatCounts(relayed, 2*n))

	// Idempotency begin, the customer, its event; where there are key
	// and search documents, one insert of both keys and one bucket update.
	wantCreate := 3.0
	if m.claves != nil {
		wantCreate += 2
	}
	if got := float64(perCreate) / n; got > wantCreate+1.0/idBlockSize+0.01 {
		t.Errorf("a create sent %.2f commands, want at most %.2f", got, wantCreate+1.0/idBlockSize)
	}
	// Idempotency begin, the read of the customer (its fields before),
	// the change, its event; where there are key and search documents,
	// the store reads the customer again (its write is by _id alone) and
	// updates the search bucket twice.
	wantUpdate := 4
	if m.claves != nil {
		wantUpdate = 7
	}
	if perUpdate != wantUpdate*n {
		t.Errorf("an update sent %.2f commands, want %d", float64(perUpdate)/n, wantUpdate)
	}
	checkRecords(t, m, pub, ids, 2)
}

// TestCommandRoundTripsConcurrent counts the commands of n creates made
// one after another, then of n made k at a time, as k of the worker's
// lanes make them: at once, their writes of one kind share commands
// (lote.go). Measured on SQLite (key and search documents): 5.06 one
// after another; 8 at a time 2.0-2.3, 32 at a time 0.5-0.9 (before group
// commit: 5.06 in every case).
func TestCommandRoundTripsConcurrent(t *testing.T) {
	pub := &publisher{}
	m, svc, relay, counter := monitoredService(t, newDatabase(t), pub)
	ctx := testCtx(t)
	const n = 32
	ids := make([]int64, 3*n)
	crear := func(i int) {
		d := storetest.Campos(i)
		c, err := svc.Crear(ctx, handlers.Datos{DNI: &d.DNI, Nombre: &d.Nombre, Apellido: &d.Apellido, Email: &d.Email, Telefono: &d.Telefono},
			handlers.Cambio{IdempotencyKey: fmt.Sprintf("crear-%d", i)})
		if err != nil {
			t.Error(err)
		}
		ids[i] = c.ID
	}
	for i := range n {
		crear(i)
	}
	seq, perSeq := counter.take()
	t.Logf("per create, one after another: %.2f commands (%s)", float64(perSeq)/n, formatCounts(seq, n))
	for wave, k := range []int{8, n} {
		for w := 0; w < n; w += k {
			var wg sync.WaitGroup
			for i := range k {
				wg.Go(func() { crear((wave+1)*n + w + i) })
			}
			wg.Wait()
		}
		conc, perConc := counter.take()
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("per create, %d at a time: %.2f commands (%s)", k, float64(perConc)/n, formatCounts(conc, n))
		// One after another: a command per write. At once, the first of
		// each kind goes alone and the others queue behind it: under 3/4
		// with 8 at a time, under half with 32.
		want := perSeq * 3 / 4
		if k == n {
			want = perSeq / 2
		}
		if perConc > want {
			t.Errorf("%d creates %d at a time sent %d commands, want at most %d (one after another: %d)", n, k, perConc, want, perSeq)
		}
	}
	drain(t, relay)
	checkRecords(t, m, pub, ids, 1)
}

// Creates at once of which two share a dni, and two others an email: of
// each pair exactly one is stored and the other gets the Conflict naming
// the field, as one after another; the rest are stored.
func TestCrearConcurrenteConflicto(t *testing.T) {
	_, svc, _, _ := monitoredService(t, newDatabase(t), &publisher{})
	ctx := testCtx(t)
	const n = 24
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		d := storetest.Campos(i)
		switch i {
		case 7:
			d.DNI = storetest.Campos(3).DNI
		case 17:
			d.Email = storetest.Campos(11).Email
		}
		wg.Go(func() {
			_, errs[i] = svc.Crear(ctx, handlers.Datos{DNI: &d.DNI, Nombre: &d.Nombre, Apellido: &d.Apellido, Email: &d.Email},
				handlers.Cambio{IdempotencyKey: fmt.Sprintf("crear-%d", i)})
		})
	}
	wg.Wait()
	conflicts := map[string]int{}
	for i, err := range errs {
		switch e := handlers.AsError(err); {
		case err == nil:
		case e.Code == handlers.CodeConflict && len(e.Fields) == 1:
			conflicts[e.Fields[0].Field]++
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if conflicts["dni"] != 1 || conflicts["email"] != 1 || len(conflicts) != 2 {
		t.Fatalf("conflicts %v: want one on dni and one on email", conflicts)
	}
	for _, pair := range [][2]int{{3, 7}, {11, 17}} {
		if (errs[pair[0]] == nil) == (errs[pair[1]] == nil) {
			t.Errorf("creates %d and %d: %v, %v; want one stored", pair[0], pair[1], errs[pair[0]], errs[pair[1]])
		}
	}
}

// drain runs the relay until the outbox is empty.
func drain(t *testing.T, relay *handlers.Relay) {
	t.Helper()
	for {
		k, err := relay.RunOnce(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			return
		}
	}
}

// checkRecords checks that each customer's changes (created under key
// crear-<i>, then versions-1 updates) have one audit entry and one notice
// each, and their create's idempotency record its result.
func checkRecords(t *testing.T, m *Mongo, pub *publisher, ids []int64, versions int) {
	t.Helper()
	ctx := testCtx(t)
	n := len(ids)
	if pub.published != versions*n {
		t.Errorf("published %d events, want %d", pub.published, versions*n)
	}
	for i, id := range ids {
		entradas, err := m.Auditoria().Pagina(ctx, id, 0, 10)
		if err != nil || len(entradas) != versions {
			t.Fatalf("customer %d: audit entries %+v, %v; want %d", id, entradas, err, versions)
		}
		rec, started, err := m.Idempotency().Begin(ctx, fmt.Sprintf("crear-%d", i), "", time.Now(), time.Hour)
		if err != nil || started || !rec.Done || rec.Resultado.Cliente == nil || rec.Resultado.Cliente.ID != id {
			t.Fatalf("customer %d: idempotency record %+v, %v, %v; want done", id, rec, started, err)
		}
	}
	avisos, err := m.Reportes().Avisos(ctx, 10*n)
	if err != nil || len(avisos) != versions*n {
		t.Fatalf("%d notices, %v; want %d", len(avisos), err, versions*n)
	}
}

// A relay round that crashes after its records (here: the publish
// fails) leaves its events; the next round records them again, which
// keeps one of each, and publishes them.
func TestRelayRecordsAgainAfterACrash(t *testing.T) {
	pub := &publisher{}
	m, svc, relay, _ := monitoredService(t, newDatabase(t), pub)
	ctx := testCtx(t)
	var ids []int64
	for i := range 5 {
		d := storetest.Campos(i)
		c, err := svc.Crear(ctx, handlers.Datos{DNI: &d.DNI, Nombre: &d.Nombre, Apellido: &d.Apellido, Email: &d.Email},
			handlers.Cambio{IdempotencyKey: fmt.Sprintf("crear-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	pub.fail = true
	if _, err := relay.RunOnce(ctx); err == nil {
		t.Fatal("relay with the broker down: want an error")
	}
	pub.fail = false
	time.Sleep(5 * time.Millisecond) // the failed batch's lease
	drain(t, relay)
	checkRecords(t, m, pub, ids, 1)
}

// FinishVarios records results that Begin reads for a pending record; a
// result of an earlier request under the same key, whose record expired,
// is not the new request's.
func TestFinishVarios(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, newDatabase(t)).Idempotency()
	now := time.Now()
	for _, k := range []string{"a", "b"} {
		if _, started, err := s.Begin(ctx, k, "h-"+k, now, time.Hour); err != nil || !started {
			t.Fatalf("Begin(%s) = %v, %v", k, started, err)
		}
	}
	cliente := handlers.Cliente{ID: 7, Version: 1}
	done := handlers.StoredResult{Cliente: &cliente}
	// "gone" was swept: nothing to finish, and no error.
	ts := []handlers.Terminado{{Key: "a", Resultado: done}, {Key: "gone", Resultado: done}}
	for range 2 { // twice keeps one
		if err := s.FinishVarios(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	rec, started, err := s.Begin(ctx, "a", "h-a", now.Add(time.Minute), time.Hour)
	if err != nil || started || !rec.Done || rec.Hash != "h-a" || rec.Resultado.Cliente == nil || rec.Resultado.Cliente.ID != 7 {
		t.Fatalf("Begin(a) after FinishVarios = %+v, %v, %v; want done with customer 7", rec, started, err)
	}
	if rec, started, err := s.Begin(ctx, "b", "h-b", now.Add(time.Minute), time.Hour); err != nil || started || rec.Done {
		t.Fatalf("Begin(b) = %+v, %v, %v; want pending", rec, started, err)
	}
	// a's record expires and a new request takes the key over: a's
	// result is not its answer.
	later := now.Add(2 * time.Hour)
	if _, started, err := s.Begin(ctx, "a", "h-new", later, time.Hour); err != nil || !started {
		t.Fatalf("Begin(a) after expiry = %v, %v; want started", started, err)
	}
	if rec, started, err := s.Begin(ctx, "a", "h-new", later.Add(time.Second), time.Hour); err != nil || started || rec.Done {
		t.Fatalf("Begin(a) again = %+v, %v, %v; want the new request pending", rec, started, err)
	}
	if _, err := s.Expire(ctx, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []*mongo.Collection{s.coll, s.resultados} {
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("%s after Expire: %d documents, %v", coll.Name(), n, err)
		}
	}
}

// BenchmarkCrear times sequential creates through the service, with the
// records made by the command itself (sync) or by the relay in batches of
// up to 100 (diferido, the relay's rounds included), so the two paths
// compare on one database server.
func BenchmarkCrear(b *testing.B) {
	for _, diferir := range []bool{false, true} {
		name := "sync"
		if diferir {
			name = "diferido"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			db := fmt.Sprintf("%s_bench_%d", dbPrefix, dbSeq.Add(1))
			m, err := Connect(ctx, testURI(b), db)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { m.db.Drop(context.Background()); m.Close(context.Background()) }()
			deps := m.Deps(time.Hour, time.Now)
			deps.Diferir = diferir
			svc, err := handlers.NewService(deps)
			if err != nil {
				b.Fatal(err)
			}
			relay, err := handlers.NewRelay(handlers.Relay{Outbox: deps.Outbox, Publisher: &publisher{}, Now: time.Now, Lease: time.Minute,
				Batch: 100, Interval: time.Second,
				Registros: &handlers.Registros{Auditoria: deps.Auditoria, Reportes: deps.Reportes, Idempotency: deps.Idempotency}})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				d := storetest.Campos(i)
				if _, err := svc.Crear(ctx, handlers.Datos{DNI: &d.DNI, Nombre: &d.Nombre, Apellido: &d.Apellido, Email: &d.Email},
					handlers.Cambio{IdempotencyKey: fmt.Sprintf("crear-%d", i)}); err != nil {
					b.Fatal(err)
				}
				if (i+1)%100 == 0 || i == b.N-1 {
					for {
						n, err := relay.RunOnce(ctx)
						if err != nil {
							b.Fatal(err)
						}
						if n == 0 {
							break
						}
					}
				}
			}
		})
	}
}

// TestProjectorRoundTrips counts the commands the report projector sends
// per notice it folds, for creates and for updates, in lotes as the
// worker makes them (issue 15: the projector sent about 5 commands per
// create on FerretDB/SQLite, one lote every few notices). Before
// LoteLeido a create's notice cost 2 reads of its applied contribution
// and, on SQLite, a delete of its own; an update's a third read.
func TestProjectorRoundTrips(t *testing.T) {
	m, svc, relay, counter := monitoredService(t, newDatabase(t), &publisher{})
	ctx := testCtx(t)
	p, err := handlers.NewProjector(handlers.Projector{Store: m, Historial: m.Historial(), Reportes: m.Reportes(),
		Analizador: handlers.NewAnalizador(), Now: time.Now, Batch: 2000, Interval: time.Second, Takeover: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n, porLote = 64, 8
	ptr := func(s string) *string { return &s }
	// fold folds the notices the changes left, porLote at a time as
	// nudged rounds do under load, and returns the commands per notice
	// that each collection and the whole were sent.
	fold := func(what string) (map[string]int, float64) {
		drain(t, relay)
		avisos, err := m.Reportes().Avisos(ctx, 10*n)
		if err != nil || len(avisos) != n {
			t.Fatalf("%s: %d notices, %v; want %d", what, len(avisos), err, n)
		}
		// The notices the relay recorded, a lote's worth at a time.
		if _, err := m.db.Collection(avisosColl).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		counts, total := map[string]int{}, 0
		for i := 0; i < n; i += porLote {
			if err := m.Reportes().Avisar(ctx, avisos[i:i+porLote]...); err != nil {
				t.Fatal(err)
			}
			counter.takeColecc() // not the projector's
			if k, err := p.RunOnce(ctx); err != nil || k != porLote {
				t.Fatalf("%s: round folded %d, %v; want %d", what, k, err, porLote)
			}
			round, k := counter.takeColecc()
			for c, v := range round {
				counts[c] += v
			}
			total += k
		}
		t.Logf("%s: %.2f commands per notice (%s)", what, float64(total)/n, formatCounts(counts, n))
		return counts, float64(total) / n
	}
	ids := make([]int64, n)
	for i := range n {
		c := storetest.Campos(i)
		cl, err := svc.Crear(ctx, handlers.Datos{DNI: &c.DNI, Nombre: ptr("Ana"), Apellido: &c.Apellido, Email: &c.Email,
			Direccion: ptr("Jr. Junín 456 - Cusco")}, handlers.Cambio{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = cl.ID
	}
	creates, perCreate := fold("creates")
	actualizar := func(nombre, direccion string) {
		for i, id := range ids {
			c := storetest.Campos(i)
			if _, err := svc.Actualizar(ctx, id, handlers.Datos{DNI: &c.DNI, Nombre: &nombre, Apellido: &c.Apellido, Email: &c.Email,
				Direccion: &direccion}, handlers.Cambio{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	actualizar("Beto", "Calle Real 12, Huancayo, Junín")
	updates, perUpdate := fold("updates")
	actualizar("Carla", "Calle Real 12, Huancayo, Junín")
	// A name moves no report: the applied contributions stay as they are.
	quietas, _ := fold("updates of a name")
	for _, w := range []string{"update " + aplicadasColl, "insert " + aplicadasColl} {
		if quietas[w] > 0 {
			t.Errorf("updates of a name: %d %s, want none", quietas[w], w)
		}
	}

	// Per notice: its customer and its totals, once; its applied
	// contribution, read once (an update's also replaced); the notices
	// deleted with one command a lote where the lote was all there were.
	for _, c := range []struct {
		what   string
		counts map[string]int
		coll   string
		max    float64
	}{
		{"creates", creates, "find " + aplicadasColl, 1},
		{"updates", updates, "find " + aplicadasColl, 1},
		{"creates", creates, "delete " + avisosColl, 1.0 / porLote},
		{"updates", updates, "update " + aplicadasColl, 1},
		{"creates", creates, "find " + clientesColl, 1},
		{"creates", creates, "find " + resumenesColl, resumenesPorNotice(m, porLote)},
	} {
		if got := float64(c.counts[c.coll]) / n; got > c.max+0.01 {
			t.Errorf("%s: %.2f %s per notice, want at most %.2f", c.what, got, c.coll, c.max)
		}
	}
	// The rest is the lote's: its header and part, the counters, the
	// notices read; the last lote is not read after a lote of its own.
	perLote := float64(4 + len(handlers.Familias) + 4)
	if perCreate > 3+(perLote+0.5)/porLote || perUpdate > 4+(perLote+0.5)/porLote {
		t.Errorf("per notice: %.2f commands for a create, %.2f for an update; want at most %.2f and %.2f",
			perCreate, perUpdate, 3+(perLote+0.5)/porLote, 4+(perLote+0.5)/porLote)
	}
	var clientes []handlers.Cliente
	for _, id := range ids {
		c, err := m.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		clientes = append(clientes, c)
	}
	storetest.CheckContadoresSinCompras(t, m.Reportes(), clientes)
}

// resumenesPorNotice is the most reads of totals per notice in lotes of
// porLote customers of one group: one $in a lote but where groups are read.
func resumenesPorNotice(m *Mongo, porLote int) float64 {
	if m.modo == leerPorGrupos {
		return 1
	}
	return 1 / float64(porLote)
}
