package repository

import (
	"context"
	"reflect"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
)

const auditoriaColl = "auditoria"

// Auditoria is a handlers.Auditoria on the customers' database: one
// document per change, keyed by customer and version, so recording an
// entry twice keeps one.
type Auditoria struct {
	coll *mongo.Collection
}

var _ handlers.Auditoria = (*Auditoria)(nil)

// Auditoria returns the audit trail of m's database.
func (m *Mongo) Auditoria() *Auditoria {
	return &Auditoria{coll: m.db.Collection(auditoriaColl)}
}

func auditoriaIndexes(db *mongo.Database) []collIndex {
	return []collIndex{{db.Collection(auditoriaColl), mongo.IndexModel{
		Keys:    bson.D{{Key: "clienteId", Value: 1}, {Key: "version", Value: -1}},
		Options: options.Index().SetName("cliente_version"),
	}}, {db.Collection(auditoriaColl), mongo.IndexModel{ // see grupoIndex
		Keys: bson.D{{Key: "clienteId", Value: 1}}, Options: options.Index().SetName("clienteId"),
	}}}
}

type autorDoc struct {
	Principal string `bson:"principal,omitempty"`
	ClientID  string `bson:"clientId,omitempty"`
}

// campoDoc holds a value as BSON does: a string, a boolean or null.
type campoDoc struct {
	Campo   string `bson:"campo"`
	Antes   any    `bson:"antes"`
	Despues any    `bson:"despues"`
	Borrado bool   `bson:"borrado,omitempty"`
}

// registroDoc is the stored form of a change's audit record, on the
// customer (cliente.Registro).
type registroDoc struct {
	Fecha  time.Time  `bson:"fecha"`
	Autor  autorDoc   `bson:"autor"`
	Campos []campoDoc `bson:"campos"`
}

type auditoriaDoc struct {
	ID        string `bson:"_id"` // "<clienteId>-<version>"
	ClienteID int64  `bson:"clienteId"`
	Version   int64  `bson:"version"`
	Tipo      string `bson:"tipo"`
	// The change's record, inline: the same fields as on the customer.
	Registro registroDoc `bson:",inline"`
}

func camposDocOf(cs []handlers.CampoCambiado) []campoDoc {
	out := make([]campoDoc, len(cs))
	for i, c := range cs {
		out[i] = campoDoc{Campo: c.Campo, Antes: c.Antes, Despues: c.Despues, Borrado: c.Borrado}
	}
	return out
}

func (d campoDoc) toHandlers() handlers.CampoCambiado {
	return handlers.CampoCambiado{Campo: d.Campo, Antes: d.Antes, Despues: d.Despues, Borrado: d.Borrado}
}

func registroDocOf(r *handlers.RegistroCambio) *registroDoc {
	if r == nil {
		return nil
	}
	return &registroDoc{Fecha: r.Fecha.UTC().Truncate(time.Millisecond), Autor: autorDoc{Principal: r.Autor.Subject, ClientID: r.Autor.ClientID},
		Campos: camposDocOf(r.Campos)}
}

func (d *registroDoc) toHandlers() *handlers.RegistroCambio {
	if d == nil {
		return nil
	}
	r := &handlers.RegistroCambio{Fecha: d.Fecha.UTC(), Autor: handlers.Principal{Subject: d.Autor.Principal, ClientID: d.Autor.ClientID},
		Campos: make([]handlers.CampoCambiado, len(d.Campos))}
	for i, c := range d.Campos {
		r.Campos[i] = c.toHandlers()
	}
	return r
}

func auditoriaDocOf(e handlers.EntradaAuditoria) auditoriaDoc {
	reg := registroDocOf(&handlers.RegistroCambio{Fecha: e.Fecha, Autor: e.Autor, Campos: e.Campos})
	return auditoriaDoc{
		ID:        strconv.FormatInt(e.ClienteID, 10) + "-" + strconv.FormatInt(e.Version, 10),
		ClienteID: e.ClienteID, Version: e.Version, Tipo: e.Tipo, Registro: *reg,
	}
}

func (a *Auditoria) Add(ctx context.Context, e handlers.EntradaAuditoria) error {
	_, err := a.coll.InsertOne(ctx, auditoriaDocOf(e))
	if _, dup := duplicateKey(err); dup {
		return nil
	}
	return mapError(err)
}

var _ handlers.AuditoriaVarias = (*Auditoria)(nil)

// AddVarias is Add of every entry, in ordered inserts (insertarTodos).
func (a *Auditoria) AddVarias(ctx context.Context, es []handlers.EntradaAuditoria) error {
	docs := make([]any, len(es))
	for i, e := range es {
		docs[i] = auditoriaDocOf(e)
	}
	return insertarTodos(ctx, a.coll, docs)
}

func (a *Auditoria) Pagina(ctx context.Context, clienteID, antesDe int64, limite int) ([]handlers.EntradaAuditoria, error) {
	filter := bson.D{{Key: "clienteId", Value: clienteID}}
	if antesDe != 0 {
		filter = append(filter, bson.E{Key: "version", Value: bson.D{{Key: "$lt", Value: antesDe}}})
	}
	docs, err := a.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "version", Value: -1}}).SetLimit(int64(limite)))
	if err != nil {
		return nil, err
	}
	out := make([]handlers.EntradaAuditoria, len(docs))
	for i, d := range docs {
		r := d.Registro.toHandlers()
		out[i] = handlers.EntradaAuditoria{ClienteID: d.ClienteID, Version: d.Version, Tipo: d.Tipo, Fecha: r.Fecha, Autor: r.Autor, Campos: r.Campos}
	}
	return out, nil
}

// Borrar rewrites each entry's fields in Go rather than with an
// array-filter update, which FerretDB 1.x does not implement; a customer
// has few entries.
func (a *Auditoria) Borrar(ctx context.Context, clienteID int64) error {
	docs, err := a.find(ctx, bson.D{{Key: "clienteId", Value: clienteID}}, options.Find())
	if err != nil {
		return err
	}
	for _, d := range docs {
		r := d.Registro.toHandlers()
		borrados := camposDocOf(handlers.Borrar(r.Campos))
		if reflect.DeepEqual(borrados, d.Registro.Campos) {
			continue // erased already
		}
		if _, err := a.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "campos", Value: borrados}}}}); err != nil {
			return mapError(err)
		}
	}
	return nil
}

func (a *Auditoria) find(ctx context.Context, filter bson.D, opts *options.FindOptions) ([]auditoriaDoc, error) {
	return findAll[auditoriaDoc](ctx, a.coll, filter, opts)
}

func (m *Mongo) Anonimizar(ctx context.Context, id int64, c handlers.Campos, cond handlers.Cambio) (handlers.Cliente, error) {
	return m.cambiarCampos(ctx, id, c, cond, func(cur handlers.Cliente) bson.D {
		if cur.Anonimizado {
			return nil // anonymised already: a no-op
		}
		return bson.D{{Key: "activo", Value: false}, {Key: "anonimizado", Value: true},
			{Key: "cambio", Value: handlers.CambioAnonimizado}, {Key: "lastOp", Value: cond.IdempotencyKey},
			{Key: "registro", Value: registroDocOf(cond.Registro)}}
	})
}
