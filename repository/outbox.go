package repository

import (
	"context"
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
}

var _ handlers.Outbox = (*Outbox)(nil)

// Outbox returns the event outbox of m's database.
func (m *Mongo) Outbox() *Outbox {
	return &Outbox{coll: m.db.Collection(outboxColl)}
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
}

func (o *Outbox) Add(ctx context.Context, e handlers.Evento) error {
	c := e.Cliente
	fecha := c.FechaRegistro.UTC().Truncate(time.Millisecond)
	at := e.Registrado.UTC().Truncate(time.Millisecond)
	_, err := o.coll.InsertOne(ctx, eventoDoc{
		ID: e.ID, Tipo: e.Tipo, Registrado: at, ReservadoHasta: at,
		Cliente: cliente{
			ID: c.ID, DNI: c.DNI, Nombre: c.Nombre, Apellido: c.Apellido, Email: c.Email,
			Telefono: c.Telefono, Direccion: c.Direccion, FechaRegistro: fecha, MesRegistro: fecha.Format("2006-01"),
			Activo: c.Activo, Version: c.Version, Cambio: c.Cambio,
		},
	})
	if _, dup := duplicateKey(err); dup {
		return nil
	}
	return mapError(err)
}

func (o *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]handlers.Evento, error) {
	now = now.UTC().Truncate(time.Millisecond)
	cur, err := o.coll.Find(ctx, bson.D{{Key: "reservadoHasta", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "registrado", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, mapError(err)
	}
	var docs []eventoDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	var out []handlers.Evento
	until := now.Add(lease)
	for _, d := range docs {
		// Taking the lease only if nobody took it since the read makes a
		// concurrent relay skip the event (on MongoDB; FerretDB may let both
		// publish it, which consumers tolerate).
		res, err := o.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "reservadoHasta", Value: d.ReservadoHasta}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "reservadoHasta", Value: until}}}})
		if err != nil {
			return nil, mapError(err)
		}
		if res.MatchedCount == 1 {
			out = append(out, handlers.Evento{ID: d.ID, Tipo: d.Tipo, Cliente: d.Cliente.toHandlers(), Registrado: d.Registrado.UTC()})
		}
	}
	return out, nil
}

func (o *Outbox) Delete(ctx context.Context, ids []string) error {
	_, err := o.coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	return mapError(err)
}
