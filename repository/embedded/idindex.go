package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

// FerretDB 1.24 on SQLite finds a document by _id with
//
//	WHERE _ferretdb_sjson->'$._id' = ?
//
// but indexes _id on the expression _ferretdb_sjson->"_id", which SQLite
// does not see as the same, so every find by _id reads and parses the
// JSON of every row (measured: 2.6 ms per find at 1,000 documents, growing
// with the collection). idIndexer adds, to every collection table of every
// database under the server's directory, an index on the very expression
// the query uses; SQLite keeps it up to date by itself, FerretDB does not
// know of it (it drops with the table).
const (
	idIndexSuffix = "__id_lookup"
	// idIndexEvery is how often new collections get their index.
	idIndexEvery = time.Second
	// sqliteBusy is how long a connection waits for FerretDB's writers,
	// FerretDB's own setting.
	sqliteBusy = "busy_timeout(10000)"
)

// idIndexer keeps the _id lookup index on every collection table of the
// SQLite files in dir.
type idIndexer struct {
	dir string
	mu  sync.Mutex
	dbs map[string]*sql.DB // by file
}

func newIDIndexer(dir string) *idIndexer {
	return &idIndexer{dir: dir, dbs: map[string]*sql.DB{}}
}

// run indexes at once, then every idIndexEvery, until ctx ends.
func (x *idIndexer) run(ctx context.Context, logErr func(error)) {
	t := time.NewTicker(idIndexEvery)
	defer t.Stop()
	for {
		if err := x.indexAll(ctx); err != nil && ctx.Err() == nil {
			logErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// indexAll creates the missing _id lookup indexes.
func (x *idIndexer) indexAll(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if err := x.indexFile(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("embedded: index _id in %s: %w", filepath.Base(f), err))
		}
	}
	return errors.Join(errs...)
}

func (x *idIndexer) indexFile(ctx context.Context, file string) error {
	db, err := x.open(file)
	if err != nil {
		return err
	}
	// Collection tables are those FerretDB's metadata table lists; a
	// database file without it is not FerretDB's (yet).
	rows, err := db.QueryContext(ctx, `SELECT m.name FROM sqlite_master m
		WHERE m.type = 'table' AND m.name NOT LIKE '\_ferretdb\_%' ESCAPE '\' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = m.name || ?)`, idIndexSuffix)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`, quoteIdent(t+idIndexSuffix), quoteIdent(t))
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "no such table") {
			return err // a table dropped in between is no error
		}
	}
	return nil
}

func (x *idIndexer) open(file string) (*sql.DB, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if db, ok := x.dbs[file]; ok {
		return db, nil
	}
	u := &url.URL{Scheme: "file", Path: filepath.ToSlash(file), RawQuery: "_pragma=" + url.QueryEscape(sqliteBusy)}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	x.dbs[file] = db
	return db, nil
}

func (x *idIndexer) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for f, db := range x.dbs {
		errs = append(errs, db.Close())
		delete(x.dbs, f)
	}
	return errors.Join(errs...)
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
