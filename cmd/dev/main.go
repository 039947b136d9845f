// Command dev runs the whole service in one process with nothing to
// install: an in-process Kafka-protocol broker (kfake), an embedded
// MongoDB-protocol server (FerretDB on SQLite, data under DEV_DATA_DIR),
// the worker and the edge. `make run` starts it.
//
// KAFKA_BROKERS and MONGODB_URI, when set, replace the embedded broker and
// database, so the same stack runs against real infrastructure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/repository/embedded"
	kafkaembedded "github.com/jea/cliente/topics/embedded"
)

func main() {
	app.Main("dev", func(ctx context.Context) error { return run(ctx, os.Environ(), os.Stdout, os.Stderr) })
}

// devConfig are the settings of the dev stack itself; the worker and the
// edge read theirs as usual (HTTP_ADDR is the edge's).
type devConfig struct {
	DataDir        string `env:"DEV_DATA_DIR" envDefault:".data"`
	KafkaPort      int    `env:"DEV_KAFKA_PORT" envDefault:"9092"`
	WorkerHTTPAddr string `env:"DEV_WORKER_HTTP_ADDR" envDefault:"127.0.0.1:9091"`
	LogFormat      string `env:"DEV_LOG_FORMAT" envDefault:"console"`
}

// stack is where a running dev stack listens.
type stack struct {
	EdgeAddr, WorkerAddr, KafkaBrokers, MongoURI string
}

func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	return start(ctx, environ, stderr, func(s stack) {
		fmt.Fprintf(stdout, `
cliente dev stack ready
  API      http://%[1]s/cliente   (metrics: /metrics, probes: /healthz /readyz)
  worker   http://%[2]s/metrics
  kafka    %[3]s
  mongodb  %[4]s

Try:
  curl -i -X POST http://%[1]s/cliente -H 'Content-Type: application/json' \
    -d '{"dni":"10117410","nombre":"Ana","apellido":"Quispe","email":"ana@example.pe","telefono":"987654321"}'
  curl -s http://%[1]s/cliente

Ctrl-C stops it; data stays in the data folder.
`, s.EdgeAddr, s.WorkerAddr, s.KafkaBrokers, s.MongoURI)
	})
}

// start brings the stack up, calls ready once every part serves, and runs
// until ctx ends.
func start(ctx context.Context, environ []string, logOut io.Writer, ready func(stack)) error {
	envMap := env.ToMap(environ)
	var dev devConfig
	if err := env.ParseWithOptions(&dev, env.Options{Environment: envMap}); err != nil {
		return err
	}
	var logW io.Writer = logOut
	if dev.LogFormat == "console" {
		logW = zerolog.ConsoleWriter{Out: logOut, TimeFormat: time.TimeOnly}
	}

	var s stack
	if envMap["KAFKA_BROKERS"] == "" {
		broker, err := kafkaembedded.Start(dev.KafkaPort)
		if err != nil {
			return err
		}
		defer broker.Close()
		environ = append(environ, "KAFKA_BROKERS="+strings.Join(broker.Addrs(), ","))
	}
	if envMap["MONGODB_URI"] == "" {
		db, err := embedded.Start(ctx, embedded.Options{Dir: filepath.Join(dev.DataDir, "ferretdb")})
		if err != nil {
			return err
		}
		defer db.Close()
		environ = append(environ, "MONGODB_URI="+db.URI())
	}

	edgeCfg, err := config.Load[config.Edge](environ)
	if err != nil {
		return err
	}
	if edgeCfg.ReplyTopic == "" {
		edgeCfg.ReplyTopic = "cliente.respuestas.dev"
	}
	workerCfg, err := config.Load[config.Worker](append(environ, "HTTP_ADDR="+dev.WorkerHTTPAddr))
	if err != nil {
		return err
	}
	s.KafkaBrokers, s.MongoURI = strings.Join(workerCfg.Brokers, ","), workerCfg.MongoURI

	// One registry for both parts: their metric names do not overlap.
	reg := app.NewRegistry()
	metrics := app.Metrics{Registerer: reg, Gatherer: reg}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		readyN  int
		runCtx  context.Context
		stopAll context.CancelFunc
	)
	runCtx, stopAll = context.WithCancel(ctx)
	defer stopAll()
	partReady := func() {
		mu.Lock()
		defer mu.Unlock()
		if readyN++; readyN == 2 {
			ready(s)
		}
	}
	launch := func(name string, fn func(zerolog.Logger, app.Hooks) error, addr *string) {
		log, err := app.NewLogger(logW, workerCfg.LogLevel, name)
		if err != nil {
			errs = append(errs, err)
			return
		}
		hooks := app.Hooks{Ready: partReady, Listening: func(a string) { mu.Lock(); *addr = a; mu.Unlock() }}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(log, hooks); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
				stopAll() // one part failing stops the stack
			}
		}()
	}
	launch("cliente-worker", func(log zerolog.Logger, h app.Hooks) error {
		return app.RunWorker(runCtx, workerCfg, log, metrics, h)
	}, &s.WorkerAddr)
	launch("cliente-edge", func(log zerolog.Logger, h app.Hooks) error {
		return app.RunEdge(runCtx, edgeCfg, log, metrics, h)
	}, &s.EdgeAddr)
	wg.Wait()
	return errors.Join(errs...)
}
