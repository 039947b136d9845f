package repository

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/storetest"
)

// BenchmarkProyector times the report projector folding notices on the
// test server (embedded FerretDB/SQLite unless MONGODB_URI is set):
// BENCH_PROYECTOR_CLIENTES customers (default 5,000) imported in bulk with
// a notice each are folded in lotes of 2,000 (the worker's) from a
// backlog ("backlog"), then, each moved to another departamento, their
// notices again a few at a time, as rounds nudged under load fold them
// ("rondas", lotes of 16).
// It reports notices per second, and the process's CPU per notice in the
// small rounds (the embedded server's included); every counter is
// checked against a rebuild at the end.
//
//	go test -run '^$' -bench '^BenchmarkProyector$' -benchtime 1x ./repository/
func BenchmarkProyector(b *testing.B) {
	n := 5000
	if s := os.Getenv("BENCH_PROYECTOR_CLIENTES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("BENCH_PROYECTOR_CLIENTES: %q is not a size", s)
		}
	}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db := fmt.Sprintf("%s_bench_%d", dbPrefix, dbSeq.Add(1))
		m, err := Connect(ctx, testURI(b), db)
		if err != nil {
			b.Fatal(err)
		}
		first, err := m.ReservarIDs(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		var imp Importacion
		for i := range n {
			c := storetest.Campos(i)
			dir := []string{"Jr. Junín 456 - Cusco", "Av. Larco 1150, Trujillo, La Libertad", ""}[i%3]
			cl, err := handlers.Registrado(first+int64(i), handlers.Datos{DNI: &c.DNI, Nombre: &c.Nombre, Apellido: &c.Apellido,
				Email: &c.Email, Direccion: &dir}, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			imp.Clientes = append(imp.Clientes, cl)
		}
		if err := m.Importar(ctx, imp); err != nil {
			b.Fatal(err)
		}
		p, err := handlers.NewProjector(handlers.Projector{Store: m, Historial: m.Historial(), Reportes: m.Reportes(),
			Analizador: handlers.NewAnalizador(), Now: time.Now, Batch: 2000, Interval: time.Second, Takeover: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := p.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		backlog := time.Since(start)
		// Every customer moves to another departamento.
		if _, err := m.clientes.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "direccion", Value: "Jr. Lima 300, Puno"}}}}); err != nil {
			b.Fatal(err)
		}
		const porLote = 16
		var rondas, cpu time.Duration
		for from := 0; from < n; from += porLote {
			var avisos []handlers.Aviso
			for i := from; i < min(n, from+porLote); i++ {
				avisos = append(avisos, handlers.Aviso{ID: "r" + strconv.Itoa(i), ClienteID: first + int64(i)})
			}
			if err := m.Reportes().Avisar(ctx, avisos...); err != nil {
				b.Fatal(err)
			}
			start, cpu0 := time.Now(), cpuTime()
			if k, err := p.RunOnce(ctx); err != nil || k != len(avisos) {
				b.Fatalf("round folded %d, %v; want %d", k, err, len(avisos))
			}
			rondas, cpu = rondas+time.Since(start), cpu+cpuTime()-cpu0
		}
		b.StopTimer()
		b.ReportMetric(float64(n)/backlog.Seconds(), "backlog-notices/s")
		b.ReportMetric(float64(n)/rondas.Seconds(), "rondas-notices/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "rondas-cpu-µs/notice")
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = first + int64(i)
		}
		stored, err := m.GetVarios(ctx, ids)
		if err != nil || len(stored) != n {
			b.Fatalf("customers: %d, %v", len(stored), err)
		}
		storetest.CheckContadoresSinCompras(b, m.Reportes(), slices.Collect(maps.Values(stored)))
		m.db.Drop(ctx)
		m.Close(ctx)
		b.StartTimer()
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
