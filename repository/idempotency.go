package repository

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/jea/cliente/handlers"
)

const idempotencyColl = "idempotencia"

// Idempotency is a handlers.Idempotency on the same database as the
// customers: one document per key. Expiry is by Expire (the worker sweeps
// periodically), not by a TTL index, which FerretDB lacks.
type Idempotency struct {
	coll *mongo.Collection
}

var _ handlers.IdempotencyStore = (*Idempotency)(nil)

// Idempotency returns the idempotency record store of m's database.
func (m *Mongo) Idempotency() *Idempotency {
	return &Idempotency{coll: m.db.Collection(idempotencyColl)}
}

type idempotencyDoc struct {
	Key    string    `bson:"_id"`
	Hash   string    `bson:"hash"`
	Done   bool      `bson:"done"`
	Creado time.Time `bson:"creado"`
	// Resultado is the JSON of handlers.Resultado: opaque to queries, and
	// the same bytes on MongoDB and FerretDB.
	Resultado string `bson:"resultado,omitempty"`
}

func (r idempotencyDoc) toHandlers() (handlers.IdempotencyRecord, error) {
	rec := handlers.IdempotencyRecord{Key: r.Key, Hash: r.Hash, Done: r.Done, Creado: r.Creado.UTC()}
	if r.Done {
		if err := json.Unmarshal([]byte(r.Resultado), &rec.Resultado); err != nil {
			return rec, handlers.Wrap(handlers.CodeInternal, err, "stored result is corrupt")
		}
	}
	return rec, nil
}

func (s *Idempotency) Begin(ctx context.Context, key, hash string, now time.Time, ttl time.Duration) (handlers.IdempotencyRecord, bool, error) {
	fresh := idempotencyDoc{Key: key, Hash: hash, Creado: now.UTC().Truncate(time.Millisecond)}
	for attempt := 1; attempt <= writeAttempts; attempt++ {
		_, err := s.coll.InsertOne(ctx, fresh)
		if err == nil {
			rec, err := fresh.toHandlers()
			return rec, true, err
		}
		if !mongo.IsDuplicateKeyError(err) {
			return handlers.IdempotencyRecord{}, false, mapError(err)
		}
		var cur idempotencyDoc
		err = s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // swept in between: insert again
		}
		if err != nil {
			return handlers.IdempotencyRecord{}, false, mapError(err)
		}
		if cur.Creado.After(now.Add(-ttl)) {
			rec, err := cur.toHandlers()
			return rec, false, err
		}
		// Expired but not swept yet: take it over, unless someone else
		// just did (the filter on the old creado makes that one step).
		res, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "creado", Value: cur.Creado}}, fresh)
		if err != nil {
			return handlers.IdempotencyRecord{}, false, mapError(err)
		}
		if res.MatchedCount == 1 {
			rec, err := fresh.toHandlers()
			return rec, true, err
		}
	}
	return handlers.IdempotencyRecord{}, false, handlers.Errorf(handlers.CodeUnavailable, "idempotency record kept changing")
}

func (s *Idempotency) Finish(ctx context.Context, key string, r handlers.StoredResult) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return handlers.Wrap(handlers.CodeInternal, err, "cannot encode result")
	}
	res, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}, {Key: "resultado", Value: string(raw)}}}})
	if err != nil {
		return mapError(err)
	}
	if res.MatchedCount == 0 {
		return handlers.Errorf(handlers.CodeInternal, "no idempotency record to finish")
	}
	return nil
}

func (s *Idempotency) Expire(ctx context.Context, before time.Time) (int, error) {
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "creado", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}})
	if err != nil {
		return 0, mapError(err)
	}
	return int(res.DeletedCount), nil
}
