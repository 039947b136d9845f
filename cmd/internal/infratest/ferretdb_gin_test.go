package infratest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jea/cliente/repository"
)

// FerretDB 1.24 on PostgreSQL filters an equality with _jsonb->'f' @> v,
// which its own btree indexes cannot serve; deploy/local/ferretdb-gin.sql
// (applied by infra-up) gives each single-field index a GIN twin the
// moment FerretDB creates it. A database made now must get them, and a
// lookup by _id, dni or email must be able to use them.
func TestFerretDBIndexesHaveGINTwins(t *testing.T) {
	pgURL := os.Getenv("INFRA_POSTGRESQL_URL")
	if pgURL == "" || os.Getenv("MONGODB_URI") == "" {
		t.Skip("needs the real infrastructure: INFRA_POSTGRESQL_URL and MONGODB_URI (make test-infra)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	database := fmt.Sprintf("cliente_gin_%d", time.Now().UnixNano())
	store, err := repository.Connect(ctx, os.Getenv("MONGODB_URI"), database)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.WithoutCancel(ctx))

	pg, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.WithoutCancel(ctx))
	var table string
	if err := pg.QueryRow(ctx, fmt.Sprintf(`SELECT _jsonb->>'table' FROM %s WHERE _jsonb->>'_id' = 'clientes_v2'`,
		pgx.Identifier{database, "_ferretdb_database_metadata"}.Sanitize())).Scan(&table); err != nil {
		t.Fatalf("the customers' table in FerretDB's metadata: %v", err)
	}
	for _, field := range []string{"_id", "dni", "email", "grupo"} {
		var n int
		if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 AND indexdef LIKE $3`,
			database, table, fmt.Sprintf("%%USING gin (((_jsonb -> '%s'::text)) jsonb_path_ops)", field)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("GIN twins of %s on %s.%s: %d, want 1", field, database, table, n)
		}
	}

	// With sequential scans priced out, the plan shows whether an index
	// can serve the query FerretDB sends.
	tx, err := pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`EXPLAIN SELECT _jsonb FROM %s WHERE _jsonb->$1 @> $2`,
		pgx.Identifier{database, table}.Sanitize()), "_id", `"1"`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "Index Scan") {
		t.Errorf("a lookup by _id as FerretDB sends it is not served by an index:\n%s", strings.Join(plan, "\n"))
	}
}
