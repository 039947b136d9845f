// Command benchload measures how much load the service sustains: open-loop
// constant-rate steps (vegeta) of lookups by id, DNI and email, creates,
// and a 90/10 mix, against the real infrastructure (edge and worker as
// separate processes, as deployed) or the `make run` stack. For every step
// it prints offered and achieved rate, share of 2xx, latency quantiles and
// the CPU time per request of every process in the path, read from /proc;
// then the highest sustained rate of each scenario and how long the
// system took to be normal again after its last step. `make bench-load`
// runs it; see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/prometheus/procfs"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/edgehttp"
)

func main() {
	app.Main("benchload", func(ctx context.Context) error { return run(ctx, os.Environ(), os.Stdout) })
}

// config is read from the environment (the Makefile passes it through).
type config struct {
	Target    string        `env:"BENCH_LOAD_TARGET" envDefault:"run"`
	Rates     []int         `env:"BENCH_LOAD_RATES" envDefault:"500,1000,2000,4000"`
	PostRates []int         `env:"BENCH_LOAD_POST_RATES" envDefault:"250,500,1000,2000"`
	Step      time.Duration `env:"BENCH_LOAD_STEP" envDefault:"10s"`
	Customers int           `env:"BENCH_LOAD_CUSTOMERS" envDefault:"1000"`
	Scenarios []string      `env:"BENCH_LOAD_SCENARIOS" envDefault:"get-id,get-dni,get-email,post,mix"`
	// RecoveryRate and RecoveryStep shape the low-rate step after each
	// scenario's last step.
	RecoveryRate int           `env:"BENCH_LOAD_RECOVERY_RATE" envDefault:"100"`
	RecoveryStep time.Duration `env:"BENCH_LOAD_RECOVERY_STEP" envDefault:"5s"`
	// Timeout bounds the whole run, seeding included.
	Timeout  time.Duration `env:"BENCH_LOAD_TIMEOUT" envDefault:"10m"`
	LogLevel string        `env:"BENCH_LOAD_LOG_LEVEL" envDefault:"warn"`
	BinDir   string        `env:"BENCH_LOAD_BIN" envDefault:"bin"`
	// The real infrastructure (make infra-up) for BENCH_LOAD_TARGET=infra.
	InfraDir     string `env:"INFRA_DIR" envDefault:".infra"`
	KafkaBrokers string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:19092"`
	MongoURI     string `env:"MONGODB_URI" envDefault:"mongodb://127.0.0.1:27018/"`
}

// requestTimeout is the load generator's own bound: above the edge's
// REQUEST_TIMEOUT (5 s), so the edge's answer is what it records.
const requestTimeout = 8 * time.Second

// rssSettle is how long the stack rests before its idle memory is read:
// long enough for the late answers of a step to end and for the worker and
// the edge to return freed memory (every 15 s, see app.returnMemory).
const rssSettle = 20 * time.Second

func run(ctx context.Context, environ []string, stdout io.Writer) error {
	var cfg config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return err
	}
	if cfg.Customers < 1 || len(cfg.Rates) == 0 || cfg.Step <= 0 {
		return errors.New("BENCH_LOAD_CUSTOMERS, BENCH_LOAD_RATES and BENCH_LOAD_STEP must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	logDir, err := os.MkdirTemp("", "benchload-")
	if err != nil {
		return err
	}
	var t *target
	switch cfg.Target {
	case "infra":
		t, err = startInfra(ctx, cfg, logDir)
	case "run":
		t, err = startRun(ctx, cfg, logDir)
	default:
		err = fmt.Errorf("BENCH_LOAD_TARGET %q: want infra or run", cfg.Target)
	}
	if err != nil {
		return err
	}
	defer func() {
		t.stop()
		os.RemoveAll(logDir)
	}()
	if err := edgehttp.LoopbackOnly(t.base); err != nil {
		return err
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return err
	}
	rss := []rssSample{idleRSS(fs, t.procs, "started, empty", 0)}
	customers, err := seed(ctx, t, cfg.Customers)
	if err != nil {
		return err
	}
	rss = append(rss, idleRSS(fs, t.procs, fmt.Sprintf("seeded, %v idle", rssSettle), rssSettle))
	self := proc{name: loadgen, pid: os.Getpid(), alone: true}
	procs := append(slices.Clone(t.procs), self)
	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = p.name
	}
	set := &scenarioSet{base: t.base, customers: customers,
		header: http.Header{"Authorization": {"Bearer " + t.token}, "Content-Type": {"application/json"}}}
	fmt.Fprintf(stdout, "benchload: target %s, %d customers, %v steps, load average %s\n", cfg.Target, cfg.Customers, cfg.Step, edgehttp.LoadAverage())

	var steps []step
	var recs []recovery
	for _, sc := range cfg.Scenarios {
		tr := set.targeter(sc)
		if tr == nil {
			return fmt.Errorf("BENCH_LOAD_SCENARIOS: unknown scenario %q", sc)
		}
		rates := cfg.Rates
		if sc == "post" {
			rates = cfg.PostRates
		}
		for i, rate := range rates {
			if ctx.Err() != nil {
				break
			}
			before := cpuOf(fs, procs)
			// Every step is followed by a low-rate step that starts the
			// moment it stops sending, while its late answers still come
			// in: after the scenario's last step it shows the recovery.
			recSamples := make(chan []sample, 1)
			go func() {
				select {
				case <-time.After(cfg.Step):
				case <-ctx.Done():
				}
				recSamples <- attack(ctx, set.get("id"), cfg.RecoveryRate, cfg.RecoveryStep, requestTimeout, sc+"-recovery")
			}()
			s := step{scenario: sc, offered: rate, duration: cfg.Step}
			s.samples = attack(ctx, tr, rate, cfg.Step, requestTimeout, sc)
			s.cpu = cpuDelta(before, cpuOf(fs, procs))
			steps = append(steps, s)
			st := summarize(s)
			rs := <-recSamples
			fmt.Fprintf(stdout, "  %-9s %5d/s: %5.0f/s sent, %6.2f %% 2xx, p50 %s p99 %s ms\n", sc, rate, st.achieved, 100*st.okRatio, ms(st.p50), ms(st.p99))
			overloaded := st.overloaded(rate, cfg.Step)
			if last := i == len(rates)-1 || overloaded; last && len(s.samples) > 0 {
				after, ok := recoveryTime(rs, s.samples[0].start.Add(cfg.Step), 250*time.Millisecond, cfg.RecoveryStep)
				recs = append(recs, recovery{scenario: sc, rate: cfg.RecoveryRate, after: after, ok: ok})
			}
			// Ramping on past an overloaded step measures nothing new and
			// leaves a backlog to the next scenario; past a step that only
			// missed the latency bar, the next one may still be sustained.
			if overloaded {
				break
			}
		}
	}
	if ctx.Err() == nil {
		rss = append(rss, idleRSS(fs, t.procs, fmt.Sprintf("after the load, %v idle", rssSettle), rssSettle))
	}
	fmt.Fprintln(stdout)
	printReport(stdout, names, steps, recs)
	printRSS(stdout, t.procs, rss)
	return ctx.Err()
}
