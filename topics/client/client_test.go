package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
	"github.com/jea/cliente/topics/embedded"
)

// demo is a customer service (worker loop over an in-memory store) on a
// broker: KAFKA_BROKERS when set, else an in-process kfake.
type demo struct {
	brokers       topics.Cluster
	prefix        string
	svc           *handlers.Service
	stop          func()
	cmd, qry, adm string
}

func startDemo() (*demo, error) {
	d := &demo{prefix: fmt.Sprintf("client%d.", time.Now().UnixNano())}
	var closers []func()
	if os.Getenv("KAFKA_BROKERS") != "" {
		c, err := topics.ClusterFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		d.brokers = c
	} else {
		b, err := embedded.Start(0)
		if err != nil {
			return nil, err
		}
		closers = append(closers, b.Close)
		d.brokers = topics.Cluster{Brokers: b.Addrs()}
	}
	d.cmd, d.qry, d.adm = d.prefix+"comandos", d.prefix+"consultas", d.prefix+"admin"
	ctx, cancel := context.WithCancel(context.Background())
	setup, setupCancel := context.WithTimeout(ctx, 30*time.Second)
	defer setupCancel()
	if err := topics.EnsureTopics(setup, d.brokers, zerolog.Nop(),
		topics.TopicSpec{Name: d.cmd, Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: d.qry, Partitions: 3, ReplicationFactor: 1},
		topics.TopicSpec{Name: d.adm, Partitions: 1, ReplicationFactor: 1}); err != nil {
		cancel()
		return nil, err
	}
	d.svc = memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now})
	metrics := topics.NewWorkerMetrics(prometheus.NewRegistry())
	h := func(served topics.Requests) topics.Handler {
		return topics.Chain(topics.Dispatcher(d.svc, served), topics.Recover(zerolog.Nop()), topics.Observe(zerolog.Nop(), metrics))
	}
	var wg sync.WaitGroup
	for _, c := range []topics.ConsumerConfig{
		{Topic: d.cmd, Ordered: true, Handler: h(topics.ServiceRequests)},
		{Topic: d.qry, Handler: h(topics.ServiceRequests)},
		{Topic: d.adm, Ordered: true, Handler: h(topics.AdminRequests)},
	} {
		c.Cluster, c.GroupID, c.Concurrency, c.Log, c.DrainTimeout = d.brokers, d.prefix+"g", 4, zerolog.Nop(), 5*time.Second
		wg.Add(1)
		go func() { defer wg.Done(); topics.Consume(ctx, c) }()
	}
	d.stop = func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			c()
		}
	}
	return d, nil
}

func (d *demo) newClient(ctx context.Context, timeout time.Duration) (*client.Client, error) {
	return client.New(ctx, client.Config{
		Cluster: d.brokers, CommandTopic: d.cmd, QueryTopic: d.qry, AdminTopic: d.adm,
		ReplyTopic: d.prefix + fmt.Sprintf("respuestas.%d", time.Now().UnixNano()), Timeout: timeout, Log: zerolog.Nop(),
	})
}

func ptr[T any](v T) *T { return &v }

func (d *demo) create(t *testing.T, dni string) handlers.Cliente {
	t.Helper()
	c, err := d.svc.Crear(context.Background(), handlers.Datos{DNI: &dni, Nombre: ptr("Ana"), Email: ptr(dni + "@example.pe")}, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startWithClient starts a demo and a client of it, both stopped when t
// ends, and a context for the test's calls.
func startWithClient(t *testing.T) (*demo, *client.Client, context.Context) {
	t.Helper()
	d, err := startDemo()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cl, err := d.newClient(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return d, cl, ctx
}

func TestClient(t *testing.T) {
	d, cl, ctx := startWithClient(t)

	active := d.create(t, "10117410")
	inactive := d.create(t, "20000000")
	if _, err := d.svc.Eliminar(ctx, inactive.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}

	t.Run("validar: active", func(t *testing.T) {
		got, err := cl.ValidarParaVenta(ctx, active.ID)
		if err != nil || got.ID != active.ID {
			t.Fatalf("= %+v, %v", got, err)
		}
	})
	t.Run("validar: inactive", func(t *testing.T) {
		got, err := cl.ValidarParaVenta(ctx, inactive.ID)
		if !errors.Is(err, client.ErrInactive) || got.ID != inactive.ID {
			t.Fatalf("= %+v, %v; want ErrInactive with the customer", got, err)
		}
	})
	t.Run("validar: missing", func(t *testing.T) {
		if _, err := cl.ValidarParaVenta(ctx, 999_999); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("obtener and por dni", func(t *testing.T) {
		if got, err := cl.Obtener(ctx, inactive.ID); err != nil || got.Activo {
			t.Fatalf("Obtener = %+v, %v", got, err)
		}
		if got, err := cl.ObtenerPorDNI(ctx, "10117410-2"); err != nil || got.ID != active.ID {
			t.Fatalf("ObtenerPorDNI = %+v, %v", got, err)
		}
		if _, err := cl.Obtener(ctx, 424242); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
	t.Run("obtener varios in one request", func(t *testing.T) {
		got, err := cl.ObtenerVarios(ctx, []int64{inactive.ID, active.ID, 999_999, active.ID})
		if err != nil || len(got) != 2 || got[active.ID].DNI != active.DNI || got[inactive.ID].Activo {
			t.Fatalf("= %+v, %v", got, err)
		}
		if got, err := cl.ObtenerVarios(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("no ids = %+v, %v", got, err)
		}
		tooMany := make([]int64, handlers.MaxIDs+1)
		for i := range tooMany {
			tooMany[i] = int64(i + 1)
		}
		if _, err := cl.ObtenerVarios(ctx, tooMany); handlers.ErrorCode(err) != handlers.CodeInvalid || errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("too many ids: %v, want invalid", err)
		}
	})
	t.Run("concurrent use", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := active.ID
				if i%2 == 1 {
					id = inactive.ID
				}
				got, err := cl.ValidarParaVenta(ctx, id)
				switch {
				case id == active.ID && (err != nil || got.ID != id):
					errs <- fmt.Errorf("active: %+v, %v", got, err)
				case id == inactive.ID && !errors.Is(err, client.ErrInactive):
					errs <- fmt.Errorf("inactive: %v", err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// With nobody answering, every call fails as unavailable: never a made-up
// customer, never a "valid".
func TestClientUnavailable(t *testing.T) {
	b, err := embedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &demo{brokers: topics.Cluster{Brokers: b.Addrs()}, prefix: "nobody.", cmd: "nobody.comandos", qry: "nobody.consultas"}
	if err := topics.EnsureTopics(ctx, d.brokers, zerolog.Nop(),
		topics.TopicSpec{Name: d.cmd, Partitions: 1, ReplicationFactor: 1},
		topics.TopicSpec{Name: d.qry, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	cl, err := d.newClient(ctx, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, err := cl.ValidarParaVenta(ctx, 1)
	if !errors.Is(err, client.ErrUnavailable) || got.ID != 0 {
		t.Fatalf("= %+v, %v; want ErrUnavailable and no customer", got, err)
	}
	if _, err := cl.ObtenerVarios(ctx, []int64{1, 2}); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("ObtenerVarios: %v", err)
	}
}
