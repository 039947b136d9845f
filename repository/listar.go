package repository

import (
	"context"
	"errors"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/jea/cliente/handlers"
)

const (
	// lecturasParalelas bounds the reads by _id one List has in flight.
	lecturasParalelas = 8
	// sondeoExtra is how many ids a page may read beyond twice its size
	// before listarPorID gives up on reading by _id (most ids do not
	// match the filter) and asks a query for the rest.
	sondeoExtra = 64
)

// listarPorID is List for a server that finds only by _id without a scan
// (FerretDB on SQLite). Ids come from a counter, so a page after id d is
// read by _id from d+1 up, in parallel batches, skipping ids that are not
// there (failed inserts leave gaps) or do not match; never past the
// counter. When too many ids do not match, the rest of the page comes from
// a query, so any filter stays correct and no page reads more than about
// twice its size plus sondeoExtra documents by _id.
func (m *Mongo) listarPorID(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	if f.IDs != nil {
		var ids []int64
		for _, id := range slices.Compact(slices.Sorted(slices.Values(f.IDs))) {
			if id > f.DespuesDeID {
				ids = append(ids, id)
			}
		}
		return m.leerIDs(ctx, ids, f, f.Limite)
	}
	if f.Limite <= 0 {
		return m.listarConsulta(ctx, f) // the whole collection: one scan
	}
	last, err := m.ultimoID(ctx)
	if err != nil {
		return nil, err
	}
	out := []handlers.Cliente{}
	budget := int64(2*f.Limite + sondeoExtra)
	for next := f.DespuesDeID + 1; next <= last && len(out) < f.Limite; {
		if budget <= 0 {
			rest := f
			rest.DespuesDeID, rest.Limite = next-1, f.Limite-len(out)
			more, err := m.listarConsulta(ctx, rest)
			return append(out, more...), err
		}
		need := int64(f.Limite - len(out))
		n := min(last-next+1, need+need/8+4, budget)
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = next + int64(i)
		}
		got, err := m.leerIDs(ctx, ids, f, int(need))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		next += n
		budget -= n
	}
	return out, nil
}

// leerIDs reads the customers ids (ascending) by _id, lecturasParalelas at
// a time, and returns those that exist and match f, in id order, at most
// limite (0: all).
func (m *Mongo) leerIDs(ctx context.Context, ids []int64, f handlers.Filtro, limite int) ([]handlers.Cliente, error) {
	found := make([]*handlers.Cliente, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, lecturasParalelas)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := m.Get(ctx, id)
			switch {
			case err == nil:
				found[i] = &c
			case handlers.ErrorCode(err) != handlers.CodeNotFound:
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	out := []handlers.Cliente{}
	for _, c := range found {
		if c != nil && f.Matches(*c) && (limite <= 0 || len(out) < limite) {
			out = append(out, *c)
		}
	}
	return out, nil
}

// ultimoID is the highest id the counter has handed out: no customer has
// a higher one.
func (m *Mongo) ultimoID(ctx context.Context) (int64, error) {
	var counter struct {
		Seq int64 `bson:"seq"`
	}
	err := m.counters.FindOne(ctx, bson.D{{Key: "_id", Value: counterID}}).Decode(&counter)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, handlers.Errorf(handlers.CodeInternal, "repository: id counter missing: EnsureSchema was not run")
	}
	return counter.Seq, mapError(err)
}
