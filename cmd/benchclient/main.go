// Command benchclient measures the round-trip latency of the Go client
// (topics/client) that a sales service uses, on a running broker and
// worker: ValidarParaVenta(id) of active customers and ObtenerVarios of a
// batch of ids. It seeds its own customers through cliente.crear, checks
// every answer (a wrong answer fails the run) and prints p50/p90/p99, max
// and calls per second. It only targets brokers on this machine, and every
// call and the whole run are bounded in time.
//
//	make bench-client   # starts the dev stack on the real Kafka and FerretDB, runs it, stops the stack
//	go run ./cmd/benchclient -brokers 127.0.0.1:19092 -n 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/edgehttp"
	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
	"github.com/jea/cliente/topics/client"
)

func main() {
	app.Main("benchclient", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

// options are the command line flags.
type options struct {
	brokers          []string
	cluster          topics.Cluster
	commands         string
	queries          string
	n, warmup        int
	batch, seedCount int
	concurrency      int
	timeout          time.Duration
	readyWait        time.Duration
	seedWait         time.Duration
	maxDuration      time.Duration
	// events sales events are written to salesTopic, and the time until
	// the worker applied them all is measured; 0 skips that phase.
	events     int
	salesTopic string
	eventsWait time.Duration
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("benchclient", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated brokers (loopback only); default $KAFKA_BROKERS")
	var o options
	fs.StringVar(&o.commands, "commands", topics.DefaultCommandTopic, "command topic the worker consumes")
	fs.StringVar(&o.queries, "queries", topics.DefaultQueryTopic, "query topic the worker consumes")
	fs.IntVar(&o.n, "n", 1000, "measured calls per scenario")
	fs.IntVar(&o.warmup, "warmup", 50, "unmeasured calls per scenario before measuring")
	fs.IntVar(&o.batch, "batch", 50, "ids per ObtenerVarios call")
	fs.IntVar(&o.seedCount, "seed", 200, "customers to create first (at least -batch)")
	fs.IntVar(&o.concurrency, "concurrency", 1, "calls in flight; 1 (sequential) gives latency, more a throughput view")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound of each call")
	fs.DurationVar(&o.readyWait, "ready-wait", 2*time.Minute, "how long to wait for the service's first answer")
	fs.DurationVar(&o.seedWait, "seed-wait", time.Minute, "bound of seeding once the service answers")
	fs.DurationVar(&o.maxDuration, "max-duration", 10*time.Minute, "bound of the whole run")
	fs.IntVar(&o.events, "events", 10_000, "sales events to apply and time after the latency scenarios; 0 skips them")
	fs.StringVar(&o.salesTopic, "sales", topics.DefaultSalesEventsTopic, "sales events topic the worker consumes")
	fs.DurationVar(&o.eventsWait, "events-wait", 5*time.Minute, "bound of applying the sales events")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	switch {
	case len(o.brokers) == 0:
		return o, errors.New("no brokers: give -brokers or KAFKA_BROKERS")
	case o.events < 0 || o.eventsWait <= 0:
		return o, errors.New("-events must not be negative, -events-wait must be positive")
	case o.n < 1 || o.warmup < 0 || o.concurrency < 1:
		return o, errors.New("-n and -concurrency must be at least 1, -warmup at least 0")
	case o.batch < 1 || o.batch > handlers.MaxIDs:
		return o, fmt.Errorf("-batch must be 1 to %d (handlers.MaxIDs)", handlers.MaxIDs)
	case o.seedCount < o.batch:
		return o, fmt.Errorf("-seed %d is less than -batch %d: a batch needs distinct existing ids", o.seedCount, o.batch)
	case o.timeout <= 0 || o.readyWait <= 0 || o.seedWait <= 0 || o.maxDuration <= 0:
		return o, errors.New("durations must be positive")
	}
	if err := loopbackOnly(o.brokers); err != nil {
		return o, err
	}
	// Credentials only from the environment, never on the command line.
	var err error
	o.cluster, err = topics.NewCluster(o.brokers, topics.SASLFromEnv(os.Getenv))
	return o, err
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// loopbackOnly refuses remote brokers: the run creates customers in
// whatever database the worker behind them uses.
func loopbackOnly(brokers []string) error {
	for _, b := range brokers {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("broker %q: %w", b, err)
		}
		ips, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("broker %q: %w", b, err)
		}
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return fmt.Errorf("broker %s is not a loopback address: benchclient only targets this machine", b)
			}
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()

	start := time.Now()
	runID := strconv.FormatInt(start.UnixNano(), 36)
	// One reply topic per run: the seeder reads it first, then the client,
	// which starts at its end and so never sees the seeder's replies.
	replyTopic := "cliente.respuestas.benchclient." + runID
	loadBefore := edgehttp.LoadAverage()
	fmt.Fprintf(stdout, "benchclient: Go client topics/client, Kafka request/reply round trips\n")
	fmt.Fprintf(stdout, "  brokers      %s (commands %s, queries %s)\n", strings.Join(o.brokers, ","), o.commands, o.queries)
	fmt.Fprintf(stdout, "  replies      %s\n", replyTopic)
	fmt.Fprintf(stdout, "  runtime      %s %s/%s, GOMAXPROCS %d, NumCPU %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	if loadBefore != "" {
		fmt.Fprintf(stdout, "  load avg     %s (1/5/15 min) at the start\n", loadBefore)
	}

	startCtx, cancelStart := context.WithTimeout(ctx, o.readyWait)
	req, err := topics.NewRequester(startCtx, topics.RequesterConfig{
		Cluster: o.cluster, CommandTopic: o.commands, QueryTopic: o.queries, ReplyTopic: replyTopic, Log: zerolog.Nop(),
	})
	cancelStart()
	if err != nil {
		return fmt.Errorf("seeding requester: %w", err)
	}
	seeded, err := newSeeder(req, runID, o.timeout, start).seed(ctx, o.seedCount, o.readyWait, o.seedWait)
	req.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  seeded       %d customers in %v (first answer after %v, %d DNI collisions)\n",
		len(seeded.Customers), seeded.Took.Round(time.Millisecond), seeded.FirstAnswer.Round(time.Millisecond), seeded.Collisions)
	fmt.Fprintf(stdout, "  measuring    %d calls per scenario after %d warm-up, concurrency %d, batch %d, timeout %v\n\n",
		o.n, o.warmup, o.concurrency, o.batch, o.timeout)

	startCtx, cancelStart = context.WithTimeout(ctx, o.readyWait)
	cl, err := client.New(startCtx, client.Config{
		Cluster: o.cluster, CommandTopic: o.commands, QueryTopic: o.queries, ReplyTopic: replyTopic,
		Timeout: o.timeout, Log: zerolog.Nop(),
	})
	cancelStart()
	if err != nil {
		return err
	}
	defer cl.Close()

	scenarios := []scenario{validarParaVenta(cl, seeded.Customers), obtenerVarios(cl, seeded.Customers, o.batch)}
	rows := make([]summary, len(scenarios))
	for i, sc := range scenarios {
		if _, _, err := callMany(ctx, sc.call, 0, o.warmup, o.concurrency); err != nil {
			return fmt.Errorf("%s warm-up: %w", sc.name, err)
		}
		lat, wall, err := callMany(ctx, sc.call, o.warmup, o.n, o.concurrency)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rows[i] = summarize(lat, wall)
	}

	printTable(stdout, scenarios, rows)
	if o.events > 0 {
		w := topics.NewSalesEventWriter(o.cluster, o.salesTopic)
		defer w.Close()
		load := newSalesLoad(seeded.Customers, runID, o.events, start)
		res, err := applySales(ctx, cl, w, load, o.eventsWait)
		if err != nil {
			return err
		}
		printEvents(stdout, load, res)
	}
	if loadBefore != "" {
		fmt.Fprintf(stdout, "\n  load avg     %s (1/5/15 min) at the end\n", edgehttp.LoadAverage())
	}
	return nil
}

// scenario is one kind of call. call makes call number i, checks its
// answer, and returns the latency of the client call alone.
type scenario struct {
	name string
	call func(ctx context.Context, i int) (time.Duration, error)
}

// validarParaVenta cycles through the seeded customers, so the reads are
// not all of one document.
func validarParaVenta(cl *client.Client, customers []handlers.Cliente) scenario {
	return scenario{name: "ValidarParaVenta(id)", call: func(ctx context.Context, i int) (time.Duration, error) {
		want := customers[i%len(customers)]
		t0 := time.Now()
		got, err := cl.ValidarParaVenta(ctx, want.ID)
		d := time.Since(t0)
		switch {
		case err != nil:
			return d, fmt.Errorf("call %d, customer %d: %w", i, want.ID, err)
		case got.ID != want.ID || got.DNI != want.DNI || !got.Activo:
			return d, fmt.Errorf("call %d: ValidarParaVenta(%d) = %+v, want active customer with DNI %s", i, want.ID, got, want.DNI)
		}
		return d, nil
	}}
}

// obtenerVarios asks for batch consecutive seeded customers, starting one
// batch further on each call (wrapping around), so every id in a batch is
// distinct and exists.
func obtenerVarios(cl *client.Client, customers []handlers.Cliente, batch int) scenario {
	return scenario{name: fmt.Sprintf("ObtenerVarios(%d ids)", batch), call: func(ctx context.Context, i int) (time.Duration, error) {
		want := make([]handlers.Cliente, batch)
		ids := make([]int64, batch)
		for k := range batch {
			want[k] = customers[(i*batch+k)%len(customers)]
			ids[k] = want[k].ID
		}
		t0 := time.Now()
		got, err := cl.ObtenerVarios(ctx, ids)
		d := time.Since(t0)
		if err != nil {
			return d, fmt.Errorf("call %d: %w", i, err)
		}
		if len(got) != batch {
			return d, fmt.Errorf("call %d: ObtenerVarios returned %d customers, want %d", i, len(got), batch)
		}
		for _, w := range want {
			if c, ok := got[w.ID]; !ok || c.DNI != w.DNI {
				return d, fmt.Errorf("call %d: ObtenerVarios: customer %d = %+v (present %v), want DNI %s", i, w.ID, c, ok, w.DNI)
			}
		}
		return d, nil
	}}
}

// callMany makes calls first..first+count-1 with concurrency of them in
// flight, and returns their latencies and the wall time. The first failure
// stops the others and is returned.
func callMany(ctx context.Context, call func(context.Context, int) (time.Duration, error), first, count, concurrency int) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		all      = make([]time.Duration, 0, count)
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range min(concurrency, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, count/concurrency+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= count || ctx.Err() != nil {
					break
				}
				d, err := call(ctx, first+i)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					break
				}
				own = append(own, d)
			}
			mu.Lock()
			all = append(all, own...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil && len(all) != count {
		firstErr = fmt.Errorf("%d of %d calls made", len(all), count)
	}
	return all, wall, firstErr
}

func printTable(w io.Writer, scenarios []scenario, rows []summary) {
	const row = "%-22s %6v %9v %9v %9v %9v %8v\n"
	fmt.Fprintf(w, row, "scenario", "n", "p50", "p90", "p99", "max", "calls/s")
	for i, r := range rows {
		fmt.Fprintf(w, row, scenarios[i].name, r.N, roundLatency(r.P50), roundLatency(r.P90), roundLatency(r.P99), roundLatency(r.Max),
			strconv.FormatFloat(r.PerSecond, 'f', 0, 64))
	}
}

// roundLatency keeps three significant figures or so, like cmd/bench.
func roundLatency(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
