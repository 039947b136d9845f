package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/embedded"
)

// startService runs a worker loop over an in-memory store on an in-process
// broker, as topics/client's tests do, and returns the flags that reach it.
// Sales events go to sales, or to svc if sales is nil.
func startService(t *testing.T, svc *handlers.Service, sales topics.SalesService) []string {
	t.Helper()
	b, err := embedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	prefix := fmt.Sprintf("benchclient%d.", time.Now().UnixNano())
	cmd, qry, salesTopic := prefix+"comandos", prefix+"consultas", prefix+"ventas"
	if sales == nil {
		sales = svc
	}
	ctx, cancel := context.WithCancel(context.Background())
	setup, setupCancel := context.WithTimeout(ctx, 10*time.Second)
	defer setupCancel()
	if err := topics.EnsureTopics(setup, topics.Cluster{Brokers: b.Addrs()}, zerolog.Nop(),
		topics.TopicSpec{Name: cmd, Partitions: 2, ReplicationFactor: 1},
		topics.TopicSpec{Name: qry, Partitions: 2, ReplicationFactor: 1},
		topics.TopicSpec{Name: salesTopic, Partitions: 2, ReplicationFactor: 1}); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := topics.Chain(topics.Dispatcher(svc, topics.ServiceRequests), topics.Recover(zerolog.Nop()), topics.Observe(zerolog.Nop(), topics.NewWorkerMetrics(prometheus.NewRegistry())))
	consumers := []topics.ConsumerConfig{{Topic: cmd, Ordered: true, Handler: h}, {Topic: qry, Handler: h},
		{Topic: salesTopic, Ordered: true, LaneKey: topics.SalesEventLane, Handler: topics.SalesEvents(sales)}}
	var wg sync.WaitGroup
	for _, c := range consumers {
		c.Cluster, c.GroupID, c.Concurrency, c.Log, c.DrainTimeout = topics.Cluster{Brokers: b.Addrs()}, prefix+"g", 4, zerolog.Nop(), 5*time.Second
		wg.Add(1)
		go func() { defer wg.Done(); topics.Consume(ctx, c) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return []string{"-brokers", strings.Join(b.Addrs(), ","), "-commands", cmd, "-queries", qry, "-sales", salesTopic, "-events", "0",
		"-timeout", "5s", "-ready-wait", "20s", "-seed-wait", "20s", "-max-duration", "40s"}
}

func TestRunSmoke(t *testing.T) {
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now, Historial: memstore.NewHistorial()})
	args := append(startService(t, svc, nil), "-n", "20", "-warmup", "3", "-batch", "5", "-seed", "12", "-concurrency", "3", "-events", "400")
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"seeded       12 customers", "ValidarParaVenta(id)       20", "ObtenerVarios(5 ids)       20", "p50", "calls/s", "GOMAXPROCS",
		"sales events  400 events", "events/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if got, _ := svc.Listar(context.Background(), handlers.ConsultaClientes{}); len(got.Clientes) != 12 {
		t.Errorf("%d customers in the store, want the 12 seeded", len(got.Clientes))
	}
}

