package repository

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

// Search documents, beside the key documents on a server that scans for
// any filter but an exact _id (FerretDB on SQLite): one per bucket of
// bucketSize consecutive ids, {_id: "b:<bucket>", p: {"<id>": "maria jose
// quispe"}}, holding the search words of its customers. A search reads the
// buckets after its cursor by _id, keeps the ids whose words match, and
// reads those customers, checking each against the whole filter. So its
// cost is one read per bucketSize customers plus one per match, instead of
// FerretDB decoding every customer.
//
// A bucket entry is a hint, like a key document: it is written before the
// customer (a crash in between leaves an entry for a customer that does
// not exist, or has other words, which the check drops), and a rename
// first stores the old and the new words together, then the new ones, so
// that no moment lacks the words the stored customer has.
//
// FerretDB applies an update as a read and a write of the whole document,
// so two concurrent updates of one bucket can lose one another: this
// process serialises its own updates of a bucket, which is enough for the
// dev stack (one worker process on SQLite). Several processes on one
// SQLite database could lose entries, and a customer whose entry was lost
// is not found by a search until its name changes again.
const (
	buscarColl = "buscar"
	bucketSize = 256
	// bucketsParalelos bounds the bucket reads one search has in flight.
	bucketsParalelos = 4
	// bucketStripes is how many locks serialise bucket updates.
	bucketStripes = 64
)

type bucketDoc struct {
	P map[string]string `bson:"p"`
}

func bucketDe(id int64) int64    { return id / bucketSize }
func bucketClave(b int64) string { return "b:" + strconv.FormatInt(b, 10) }
func palabrasTexto(c handlers.Campos) string {
	return strings.Join(handlers.Palabras(c.Nombre, c.Apellido), " ")
}

// buckets serialises this process's updates of one bucket.
type buckets struct{ mu [bucketStripes]sync.Mutex }

// indexarPalabras stores words as the search words of customer id, with
// the other writers' entries of the moment (palabrasLote).
func (m *Mongo) indexarPalabras(ctx context.Context, id int64, words string) error {
	if m.buscar == nil {
		return nil
	}
	return mapError(m.palabrasLote.uno(ctx, entradaPalabras{id: id, words: words}))
}

// entradaPalabras is one customer's entry of its bucket.
type entradaPalabras struct {
	id    int64
	words string
}

// indexarEntradas stores es with one update per bucket: consecutive ids
// share one. An id given twice keeps its last words.
func (m *Mongo) indexarEntradas(ctx context.Context, es []entradaPalabras) []error {
	var orden []int64
	sets := map[int64]bson.D{}
	for _, e := range es {
		b, k := bucketDe(e.id), "p."+strconv.FormatInt(e.id, 10)
		if _, ok := sets[b]; !ok {
			orden = append(orden, b)
		}
		set := slices.DeleteFunc(sets[b], func(x bson.E) bool { return x.Key == k })
		sets[b] = append(set, bson.E{Key: k, Value: e.words})
	}
	porBucket := map[int64]error{}
	for _, b := range orden {
		porBucket[b] = m.indexarBucket(ctx, b, sets[b])
	}
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = porBucket[bucketDe(e.id)]
	}
	return errs
}

// indexarBucket sets entries ("p.<id>": words) of bucket b. Its error is
// the driver's.
func (m *Mongo) indexarBucket(ctx context.Context, b int64, set bson.D) error {
	mu := &m.bucketMu.mu[b%bucketStripes]
	mu.Lock()
	defer mu.Unlock()
	for attempt := 1; ; attempt++ {
		_, err := m.buscar.UpdateOne(ctx, bson.D{{Key: "_id", Value: bucketClave(b)}},
			bson.D{{Key: "$set", Value: set}}, options.Update().SetUpsert(true))
		// Two processes creating one bucket: FerretDB does not retry the
		// losing upsert as MongoDB does; the bucket exists now.
		if err == nil || attempt == 2 || !mongo.IsDuplicateKeyError(err) {
			return err
		}
	}
}

// buscarPorBuckets is List for a search on a server with search
// documents: see above.
func (m *Mongo) buscarPorBuckets(ctx context.Context, f handlers.Filtro) ([]handlers.Cliente, error) {
	last, err := m.ultimoID(ctx)
	if err != nil {
		return nil, err
	}
	out := []handlers.Cliente{}
	for b := bucketDe(f.DespuesDeID + 1); b <= bucketDe(last) && (f.Limite <= 0 || len(out) < f.Limite); b += bucketsParalelos {
		docs := make([]bucketDoc, bucketsParalelos)
		errs := make([]error, bucketsParalelos)
		var wg sync.WaitGroup
		for i := range bucketsParalelos {
			wg.Go(func() {
				err := m.buscar.FindOne(ctx, bson.D{{Key: "_id", Value: bucketClave(b + int64(i))}}).Decode(&docs[i])
				if err != mongo.ErrNoDocuments {
					errs[i] = err
				}
			})
		}
		wg.Wait()
		var candidatos []int64
		for i, d := range docs {
			if errs[i] != nil {
				return nil, mapError(errs[i])
			}
			for k, words := range d.P {
				id, err := strconv.ParseInt(k, 10, 64)
				if err == nil && id > f.DespuesDeID && handlers.EmpiezaAlguna(strings.Fields(words), f.Palabras) {
					candidatos = append(candidatos, id)
				}
			}
		}
		slices.Sort(candidatos)
		// Read the candidates a page's worth at a time: a broad search
		// ("qui") has hundreds per bucket, a page needs a hundred.
		for len(candidatos) > 0 && (f.Limite <= 0 || len(out) < f.Limite) {
			n, limite := len(candidatos), 0
			if f.Limite > 0 {
				limite = f.Limite - len(out)
				n = min(n, limite+limite/8+4)
			}
			got, err := m.leerIDs(ctx, candidatos[:n], f, limite)
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
			candidatos = candidatos[n:]
		}
	}
	return out, nil
}
