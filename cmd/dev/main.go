// Command dev runs the whole service in one process with nothing to
// install: an in-process Kafka-protocol broker (kfake), an embedded
// MongoDB-protocol server (FerretDB on SQLite, data under DEV_DATA_DIR),
// the worker and the edge. `make run` starts it.
//
// It also runs an OpenID issuer of its own on 127.0.0.1 (discovery and
// JWKS, key kept under DEV_DATA_DIR), points the edge at it, and writes an
// access token with every scope to DEV_DATA_DIR/dev-token.
//
// KAFKA_BROKERS, MONGODB_URI and AUTH_ISSUER, when set, replace the
// embedded broker, database and issuer, so the same stack runs against
// real infrastructure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/cmd/internal/devissuer"
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
	// IssuerAddr is fixed by default so that the issuer's URL, which
	// tokens carry, survives restarts along with its key.
	IssuerAddr string        `env:"DEV_ISSUER_ADDR" envDefault:"127.0.0.1:9096"`
	TokenTTL   time.Duration `env:"DEV_TOKEN_TTL" envDefault:"720h"`
}

// stack is where a running dev stack listens. TokenFile is empty when the
// issuer is not the stack's own (AUTH_ISSUER was set).
type stack struct {
	EdgeAddr, EdgeMetricsAddr, WorkerAddr, KafkaBrokers, MongoURI, Issuer, TokenFile string
}

func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	return start(ctx, environ, stderr, func(s stack) {
		bearer := fmt.Sprintf(`-H "Authorization: Bearer $(cat %s)"`, s.TokenFile)
		token := fmt.Sprintf("%s (every scope; others: go run ./cmd/devtoken -scopes clientes:leer)", s.TokenFile)
		if s.TokenFile == "" {
			bearer, token = `-H "Authorization: Bearer $TOKEN"`, "none: get one from "+s.Issuer
		}
		fmt.Fprintf(stdout, `
cliente dev stack ready
  API      http://%[1]s/cliente   (probes: /healthz /readyz)
  console  http://%[1]s/consola   (sign in with the token below)
  metrics  http://%[2]s/metrics (edge)   http://%[3]s/metrics (worker)
  kafka    %[4]s
  mongodb  %[5]s
  issuer   %[6]s
  token    %[7]s

Try:
  curl -i -X POST http://%[1]s/cliente %[8]s -H 'Content-Type: application/json' \
    -d '{"dni":"10117410","nombre":"Ana","apellido":"Quispe","email":"ana@example.pe","telefono":"987654321"}'
  curl -s http://%[1]s/cliente %[8]s

Ctrl-C stops it; data stays in the data folder.
`, s.EdgeAddr, s.EdgeMetricsAddr, s.WorkerAddr, s.KafkaBrokers, s.MongoURI, s.Issuer, token, bearer)
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

	var iss *devissuer.Issuer
	if envMap["AUTH_ISSUER"] == "" {
		var stopIssuer func()
		var err error
		iss, stopIssuer, err = startIssuer(dev)
		if err != nil {
			return err
		}
		defer stopIssuer()
		environ = append(environ, "AUTH_ISSUER="+iss.URL())
	}
	edgeCfg, err := config.Load[config.Edge](environ)
	if err != nil {
		return err
	}
	s.Issuer = edgeCfg.AuthIssuer
	if iss != nil {
		if s.TokenFile, err = writeDevToken(dev, iss, edgeCfg.AuthAudience); err != nil {
			return err
		}
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
		hooks := app.Hooks{Ready: partReady, Listening: func(a string) { mu.Lock(); *addr = a; mu.Unlock() },
			InternalListening: func(a string) { mu.Lock(); s.EdgeMetricsAddr = a; mu.Unlock() }}
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

// startIssuer serves the dev stack's OpenID issuer on dev.IssuerAddr with
// the key kept in the data folder (created on the first start).
func startIssuer(dev devConfig) (*devissuer.Issuer, func(), error) {
	if err := os.MkdirAll(dev.DataDir, 0o700); err != nil {
		return nil, nil, err
	}
	key, err := devissuer.LoadOrCreateKey(filepath.Join(dev.DataDir, devissuer.KeyFile))
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", dev.IssuerAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("dev issuer: listen %s (DEV_ISSUER_ADDR): %w", dev.IssuerAddr, err)
	}
	iss := devissuer.New("http://"+ln.Addr().String(), key)
	srv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return iss, func() { srv.Close() }, nil
}

// writeDevToken records the issuer for cmd/devtoken and writes a token
// with every scope, valid for dev.TokenTTL, to the data folder.
func writeDevToken(dev devConfig, iss *devissuer.Issuer, audience string) (string, error) {
	if err := devissuer.WriteInfo(dev.DataDir, devissuer.Info{Issuer: iss.URL(), Audience: audience}); err != nil {
		return "", err
	}
	tok, err := iss.Mint(devissuer.Claims{Subject: "dev", ClientID: "dev-stack", Audience: audience, Scopes: auth.AllScopes(), TTL: dev.TokenTTL})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dev.DataDir, devissuer.TokenFile)
	return path, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}
