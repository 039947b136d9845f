package embedded

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func TestStartOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := Start(ctx, Options{}); err == nil {
		t.Error("Start with no storage succeeded")
	}
	if _, err := Start(ctx, Options{Dir: t.TempDir(), PostgreSQLURL: "postgres://127.0.0.1/x"}); err == nil {
		t.Error("Start with two storages succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, Options{Dir: file}); err == nil {
		t.Error("Start on a regular file succeeded")
	}
}

// TestSQLite starts a server in a directory that does not exist yet, with
// a space in its name, and checks that it works, logs through the given
// logger and stops.
func TestSQLite(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := filepath.Join(t.TempDir(), "data dir")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := Start(ctx, Options{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URI(), "mongodb://127.0.0.1:") {
		t.Errorf("URI = %q", s.URI())
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	coll := client.Database("probe").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	// An error reply, which FerretDB logs at WARN with the whole message.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("second insert: %v, want a duplicate key error", err)
	}
	if err := client.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "probe.sqlite")); err != nil {
		t.Errorf("no SQLite file for the database: %v", err)
	}

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with no clients connected", d)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("the given logger got no warning:\n%s", logs.String())
	}
}

func TestMinLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(minLevel{base: slog.NewTextHandler(&buf, nil), min: slog.LevelError})
	l = l.With("conn", "x").WithGroup("g").With("stmt", "s")
	l.Warn("dropped")
	l.Error("kept", "k", "v")
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, "kept") || !strings.Contains(out, "conn=x") ||
		!strings.Contains(out, "g.stmt=s") || !strings.Contains(out, "g.k=v") {
		t.Errorf("output:\n%s", out)
	}
}

// countingHandler counts the derivations asked of it.
type countingHandler struct {
	slog.Handler
	derived *int
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	*h.derived++
	return countingHandler{h.Handler.WithAttrs(attrs), h.derived}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	*h.derived++
	return countingHandler{h.Handler.WithGroup(name), h.derived}
}

// TestMinLevelDefersAttributes: FerretDB derives a logger per statement;
// the wrapped handler must see those derivations only for a record that
// passes.
func TestMinLevelDefersAttributes(t *testing.T) {
	var buf bytes.Buffer
	derived := 0
	l := slog.New(minLevel{base: countingHandler{slog.NewTextHandler(&buf, nil), &derived}, min: slog.LevelError})
	for range 100 {
		l.With("sql", "INSERT INTO t VALUES (?)").WithGroup("g").Warn("dropped")
	}
	if derived != 0 {
		t.Fatalf("the wrapped handler derived %d times for records that were all dropped", derived)
	}
	l.With("sql", "x").Error("kept")
	if derived != 1 || !strings.Contains(buf.String(), "sql=x") {
		t.Errorf("derived %d times, output:\n%s", derived, buf.String())
	}
}

// TestPostgreSQL runs only if FERRETDB_POSTGRESQL_URL names a PostgreSQL
// database FerretDB may use.
func TestPostgreSQL(t *testing.T) {
	url := os.Getenv("FERRETDB_POSTGRESQL_URL")
	if url == "" {
		t.Skip("FERRETDB_POSTGRESQL_URL not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{PostgreSQLURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
