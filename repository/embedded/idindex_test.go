package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestIDLookupIndexed checks that SQLite answers FerretDB's find by _id
// from an index, for a collection that existed at start and for one
// created later, and that FerretDB still finds, updates and deletes by
// _id with the index there.
func TestIDLookupIndexed(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	db := client.Database("probe")
	for i, name := range []string{"first", "second"} {
		coll := db.Collection(name)
		if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}, bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 2}}}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.IndexIDs(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			time.Sleep(idIndexEvery + 500*time.Millisecond) // the server's own round
		}
		plan := queryPlan(t, filepath.Join(dir, "probe.sqlite"), name)
		if !strings.Contains(plan, "USING INDEX") || !strings.Contains(plan, idIndexSuffix) {
			t.Errorf("collection %s: plan of a find by _id is %q, want a search using the %s index", name, plan, idIndexSuffix)
		}
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			t.Fatal(err)
		}
		var got struct{ N int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "b"}}).Decode(&got); err != nil || got.N != 3 {
			t.Fatalf("find by _id after the update = %+v, %v", got, err)
		}
		if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			t.Fatal(err)
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Err(); err != mongo.ErrNoDocuments {
			t.Fatalf("find of a deleted _id: %v", err)
		}
	}
}

// queryPlan is SQLite's plan for the query FerretDB runs to find a
// document of collection by _id.
func queryPlan(t *testing.T, file, collection string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(file)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %s WHERE _ferretdb_sjson->'$._id' = ?`, quoteIdent(table)), `"a"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
