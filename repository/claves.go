package repository

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/jea/cliente/handlers"
)

// Key documents, on a server that scans the collection for any filter but
// an exact _id (FerretDB on SQLite): {_id: "dni:<dni>", cliente: <id>} and
// {_id: "email:<email>", cliente: <id>}, so that a lookup by dni or email
// is two reads by _id. There are no transactions, so a key document and
// its customer are written one after the other, and a key document is a
// hint that is checked, never the truth:
//
//   - Every stored customer has a key document for its dni and for its
//     email: writers store the key document before the customer that
//     holds the value (reclamarClaves), and nothing deletes key documents.
//     So no key document means no such customer, at the cost of one read.
//   - A key document may point at a customer that does not hold the value
//     (any more): a writer stopped between the key document and the
//     customer (kill -9, or its insert broke a unique index), the customer
//     changed its dni or email, or two writers of one value overwrote each
//     other's pointer. A lookup that finds the pointed-at customer without
//     the value falls back to a search by the field itself (a scan), and
//     points the key document at what it found. That is the slow path,
//     taken once per stale key document.
//   - Uniqueness stays with the unique indexes on dni and email: the key
//     documents only answer "who holds it" quickly, also for the conflict
//     a write is about to run into.
const clavesColl = "claves"

type claveDoc struct {
	Clave   string `bson:"_id"`
	Cliente int64  `bson:"cliente"`
}

func claveCampo(field, value string) string { return field + ":" + value }

// reclamarClaves points the key documents of c's dni and email at
// customer id, except those of values it already held (old), before a
// write that stores c. A value held by another customer is a Conflict
// naming the field, dni first as MongoDB checks it first.
func (m *Mongo) reclamarClaves(ctx context.Context, id int64, c, old handlers.Campos) error {
	if m.claves == nil {
		return nil
	}
	type campo struct{ name, value string }
	var nuevos []campo
	var docs []any
	for _, f := range []struct{ name, value, old string }{{"dni", c.DNI, old.DNI}, {"email", c.Email, old.Email}} {
		if f.value != f.old {
			nuevos = append(nuevos, campo{f.name, f.value})
			docs = append(docs, claveDoc{Clave: claveCampo(f.name, f.value), Cliente: id})
		}
	}
	if len(docs) == 0 {
		return nil
	}
	// With the other writers' key documents in one insert; the values
	// already keyed (by anyone) are then claimed one by one.
	for i, err := range m.claveLote.hacer(ctx, docs...) {
		switch {
		case err == nil:
		case mongo.IsDuplicateKeyError(err):
			if err := m.reclamar(ctx, id, nuevos[i].name, nuevos[i].value); err != nil {
				return err
			}
		default:
			return mapError(err)
		}
	}
	return nil
}

// reclamar points the key document of field=value at id, unless another
// customer holds the value.
func (m *Mongo) reclamar(ctx context.Context, id int64, field, value string) error {
	key := claveCampo(field, value)
	for attempt := 1; attempt <= writeAttempts; attempt++ {
		_, err := m.claves.InsertOne(ctx, claveDoc{Clave: key, Cliente: id})
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return mapError(err)
		}
		var k claveDoc
		err = m.claves.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&k)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // key documents are not deleted, but be safe: insert again
		case err != nil:
			return mapError(err)
		case k.Cliente == id:
			return nil
		}
		switch holder, err := m.Get(ctx, k.Cliente); {
		case err == nil && valorDe(holder, field) == value:
			return handlers.Conflict(field)
		case err != nil && handlers.ErrorCode(err) != handlers.CodeNotFound:
			return err
		}
		// Stale: nobody holds the value through this pointer. If someone
		// does after all (a writer between its key document and its
		// customer), the unique index stops one of the two writes.
		_, err = m.claves.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, claveDoc{Clave: key, Cliente: id})
		return mapError(err)
	}
	return handlers.Errorf(handlers.CodeUnavailable, "the key document of %s kept changing", field)
}

// porClave finds the customer whose field is value through its key
// document (see the invariants above).
func (m *Mongo) porClave(ctx context.Context, field, value string) (handlers.Cliente, error) {
	key := claveCampo(field, value)
	var k claveDoc
	err := m.claves.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&k)
	if err != nil {
		return handlers.Cliente{}, mapError(err) // no key document: no such customer
	}
	c, err := m.Get(ctx, k.Cliente)
	switch {
	case err == nil && valorDe(c, field) == value:
		return c, nil
	case err != nil && handlers.ErrorCode(err) != handlers.CodeNotFound:
		return handlers.Cliente{}, err
	}
	// A stale pointer: ask the field itself, and repair the pointer.
	c, err = m.findOne(ctx, bson.D{{Key: field, Value: value}})
	if err != nil {
		return handlers.Cliente{}, err
	}
	if _, err := m.claves.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, claveDoc{Clave: key, Cliente: c.ID}); err != nil {
		return handlers.Cliente{}, mapError(err)
	}
	return c, nil
}

func valorDe(c handlers.Cliente, field string) string {
	if field == "dni" {
		return c.DNI
	}
	return c.Email
}