// A DNI an earlier run left behind answers "conflict"; the seeder draws
// another and counts the collision.
func TestSeedRedrawsTakenDNI(t *testing.T) {
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now})
	args := startService(t, svc, nil)
	brokers, cmd, qry := strings.Split(args[1], ","), args[3], args[5]
	now := time.Now()
	taken := newSeeder(nil, "earlier", time.Second, now).nextDNI() // the first DNI a seeder started at now draws
	nombre, email := "Earlier", "earlier@example.pe"
	if _, err := svc.Crear(context.Background(), handlers.Datos{DNI: &taken, Nombre: &nombre, Email: &email}, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := topics.NewRequester(ctx, topics.RequesterConfig{Cluster: topics.Cluster{Brokers: brokers}, CommandTopic: cmd, QueryTopic: qry,
		ReplyTopic: fmt.Sprintf("seedtest.%d", now.UnixNano()), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	res, err := newSeeder(req, "run", 5*time.Second, now).seed(ctx, 3, 20*time.Second, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Collisions != 1 || len(res.Customers) != 3 {
		t.Fatalf("collisions %d, customers %d; want 1 and 3", res.Collisions, len(res.Customers))
	}
	for _, c := range res.Customers {
		if c.DNI == taken || !c.Activo {
			t.Errorf("seeded %+v", c)
		}
	}
}

// lossyStore drops one customer from every ObtenerVarios answer (a
// listing by ids).
type lossyStore struct{ *memstore.Store }

func (s lossyStore) List(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	got, err := s.Store.List(ctx, f)
	if f.IDs != nil && len(got) > 0 {
		got = got[1:]
	}
	return got, err
}

// inactiveStore says every customer it looks up by id is inactive.
type inactiveStore struct{ *memstore.Store }

func (s inactiveStore) Get(ctx context.Context, id int64) (handlers.Cliente, error) {
	c, err := s.Store.Get(ctx, id)
	c.Activo = false
	return c, err
}

// lossySales drops every sale of 1.07 PEN.
type lossySales struct{ *handlers.Service }

func (s lossySales) RegistrarVenta(ctx context.Context, d handlers.DatosVenta) (handlers.ResultadoVenta, error) {
	if d.Total != nil && *d.Total == "1.07" {
		return handlers.ResultadoVenta{Resultado: handlers.VentaAplicada}, nil
	}
	return s.Service.RegistrarVenta(ctx, d)
}

func TestRunFailsOnWrongTotals(t *testing.T) {
	svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now, Historial: memstore.NewHistorial()})
	args := append(startService(t, svc, lossySales{svc}), "-n", "2", "-warmup", "0", "-batch", "2", "-seed", "4", "-events", "40", "-events-wait", "2s")
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	if err == nil || !strings.Contains(err.Error(), "totals still wrong") || strings.Contains(out.String(), "events/s") {
		t.Fatalf("run = %v, want the wrong totals reported and no figure\n%s", err, out.String())
	}
}

// A benchmark of wrong answers must fail, not print figures.
func TestRunFailsOnWrongAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *handlers.Service
		want string
	}{
		{"ObtenerVarios short of customers", memstore.Service(handlers.Deps{Store: lossyStore{memstore.New()}}), "returned 4 customers, want 5"},
		{"ValidarParaVenta not active", memstore.Service(handlers.Deps{Store: inactiveStore{memstore.New()}}), "customer is inactive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(startService(t, tc.svc, nil), "-n", "5", "-warmup", "0", "-batch", "5", "-seed", "5")
			var out bytes.Buffer
			err := run(context.Background(), args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error containing %q\n%s", err, tc.want, out.String())
			}
			if strings.Contains(out.String(), "calls/s") {
				t.Errorf("a failed run printed a table:\n%s", out.String())
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" means valid
	}{
		{[]string{"-brokers", "127.0.0.1:19092"}, ""},
		{[]string{"-brokers", "localhost:9092", "-batch", "200", "-seed", "200"}, ""},
		{[]string{"-brokers", "127.0.0.1:9092", "-batch", "60", "-seed", "50"}, "less than -batch"},
		{[]string{"-brokers", "127.0.0.1:9092", "-batch", "201", "-seed", "300"}, "-batch must be"},
		{[]string{"-brokers", "127.0.0.1:9092", "-n", "0"}, "at least 1"},
		{[]string{"-brokers", "127.0.0.1:9092", "-timeout", "0s"}, "positive"},
		{[]string{"-brokers", "192.0.2.10:9092"}, "not a loopback address"},
		{[]string{"-brokers", " , "}, "no brokers"},
	} {
		_, err := parseFlags(tc.args)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("parseFlags(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
