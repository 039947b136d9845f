package repository

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

const outboxColl = "outbox"

// Outbox is a handlers.Outbox on the customers' database: one document per
// event, keyed by the event id, so recording an event twice keeps one.
type Outbox struct {
	coll *mongo.Collection
	// lote inserts events, several concurrent Adds in one command.
	lote *lote[any]
}

var _ handlers.Outbox = (*Outbox)(nil)

// Outbox returns the event outbox of m's database.
func (m *Mongo) Outbox() *Outbox {
	return &Outbox{coll: m.db.Collection(outboxColl), lote: m.outboxLote}
}

func outboxIndexes(db *mongo.Database) []collIndex {
	return []collIndex{{db.Collection(outboxColl), mongo.IndexModel{
		Keys:    bson.D{{Key: "registrado", Value: 1}, {Key: "_id", Value: 1}},
		Options: options.Index().SetName("registrado"),
	}}}
}

type eventoDoc struct {
	ID         string    `bson:"_id"`
	Tipo       string    `bson:"tipo"`
	Cliente    cliente   `bson:"cliente"`
	Registrado time.Time `bson:"registrado"`
	// ReservadoHasta is the end of the lease of the relay that claimed the
	// event; before the first claim, when it was recorded.
	ReservadoHasta time.Time `bson:"reservadoHasta"`
	// Relevo is the token of the Claim call that holds the lease.
	Relevo []byte `bson:"relevo,omitempty"`
	// Diferido: the relay records the change's audit entry, notice and
	// idempotency result from Cliente, which keeps lastOp and registro
	// only then.
	Diferido bool `bson:"diferido,omitempty"`
}

func (d eventoDoc) toHandlers() handlers.Evento {
	return handlers.Evento{ID: d.ID, Tipo: d.Tipo, Cliente: d.Cliente.toHandlers(), Registrado: d.Registrado.UTC(), Diferido: d.Diferido}
}

func (o *Outbox) Add(ctx context.Context, e handlers.Evento) error {
	at := e.Registrado.UTC().Truncate(time.Millisecond)
	c := clienteDocOf(e.Cliente)
	if !e.Diferido {
		c.LastOp = "" // the event carries the change, not the request behind it
	}
	err := o.lote.uno(ctx, eventoDoc{ID: e.ID, Tipo: e.Tipo, Registrado: at, ReservadoHasta: at, Cliente: c, Diferido: e.Diferido})
	if _, dup := duplicateKey(err); dup {
		return nil
	}
	return mapError(err)
}

// PorOperacion and DeCliente filter on fields without an index of their
// own: they serve retries and audit reads, and the outbox holds only what
// the relay has not published yet.
func (o *Outbox) PorOperacion(ctx context.Context, op string) (handlers.Evento, bool, error) {
	var d eventoDoc
	err := o.coll.FindOne(ctx, bson.D{{Key: "cliente.lastOp", Value: op}, {Key: "diferido", Value: true}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return handlers.Evento{}, false, nil
	}
	if err != nil {
		return handlers.Evento{}, false, mapError(err)
	}
	return d.toHandlers(), true, nil
}

func (o *Outbox) DeCliente(ctx context.Context, id int64) ([]handlers.Evento, error) {
	docs, err := findAll[eventoDoc](ctx, o.coll, bson.D{{Key: "cliente.id", Value: id}},
		options.Find().SetSort(bson.D{{Key: "cliente.version", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := make([]handlers.Evento, len(docs))
	for i, d := range docs {
		out[i] = d.toHandlers()
	}
	return out, nil
}

// ClaimWindow bounds how many recorded events one Claim reads. A customer's
// events are recorded in version order, so a window of the oldest ones
// never holds a later event without the earlier ones.
const ClaimWindow = 1000

// Claim takes its events with two writes, whatever their number: one
// update stamps the chosen events with a token of this call, where nobody
// holds them; a read learns which it got. Of each customer it keeps the
// events it holds from the oldest chosen on, and hands back at once any
// it holds after one another relay took, so none overtakes.
func (o *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]handlers.Evento, error) {
	now = now.UTC().Truncate(time.Millisecond)
	// Leased events are read too: they hold back their customers' later ones.
	docs, err := findAll[eventoDoc](ctx, o.coll, bson.D{},
		options.Find().SetSort(bson.D{{Key: "registrado", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(ClaimWindow))
	if err != nil {
		return nil, err
	}
	all := make([]handlers.Evento, len(docs))
	leased := make(map[string]bool, len(docs))
	for i, d := range docs {
		all[i] = d.toHandlers()
		leased[d.ID] = d.ReservadoHasta.After(now)
	}
	var chosen [][]handlers.Evento // per customer, oldest first
	var ids []string
	for _, group := range handlers.ClaimOrder(all) {
		n := 0
		for n < len(group) && len(ids) < limit && !leased[group[n].ID] {
			ids = append(ids, group[n].ID)
			n++
		}
		if n > 0 {
			chosen = append(chosen, group[:n])
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}

	token := make([]byte, 12)
	rand.Read(token)
	_, err = o.coll.UpdateMany(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "reservadoHasta", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "reservadoHasta", Value: now.Add(lease)}, {Key: "relevo", Value: token}}}})
	if err != nil {
		return nil, mapError(err)
	}
	heldDocs, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, o.coll, bson.D{{Key: "relevo", Value: token}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	held := make(map[string]bool, len(heldDocs))
	for _, d := range heldDocs {
		held[d.ID] = true
	}
	var out []handlers.Evento
	var handBack []string
	for _, group := range chosen {
		gap := false
		for _, e := range group {
			switch {
			case !held[e.ID]:
				gap = true // another relay was quicker: it publishes from here
			case gap:
				handBack = append(handBack, e.ID)
			default:
				out = append(out, e)
			}
		}
	}
	if len(handBack) > 0 {
		_, err := o.coll.UpdateMany(ctx,
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: handBack}}}, {Key: "relevo", Value: token}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "reservadoHasta", Value: now}}}})
		if err != nil {
			return nil, mapError(err)
		}
	}
	return out, nil
}

func (o *Outbox) Delete(ctx context.Context, ids []string) error {
	_, err := o.coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	return mapError(err)
}

// findAll decodes every document filter finds in coll.
func findAll[T any](ctx context.Context, coll *mongo.Collection, filter bson.D, opts *options.FindOptions) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapError(err)
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	return docs, nil
}
