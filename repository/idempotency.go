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

const (
	idempotencyColl = "idempotencia"
	// resultadosColl holds the results FinishVarios records, one document
	// per key: inserted in one command for a whole batch, where finishing
	// each record would be one update each (and FerretDB 1.24 stops
	// answering on an update command of many statements, seen here).
	resultadosColl = "idempotencia_resultados"
)

// Idempotency is a handlers.Idempotency on the same database as the
// customers: one document per key. Expiry is by Expire (the worker sweeps
// periodically), not by a TTL index, which FerretDB lacks.
type Idempotency struct {
	coll       *mongo.Collection
	resultados *mongo.Collection
	// lote inserts new records, several concurrent Begins in one command.
	lote *lote[any]
}

var _ handlers.IdempotencyStore = (*Idempotency)(nil)

// Idempotency returns the idempotency record store of m's database.
func (m *Mongo) Idempotency() *Idempotency {
	return &Idempotency{coll: m.db.Collection(idempotencyColl), resultados: m.db.Collection(resultadosColl), lote: m.idemLote}
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
		err := s.lote.uno(ctx, fresh)
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
			if !cur.Done {
				if err := s.resultado(ctx, &cur, ttl); err != nil {
					return handlers.IdempotencyRecord{}, false, err
				}
			}
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
			// The old request's result, if FinishVarios recorded one,
			// is not the new one's.
			if _, err := s.resultados.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
				return handlers.IdempotencyRecord{}, false, mapError(err)
			}
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
	old := bson.D{{Key: "creado", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}}
	res, err := s.coll.DeleteMany(ctx, old)
	if err != nil {
		return 0, mapError(err)
	}
	// A result is recorded after its record, so it goes at the same sweep
	// or a later one; a record without its result is never left behind.
	if _, err := s.resultados.DeleteMany(ctx, old); err != nil {
		return 0, mapError(err)
	}
	return int(res.DeletedCount), nil
}

// resultadoDoc is a result FinishVarios recorded for a key's request.
type resultadoDoc struct {
	Key string `bson:"_id"`
	// Creado is when the result was recorded, after its record's creado.
	Creado    time.Time `bson:"creado"`
	Resultado string    `bson:"resultado"`
}

// resultado finishes cur, not done, with the result FinishVarios recorded
// for its key, if there is one. A result older than cur by more than half
// the TTL is a previous request's under the same key, whose record
// expired: records and results are stamped by different clocks, so the
// margin is wide, and a request's result comes within seconds.
func (s *Idempotency) resultado(ctx context.Context, cur *idempotencyDoc, ttl time.Duration) error {
	var r resultadoDoc
	err := s.resultados.FindOne(ctx, bson.D{{Key: "_id", Value: cur.Key}}).Decode(&r)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil
	case err != nil:
		return mapError(err)
	case r.Creado.Before(cur.Creado.Add(-ttl / 2)):
		return nil
	}
	cur.Done, cur.Resultado = true, r.Resultado
	return nil
}

var _ handlers.IdempotencyVarias = (*Idempotency)(nil)

// FinishVarios records the results in the results collection, in one
// insert (insertarTodos); Begin reads a pending record's result there.
func (s *Idempotency) FinishVarios(ctx context.Context, ts []handlers.Terminado) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	docs := make([]any, len(ts))
	for i, t := range ts {
		raw, err := json.Marshal(t.Resultado)
		if err != nil {
			return handlers.Wrap(handlers.CodeInternal, err, "cannot encode result")
		}
		docs[i] = resultadoDoc{Key: t.Key, Creado: now, Resultado: string(raw)}
	}
	return insertarTodos(ctx, s.resultados, docs)
}
