package repository

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

// migrationsColl records the data migrations done, one document each.
const (
	migrationsColl = "migrations"
	// clientesV2Done marks that every customer of clientesV1Coll is in
	// clientesColl, with its key documents.
	clientesV2Done = "clientes-v2"
	// migrarLote is how many customers one round of the copy reads and
	// writes.
	migrarLote = 500
)

// migracionHecha reports whether migration id is marked done.
func (m *Mongo) migracionHecha(ctx context.Context, id string) (bool, error) {
	switch err := m.db.Collection(migrationsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err(); {
	case err == nil:
		return true, nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return false, mapError(err)
	}
	return false, nil
}

// clienteV1 is the stored form of a customer before version 2: the id was
// the _id, and older ones lack the derived fields.
type clienteV1 struct {
	ID            int64        `bson:"_id"`
	DNI           string       `bson:"dni"`
	Nombre        string       `bson:"nombre"`
	Apellido      string       `bson:"apellido"`
	Email         string       `bson:"email"`
	Telefono      string       `bson:"telefono"`
	Direccion     string       `bson:"direccion"`
	FechaRegistro time.Time    `bson:"fechaRegistro"`
	Activo        bool         `bson:"activo"`
	Version       int64        `bson:"version"`
	LastOp        string       `bson:"lastOp,omitempty"`
	Cambio        string       `bson:"cambio,omitempty"`
	Registro      *registroDoc `bson:"registro,omitempty"`
	Anonimizado   bool         `bson:"anonimizado,omitempty"`
}

// migrarClientes copies the customers of clientesV1Coll, keyed by number,
// into clientesColl, keyed by string, with their derived fields (search
// words, month) and key documents, then marks it done and drops the old
// collection. It runs before the store serves anything, once per database;
// a copy cut short (kill -9) is done again from the start, finding what it
// already wrote as duplicates. Workers of the version before must be
// stopped first: what they write to the old collection during the copy is
// not copied.
func (m *Mongo) migrarClientes(ctx context.Context) error {
	migrations := m.db.Collection(migrationsColl)
	old := m.db.Collection(clientesV1Coll)
	switch err := migrations.FindOne(ctx, bson.D{{Key: "_id", Value: clientesV2Done}}).Err(); {
	case err == nil:
		return mapError(old.Drop(ctx)) // in case a copy stopped right after its mark
	case !errors.Is(err, mongo.ErrNoDocuments):
		return mapError(err)
	}
	cur, err := old.Find(ctx, bson.D{}, options.Find().SetBatchSize(migrarLote))
	if err != nil {
		return mapError(err)
	}
	defer cur.Close(ctx)
	var lote []clienteV1
	for {
		more := cur.Next(ctx)
		if more {
			var d clienteV1
			if err := cur.Decode(&d); err != nil {
				return mapError(err)
			}
			lote = append(lote, d)
		}
		if len(lote) == migrarLote || !more && len(lote) > 0 {
			if err := m.copiar(ctx, lote); err != nil {
				return err
			}
			lote = lote[:0]
		}
		if !more {
			break
		}
	}
	if err := cur.Err(); err != nil {
		return mapError(err)
	}
	_, err = migrations.InsertOne(ctx, bson.D{{Key: "_id", Value: clientesV2Done}})
	if err != nil && !mongo.IsDuplicateKeyError(err) { // another worker finished first
		return mapError(err)
	}
	return mapError(old.Drop(ctx))
}

// copiar writes the key documents of lote, then its customers in the new
// form; what is there already is left as it is.
func (m *Mongo) copiar(ctx context.Context, lote []clienteV1) error {
	var claves, docs []any
	for _, d := range lote {
		claves = append(claves, claveDoc{claveCampo("dni", d.DNI), d.ID}, claveDoc{claveCampo("email", d.Email), d.ID})
		docs = append(docs, clienteDocOf(handlers.Cliente{
			ID: d.ID, DNI: d.DNI, Nombre: d.Nombre, Apellido: d.Apellido, Email: d.Email,
			Telefono: d.Telefono, Direccion: d.Direccion, FechaRegistro: d.FechaRegistro,
			Activo: d.Activo, Version: d.Version, LastOp: d.LastOp, Cambio: d.Cambio,
			Registro: d.Registro.toHandlers(), Anonimizado: d.Anonimizado,
		}))
	}
	if m.claves != nil {
		if err := insertarNuevos(ctx, m.claves, claves); err != nil {
			return err
		}
		porBucket := map[int64]bson.D{}
		for _, d := range lote {
			words := palabrasTexto(handlers.Campos{Nombre: d.Nombre, Apellido: d.Apellido})
			porBucket[bucketDe(d.ID)] = append(porBucket[bucketDe(d.ID)], bson.E{Key: "p." + claveDe(d.ID), Value: words})
		}
		for b, set := range porBucket {
			if err := m.indexarBucket(ctx, b, set); err != nil {
				return mapError(err)
			}
		}
	}
	return insertarNuevos(ctx, m.clientes, docs)
}

// insertarNuevos inserts docs, skipping those whose _id (or a unique
// field) is taken.
func insertarNuevos(ctx context.Context, coll *mongo.Collection, docs []any) error {
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return mapError(err)
			}
		}
		return nil
	}
	return mapError(err)
}
