package repository

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Group commit. FerretDB's cost is mostly per command, not per document,
// so the writes of one kind (idempotency records, key documents, search
// entries, customers, events) that concurrent commands make at the same
// time go to the server as one command: a write waits only while a
// previous write of its kind is in flight, and everything that queued
// meanwhile goes in the next command (natural batching, as topics/batch.go
// produces). An idle store writes at once; there are no timers. Each
// caller still gets its own result, so the use cases keep their
// per-command flow, crash windows and errors.
const (
	// maxLote bounds the items of one command.
	maxLote = 256
	// loteTimeout bounds a command when none of its callers has a
	// deadline; otherwise it runs until the latest of theirs, so that a
	// caller who gives up does not cut the others' write short.
	loteTimeout = 30 * time.Second
)

// lote combines concurrent writes of one kind. escribir writes items in
// one command, or as few as it can, and returns each item's error. Safe
// for concurrent use.
type lote[T any] struct {
	escribir func(ctx context.Context, items []T) []error

	mu      sync.Mutex
	cola    []*pedido[T]
	ocupado bool // a goroutine is writing this kind's rounds
}

// pedido is one caller's items and, once written, their errors.
type pedido[T any] struct {
	ctx   context.Context
	items []T
	errs  []error
	hecho chan struct{}
}

func nuevoLote[T any](escribir func(ctx context.Context, items []T) []error) *lote[T] {
	return &lote[T]{escribir: escribir}
}

// hacer writes items with the next round and returns their errors, in
// order. When ctx ends first every error is ctx's, and the items are
// written or not: not, if their round had not started.
func (l *lote[T]) hacer(ctx context.Context, items ...T) []error {
	p := &pedido[T]{ctx: ctx, items: items, hecho: make(chan struct{})}
	l.mu.Lock()
	l.cola = append(l.cola, p)
	if !l.ocupado {
		l.ocupado = true
		go l.rondas()
	}
	l.mu.Unlock()
	select {
	case <-p.hecho:
		return p.errs
	case <-ctx.Done():
		return repetir(ctx.Err(), len(items))
	}
}

// uno is hacer for one item.
func (l *lote[T]) uno(ctx context.Context, item T) error {
	return l.hacer(ctx, item)[0]
}

// rondas writes the queue, one round after another, until it is empty.
func (l *lote[T]) rondas() {
	for {
		l.mu.Lock()
		n, k := 0, 0
		for k < len(l.cola) && (k == 0 || n+len(l.cola[k].items) <= maxLote) {
			n += len(l.cola[k].items)
			k++
		}
		if k == 0 {
			l.ocupado = false
			l.mu.Unlock()
			return
		}
		ronda := l.cola[:k:k]
		l.cola = l.cola[k:]
		l.mu.Unlock()
		l.ronda(ronda)
	}
}

// ronda writes the items of the callers still waiting in one call of
// escribir, under a context of its own that lasts until the latest
// caller's deadline (at most loteTimeout).
func (l *lote[T]) ronda(ronda []*pedido[T]) {
	var items []T
	var vivos []*pedido[T]
	limite := time.Time{}
	for _, p := range ronda {
		if err := p.ctx.Err(); err != nil {
			// Gone before its round: nothing of it is written.
			p.errs = repetir(err, len(p.items))
			close(p.hecho)
			continue
		}
		vivos = append(vivos, p)
		items = append(items, p.items...)
		d, ok := p.ctx.Deadline()
		if !ok {
			d = time.Now().Add(loteTimeout)
		}
		if d.After(limite) {
			limite = d
		}
	}
	if len(vivos) == 0 {
		return
	}
	if tope := time.Now().Add(loteTimeout); limite.After(tope) {
		limite = tope
	}
	ctx, cancel := context.WithDeadline(context.Background(), limite)
	defer cancel()
	errs := l.escribirSinPanico(ctx, items)
	for _, p := range vivos {
		p.errs, errs = errs[:len(p.items):len(p.items)], errs[len(p.items):]
		close(p.hecho)
	}
}

// escribirSinPanico is escribir with a panic turned into every item's
// error: a use case's panic is recovered by the worker (topics.Recover)
// and answered, which this goroutine is outside of.
func (l *lote[T]) escribirSinPanico(ctx context.Context, items []T) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			errs = repetir(fmt.Errorf("repository: write panicked: %v", r), len(items))
		}
	}()
	return l.escribir(ctx, items)
}

func repetir(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// insertarCada inserts docs into coll in ordered inserts and returns each
// one's error: nil, the write error InsertOne would have returned for it
// alone (a mongo.WriteException), or the error of the command that
// carried it. Ordered, because FerretDB 1.24 stopped answering after
// unordered multi-document inserts that broke a unique index: an ordered
// insert stops at its first failing document, the ones before it are
// stored, and the ones after it go in the next insert.
func insertarCada(ctx context.Context, coll *mongo.Collection, docs []any) []error {
	errs := make([]error, len(docs))
	for i := 0; i < len(docs); {
		_, err := coll.InsertMany(ctx, docs[i:], options.InsertMany().SetOrdered(true))
		if err == nil {
			break
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) != 1 ||
			bwe.WriteErrors[0].Index < 0 || i+bwe.WriteErrors[0].Index >= len(docs) {
			for j := i; j < len(docs); j++ {
				errs[j] = err // their outcome is unknown, as a failed InsertOne's
			}
			break
		}
		we := bwe.WriteErrors[0].WriteError
		i += we.Index
		we.Index = 0
		errs[i] = mongo.WriteException{WriteErrors: mongo.WriteErrors{we}, Labels: bwe.Labels}
		i++
	}
	return errs
}

// insertarLote is a lote of inserts into coll.
func insertarLote(coll *mongo.Collection) *lote[any] {
	return nuevoLote(func(ctx context.Context, docs []any) []error { return insertarCada(ctx, coll, docs) })
}
