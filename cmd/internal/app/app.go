// Package app holds the composition roots of the worker and the edge: it
// builds their dependencies from configuration and runs them until their
// context ends. cmd/worker, cmd/edge and cmd/dev are thin mains over it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
)

// NewLogger builds the JSON logger every process uses.
func NewLogger(w interface{ Write([]byte) (int, error) }, level, service string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.Logger{}, fmt.Errorf("LOG_LEVEL %q is not a level", level)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger(), nil
}

// NewRegistry returns a metrics registry with the Go runtime and process
// collectors, never the global default one.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics is the registry a process registers on and serves.
type Metrics struct {
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Hooks let callers (tests, the dev stack) learn where a process listens
// and when it is ready. Both are optional.
type Hooks struct {
	Listening func(addr string)
	// InternalListening reports the edge's internal (metrics) listener.
	InternalListening func(addr string)
	Ready             func()
}

func (h Hooks) listening(addr string) {
	if h.Listening != nil {
		h.Listening(addr)
	}
}

func (h Hooks) ready() {
	if h.Ready != nil {
		h.Ready()
	}
}

// readiness is a check that fails until set.
type readiness struct {
	check atomic.Pointer[func(context.Context) error]
}

func (r *readiness) set(check func(context.Context) error) { r.check.Store(&check) }

func (r *readiness) Check(ctx context.Context) error {
	c := r.check.Load()
	if c == nil {
		return errors.New("starting")
	}
	return (*c)(ctx)
}

// serveHTTP listens on addr and serves h until ctx ends, then shuts down
// gracefully within timeout. It reports the bound address through hooks.
// wait blocks until the server is down; stop shuts it down at once (for a
// process whose start-up failed) and returns what wait would.
func serveHTTP(ctx context.Context, addr string, h http.Handler, timeout time.Duration, log zerolog.Logger, hooks Hooks) (wait, stop func() error, err error) {
	ctx, cancel := context.WithCancel(ctx)
	serving, err := serveUntil(ctx, addr, h, timeout, log, hooks)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return func() error { defer cancel(); return serving() }, func() error { cancel(); return serving() }, nil
}

func serveUntil(ctx context.Context, addr string, h http.Handler, timeout time.Duration, log zerolog.Logger, hooks Hooks) (wait func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hooks.listening(ln.Addr().String())
	log.Info().Str("addr", ln.Addr().String()).Msg("http listening")
	errc := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	return func() error {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		// Drain in-flight requests within the bound, then cut the rest.
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
			return fmt.Errorf("http shutdown: %w", err)
		}
		return <-errc
	}, nil
}

// Main is the body of every main function: it runs fn with a context that
// ends on SIGINT or SIGTERM, and exits 1 with the error if fn fails.
func Main(name string, fn func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := fn(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Process is the body of a binary's run function: it loads the
// configuration from environ, builds the logger and the metrics registry,
// and runs serve until ctx ends.
func Process[C interface{ Level() string }](ctx context.Context, environ []string, stdout io.Writer, service string,
	load func([]string) (C, error), serve func(context.Context, C, zerolog.Logger, Metrics, Hooks) error) error {
	cfg, err := load(environ)
	if err != nil {
		return err
	}
	log, err := NewLogger(stdout, cfg.Level(), service)
	if err != nil {
		return err
	}
	reg := NewRegistry()
	go returnMemory(ctx, returnMemoryEvery)
	return serve(ctx, cfg, log, Metrics{Registerer: reg, Gatherer: reg}, Hooks{})
}

// returnMemoryEvery is how often a process hands its freed heap back.
const returnMemoryEvery = 15 * time.Second

// returnMemory collects and returns freed memory to the OS every interval
// until ctx ends. After a burst (an overload step leaves a thousand
// requests' buffers behind) an idle Go process runs no collection for up
// to two minutes and its scavenger returns pages slowly, so its resident
// memory stays at the burst's peak (138 MiB measured on the edge, 10 s
// after the load). A collection of a heap of a few MiB costs about a
// millisecond of CPU.
func returnMemory(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			debug.FreeOSMemory()
		}
	}
}
