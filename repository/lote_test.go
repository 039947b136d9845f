package repository

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// escritor is a lote's escribir that records its calls and, while hold
// is open, blocks each call until a value is sent on it.
type escritor struct {
	mu     sync.Mutex
	rondas [][]int
	ctxs   []context.Context
	hold   chan struct{}
	dentro chan struct{} // a call has started
}

func nuevoEscritor() *escritor {
	return &escritor{hold: make(chan struct{}), dentro: make(chan struct{}, 100)}
}

// escribir fails the odd items, naming them.
func (e *escritor) escribir(ctx context.Context, items []int) []error {
	e.mu.Lock()
	e.rondas = append(e.rondas, items)
	e.ctxs = append(e.ctxs, ctx)
	e.mu.Unlock()
	e.dentro <- struct{}{}
	<-e.hold
	errs := make([]error, len(items))
	for i, it := range items {
		if it%2 == 1 {
			errs[i] = fmt.Errorf("item %d", it)
		}
	}
	return errs
}

func (e *escritor) calls() [][]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]int(nil), e.rondas...)
}

// waitQueued waits until n callers are queued behind the round in flight.
func waitQueued[T any](t *testing.T, l *lote[T], n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		k := len(l.cola)
		l.mu.Unlock()
		if k == n {
			return
		}
	}
	t.Fatalf("want %d callers queued", n)
}

// Writes that queue while one is in flight go together in the next
// round, and each caller gets its own items' errors.
func TestLoteAgrupa(t *testing.T) {
	e := nuevoEscritor()
	l := nuevoLote(e.escribir)
	ctx := context.Background()
	first := make(chan error)
	go func() { first <- l.uno(ctx, 0) }()
	<-e.dentro // the first round is in flight

	const n = 20
	var wg sync.WaitGroup
	errs := make([][]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = l.hacer(ctx, 10+2*i, 11+2*i) }) // one good, one bad each
	}
	waitQueued(t, l, n)
	close(e.hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	if calls := e.calls(); len(calls) != 2 || len(calls[1]) != 2*n {
		t.Fatalf("rounds %v: want the first alone, then all %d queued items in one", calls, 2*n)
	}
	for i, got := range errs {
		if len(got) != 2 || got[0] != nil || got[1] == nil || got[1].Error() != fmt.Sprintf("item %d", 11+2*i) {
			t.Errorf("caller %d got %v, want [nil, item %d]", i, got, 11+2*i)
		}
	}
}

// An idle lote writes at once, and a round holds at most maxLote items.
func TestLoteRondas(t *testing.T) {
	e := nuevoEscritor()
	close(e.hold)
	l := nuevoLote(e.escribir)
	if err := l.uno(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	e2 := nuevoEscritor()
	l2 := nuevoLote(e2.escribir)
	go l2.uno(context.Background(), 0)
	<-e2.dentro
	var wg sync.WaitGroup
	for range maxLote + 1 {
		wg.Go(func() { l2.uno(context.Background(), 2) })
	}
	waitQueued(t, l2, maxLote+1)
	close(e2.hold)
	wg.Wait()
	calls := e2.calls()
	if len(calls) != 3 || len(calls[1]) != maxLote || len(calls[2]) != 1 {
		t.Fatalf("%d rounds: want 1, %d, 1 items", len(calls), maxLote)
	}
}

// A caller that gives up gets its context's error at once; it is not
// written if its round had not started, and it neither cancels the
// round it is in nor fails the others.
func TestLoteCallerGivesUp(t *testing.T) {
	e := nuevoEscritor()
	l := nuevoLote(e.escribir)
	bg := context.Background()
	go l.uno(bg, 0)
	<-e.dentro

	// Queued behind the round in flight, then cancelled.
	gone, cancel := context.WithCancel(bg)
	goneErr := make(chan error)
	go func() { goneErr <- l.uno(gone, 100) }()
	waitQueued(t, l, 1)
	other := make(chan error)
	go func() { other <- l.uno(bg, 102) }()
	waitQueued(t, l, 2)
	cancel()
	select {
	case err := <-goneErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller still waits")
	}
	e.hold <- struct{}{} // the first round ends
	<-e.dentro           // the second round, without item 100
	if calls := e.calls(); len(calls[1]) != 1 || calls[1][0] != 102 {
		t.Fatalf("second round %v: want only 102", calls[1])
	}

	// Cancelled while its round is in flight: the round's context lives on.
	inFlight, cancel2 := context.WithTimeout(bg, time.Hour)
	a := make(chan error)
	b := make(chan error)
	go func() { a <- l.uno(inFlight, 104) }()
	go func() { b <- l.uno(bg, 106) }()
	waitQueued(t, l, 2)
	e.hold <- struct{}{} // the second round ends
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	<-e.dentro // the third round: 104 and 106
	cancel2()
	if err := <-a; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller cancelled in flight got %v", err)
	}
	e.mu.Lock()
	roundCtx := e.ctxs[2]
	e.mu.Unlock()
	if roundCtx.Err() != nil {
		t.Fatalf("a caller's cancel ended its round's context: %v", roundCtx.Err())
	}
	if d, ok := roundCtx.Deadline(); !ok || time.Until(d) > loteTimeout {
		t.Fatalf("round context deadline %v, %v: want one within %v", d, ok, loteTimeout)
	}
	close(e.hold)
	if err := <-b; err != nil {
		t.Fatalf("the other caller of the round got %v", err)
	}
}

// insertarCada stores every document but those that fail, and gives each
// its own error, as InsertOne would.
func TestInsertarCada(t *testing.T) {
	ctx := testCtx(t)
	m := newStore(t, newDatabase(t))
	coll := m.db.Collection("lote_test")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	var docs []any
	for _, id := range []string{"a", "b", "c", "d", "c", "e"} {
		docs = append(docs, bson.D{{Key: "_id", Value: id}})
	}
	errs := insertarCada(ctx, coll, docs)
	for i, err := range errs {
		if dup := i == 1 || i == 4; dup != mongo.IsDuplicateKeyError(err) || (!dup && err != nil) {
			t.Errorf("doc %d: %v", i, err)
		}
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 5 {
		t.Fatalf("%d documents, %v; want a to e", n, err)
	}
}

// A panic while writing fails that round's callers, and the next round
// is written as usual.
func TestLotePanic(t *testing.T) {
	l := nuevoLote(func(ctx context.Context, items []int) []error {
		if items[0] == 0 {
			panic("boom")
		}
		return make([]error, len(items))
	})
	if err := l.uno(context.Background(), 0); err == nil {
		t.Fatal("write that panicked: want an error")
	}
	if err := l.uno(context.Background(), 1); err != nil {
		t.Fatalf("next write: %v", err)
	}
}
