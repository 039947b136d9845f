// Package embedded runs FerretDB inside the process: a MongoDB-compatible
// server on a random local port, storing its data in SQLite files under a
// directory or in a PostgreSQL database. It is for tests and for machines
// without MongoDB; production uses a real MongoDB server.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

const (
	// startTimeout bounds how long Start waits for the server to answer.
	startTimeout = 15 * time.Second
	// stopTimeout bounds how long Close waits for the server to stop.
	stopTimeout = 10 * time.Second
)

// Options choose the storage of the server: exactly one of Dir and
// PostgreSQLURL must be set.
type Options struct {
	// Dir holds the SQLite files, one per database; it is created if
	// missing. Starting again on the same directory finds the same data.
	// What was committed survives the process being killed, but not the
	// machine losing power (see Start).
	Dir string
	// PostgreSQLURL, e.g. "postgres://user@127.0.0.1:5432/ferretdb", selects
	// the PostgreSQL backend instead.
	PostgreSQLURL string
	// Logger receives FerretDB's logs. If nil, only its reports of bugs
	// (recovered panics, above ERROR) are kept, and go to the handler of
	// slog.Default() as it is when Start is called. The rest is noise for
	// an embedding program, and leaks data: FerretDB logs every error
	// reply (a duplicate key, say) at WARN with a dump of the whole
	// message, customer data included, and on PostgreSQL every failed
	// query at ERROR with its arguments. The client gets the same errors
	// in its replies anyway.
	Logger *slog.Logger
}

// Server is a running embedded FerretDB.
type Server struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
	// ids, on SQLite, keeps the _id lookup indexes (see idindex.go); its
	// loop ends before done is closed.
	ids *idIndexer
}

// Start starts a server listening on 127.0.0.1 on a free port and returns
// once it answers a MongoDB ping, or fails after a bounded wait.
//
// FerretDB's embedded mode never starts its telemetry reporter (it also
// marks telemetry disabled and locked); it makes no network calls besides
// its listener and the PostgreSQL connection. Its one global side effect is
// setting its build-info package name to "embedded".
func Start(ctx context.Context, opts Options) (*Server, error) {
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   opts.Logger,
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(minLevel{base: slog.Default().Handler(), min: slog.LevelError + 1})
	}
	switch {
	case opts.Dir != "" && opts.PostgreSQLURL != "":
		return nil, errors.New("embedded: set only one of Dir and PostgreSQLURL")
	case opts.Dir != "":
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		// FerretDB wants a file: URI naming a directory, with the final
		// slash; url.URL escapes unusual characters in the path.
		cfg.Handler = "sqlite"
		// In WAL mode (FerretDB's choice), synchronous=normal commits
		// without an fsync per transaction: a commit survives the process
		// dying (kill -9), not the machine losing power. Each fsync cost
		// about 0.5 ms, several per request.
		cfg.SQLiteURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/",
			RawQuery: "_pragma=" + url.QueryEscape("synchronous(normal)")}).String()
	case opts.PostgreSQLURL != "":
		cfg.Handler = "postgresql"
		cfg.PostgreSQLURL = opts.PostgreSQLURL
	default:
		return nil, errors.New("embedded: set Dir or PostgreSQLURL")
	}

	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	// The server's lifetime is Close's business, not the caller's ctx's.
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	var indexer sync.WaitGroup
	go func() {
		defer close(s.done)
		_ = f.Run(runCtx) // always nil; it returns when runCtx is cancelled
		indexer.Wait()
		if s.ids != nil {
			_ = s.ids.close()
		}
	}()

	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Handler == "sqlite" {
		dir, _ := filepath.Abs(opts.Dir) // checked above
		s.ids = newIDIndexer(dir)
		indexer.Go(func() {
			s.ids.run(runCtx, func(err error) { cfg.Logger.Warn("indexing _id", "error", err) })
		})
	}
	return s, nil
}

// IndexIDs gives, at once, every collection that lacks it the index that
// finds its documents by _id without reading them all (see idindex.go);
// on SQLite, a server does that by itself within a second of a
// collection's creation. On PostgreSQL it does nothing.
func (s *Server) IndexIDs(ctx context.Context) error {
	if s.ids == nil {
		return nil
	}
	return s.ids.indexAll(ctx)
}

// waitReady pings until the server answers or the wait is over. The backend
// opens lazily, so the first ping also checks that it works (e.g. that
// PostgreSQL is reachable).
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.uri).
		SetServerSelectionTimeout(startTimeout).SetConnectTimeout(startTimeout))
	if err != nil {
		return fmt.Errorf("embedded: connect: %w", err)
	}
	defer client.Disconnect(context.Background())
	var lastErr error
	for {
		if lastErr = client.Ping(ctx, nil); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: server did not answer: %w", lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URI returns the MongoDB connection string of the server.
func (s *Server) URI() string { return s.uri }

// Close stops the server and waits, for a bounded time, until it has closed
// its connections and its storage. Clients should disconnect first: the
// server waits for open connections to end. Close may be called more than
// once.
func (s *Server) Close() error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		return errors.New("embedded: server did not stop in time")
	}
}

// minLevel drops records below min; the rest go to the wrapped handler.
//
// FerretDB derives a logger with attributes, the SQL text among them, for
// every statement it runs, inside its transactions (so while SQLite's
// write lock is held). A wrapped handler formats attributes when they are
// added: 4–5 % of the make run stack's CPU at 250 creates/s, for records
// that almost never pass. So attributes and groups are kept as given and
// applied to the wrapped handler only when a record passes.
type minLevel struct {
	base slog.Handler
	min  slog.Level
	with *derivation // the newest WithAttrs or WithGroup; nil for none
}

// derivation is one WithAttrs (attrs set) or WithGroup (group set) call,
// linked to the one before it.
type derivation struct {
	before *derivation
	attrs  []slog.Attr
	group  string
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.base.Enabled(ctx, l)
}

func (h minLevel) Handle(ctx context.Context, r slog.Record) error {
	var chain []*derivation
	for d := h.with; d != nil; d = d.before {
		chain = append(chain, d)
	}
	out := h.base
	for i := len(chain) - 1; i >= 0; i-- {
		if d := chain[i]; d.attrs != nil {
			out = out.WithAttrs(d.attrs)
		} else {
			out = out.WithGroup(d.group)
		}
	}
	return out.Handle(ctx, r)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	// slog hands the handler its own slice (Handler.WithAttrs), so keeping
	// it is safe.
	return minLevel{base: h.base, min: h.min, with: &derivation{before: h.with, attrs: attrs}}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return minLevel{base: h.base, min: h.min, with: &derivation{before: h.with, group: name}}
}
