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

const (
	comprasColl     = "compras"
	anulacionesColl = "anulaciones"
	resumenesColl   = "resumenes"
)

// Historial is a handlers.Historial on the customers' database.
//
// Sales and cancellations are separate documents, both keyed by sale id and
// only ever inserted, never updated: the unique _id makes "first one wins"
// atomic on MongoDB and on FerretDB alike (whose updates are not atomic),
// so duplicates and any arrival order need no transaction. A purchase is
// cancelled if a cancellation with its id exists.
//
// Totals live in one document per customer, replaced under a revision
// check. That check is atomic on MongoDB; on FerretDB it relies on one
// customer's events being applied one at a time, which the worker ensures.
type Historial struct {
	compras     *mongo.Collection
	anulaciones *mongo.Collection
	resumenes   *mongo.Collection
	varios
}

var _ handlers.Historial = (*Historial)(nil)

// Historial returns the purchase history of m's database.
func (m *Mongo) Historial() *Historial {
	return &Historial{
		compras:     m.db.Collection(comprasColl),
		anulaciones: m.db.Collection(anulacionesColl),
		resumenes:   m.db.Collection(resumenesColl),
		varios:      m.varios,
	}
}

// historialIndexes are created by EnsureSchema.
func historialIndexes(db *mongo.Database) []collIndex {
	return []collIndex{
		// The history page: one customer's sales, newest first.
		{db.Collection(comprasColl), mongo.IndexModel{
			Keys:    bson.D{{Key: "clienteId", Value: 1}, {Key: "fecha", Value: -1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("cliente_fecha"),
		}},
		// One customer's sales, all of them (totals); see grupoIndex.
		{db.Collection(comprasColl), mongo.IndexModel{Keys: bson.D{{Key: "clienteId", Value: 1}},
			Options: options.Index().SetName("clienteId")}},
		{db.Collection(resumenesColl), grupoIndex()},
	}
}

type compraDoc struct {
	VentaID         string    `bson:"_id"`
	ClienteID       int64     `bson:"clienteId"`
	Fecha           time.Time `bson:"fecha"`
	Total           int64     `bson:"total"` // minor units of moneda
	Moneda          string    `bson:"moneda"`
	Items           int       `bson:"items"`
	ClienteInactivo bool      `bson:"clienteInactivo,omitempty"`
}

type anulacionDoc struct {
	VentaID   string    `bson:"_id"`
	ClienteID int64     `bson:"clienteId"` // as the event said; the sale's wins
	Fecha     time.Time `bson:"fecha"`
}

func compraDocOf(c handlers.Compra) compraDoc {
	return compraDoc{
		VentaID: c.VentaID, ClienteID: c.ClienteID, Fecha: c.Fecha.UTC().Truncate(time.Millisecond),
		Total: c.Total.Minor, Moneda: c.Total.Moneda, Items: c.Items, ClienteInactivo: c.ClienteInactivo,
	}
}

func (d compraDoc) toHandlers(anul *anulacionDoc) handlers.Compra {
	c := handlers.Compra{
		VentaID: d.VentaID, ClienteID: d.ClienteID, Fecha: d.Fecha.UTC(),
		Total: handlers.Importe{Minor: d.Total, Moneda: d.Moneda}, Items: d.Items,
		Registrada: true, ClienteInactivo: d.ClienteInactivo,
	}
	if anul != nil {
		c.Anulada, c.FechaAnulacion = true, anul.Fecha.UTC()
	}
	return c
}

func (h *Historial) RegistrarCompra(ctx context.Context, c handlers.Compra) (handlers.EstadoCompra, handlers.Compra, error) {
	doc := compraDocOf(c)
	_, err := h.compras.InsertOne(ctx, doc)
	if err == nil {
		var anul anulacionDoc
		err := h.anulaciones.FindOne(ctx, bson.D{{Key: "_id", Value: c.VentaID}}).Decode(&anul)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return handlers.EstadoNueva, doc.toHandlers(nil), nil
		case err != nil:
			return "", handlers.Compra{}, mapError(err)
		}
		return handlers.EstadoNueva, doc.toHandlers(&anul), nil
	}
	if _, dup := duplicateKey(err); !dup {
		return "", handlers.Compra{}, mapError(err)
	}
	var stored compraDoc
	if err := h.compras.FindOne(ctx, bson.D{{Key: "_id", Value: c.VentaID}}).Decode(&stored); err != nil {
		return "", handlers.Compra{}, mapError(err)
	}
	if stored.toHandlers(nil).MismaVenta(doc.toHandlers(nil)) {
		return handlers.EstadoDuplicada, stored.toHandlers(nil), nil
	}
	return handlers.EstadoConflicto, stored.toHandlers(nil), nil
}

func (h *Historial) AnularCompra(ctx context.Context, ventaID string, clienteID int64, fecha time.Time) (handlers.Compra, error) {
	_, err := h.anulaciones.InsertOne(ctx, anulacionDoc{VentaID: ventaID, ClienteID: clienteID, Fecha: fecha.UTC().Truncate(time.Millisecond)})
	if _, dup := duplicateKey(err); err != nil && !dup {
		return handlers.Compra{}, mapError(err)
	}
	var anul anulacionDoc
	if err := h.anulaciones.FindOne(ctx, bson.D{{Key: "_id", Value: ventaID}}).Decode(&anul); err != nil {
		return handlers.Compra{}, mapError(err)
	}
	var sale compraDoc
	err = h.compras.FindOne(ctx, bson.D{{Key: "_id", Value: ventaID}}).Decode(&sale)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return handlers.Compra{VentaID: ventaID, ClienteID: anul.ClienteID, Anulada: true, FechaAnulacion: anul.Fecha.UTC()}, nil
	case err != nil:
		return handlers.Compra{}, mapError(err)
	}
	return sale.toHandlers(&anul), nil
}

func (h *Historial) ComprasDe(ctx context.Context, clienteID int64) ([]handlers.Compra, error) {
	return h.find(ctx, bson.D{{Key: "clienteId", Value: clienteID}}, options.Find())
}

func (h *Historial) PaginaCompras(ctx context.Context, clienteID int64, p handlers.PaginaCompras) ([]handlers.Compra, error) {
	filter := bson.D{{Key: "clienteId", Value: clienteID}}
	if p.Despues != nil {
		at := p.Despues.Fecha.UTC()
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "fecha", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "fecha", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: p.Despues.VentaID}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "fecha", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(p.Limite))
	return h.find(ctx, filter, opts)
}

// find returns the sales filter selects, each marked cancelled if a
// cancellation of it exists.
func (h *Historial) find(ctx context.Context, filter bson.D, opts *options.FindOptions) ([]handlers.Compra, error) {
	cur, err := h.compras.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapError(err)
	}
	var docs []compraDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	out := make([]handlers.Compra, 0, len(docs))
	if len(docs) == 0 {
		return out, nil
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.VentaID
	}
	acur, err := h.anulaciones.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, mapError(err)
	}
	var anuls []anulacionDoc
	if err := acur.All(ctx, &anuls); err != nil {
		return nil, mapError(err)
	}
	byID := make(map[string]*anulacionDoc, len(anuls))
	for i := range anuls {
		byID[anuls[i].VentaID] = &anuls[i]
	}
	for _, d := range docs {
		out = append(out, d.toHandlers(byID[d.VentaID]))
	}
	return out, nil
}

// resumenDoc is a customer's stored totals.
type resumenDoc struct {
	ClienteID int64            `bson:"_id"`
	Revision  int64            `bson:"revision"`
	Compras   int              `bson:"compras"`
	Anuladas  int              `bson:"anuladas"`
	Items     int              `bson:"items"`
	Primera   *time.Time       `bson:"primeraCompra"`
	Ultima    *time.Time       `bson:"ultimaCompra"`
	PorMoneda []totalMonedaDoc `bson:"porMoneda"`
	Meses     []string         `bson:"meses"`
	// Grupo is grupoDe(ClienteID), for reading many at once (varios.go).
	Grupo int64 `bson:"grupo"`
}

type totalMonedaDoc struct {
	Moneda  string `bson:"moneda"`
	Compras int    `bson:"compras"`
	Total   int64  `bson:"total"` // minor units
	// Ultima is absent in totals saved before it existed.
	Ultima *time.Time `bson:"ultima,omitempty"`
}

func resumenDocOf(a handlers.Agregados, revision int64) resumenDoc {
	d := resumenDoc{ClienteID: a.ClienteID, Revision: revision, Compras: a.Compras, Anuladas: a.Anuladas, Items: a.Items,
		PorMoneda: []totalMonedaDoc{}, Meses: a.Meses, Grupo: grupoDe(a.ClienteID)}
	if d.Meses == nil {
		d.Meses = []string{}
	}
	if !a.Primera.IsZero() {
		p, u := a.Primera.UTC(), a.Ultima.UTC()
		d.Primera, d.Ultima = &p, &u
	}
	for _, t := range a.PorMoneda {
		td := totalMonedaDoc{Moneda: t.Moneda, Compras: t.Compras, Total: t.Minor}
		if !t.Ultima.IsZero() {
			u := t.Ultima.UTC()
			td.Ultima = &u
		}
		d.PorMoneda = append(d.PorMoneda, td)
	}
	return d
}

func (d resumenDoc) toHandlers() handlers.Agregados {
	a := handlers.Agregados{ClienteID: d.ClienteID, Compras: d.Compras, Anuladas: d.Anuladas, Items: d.Items}
	if d.Primera != nil && d.Ultima != nil {
		a.Primera, a.Ultima = d.Primera.UTC(), d.Ultima.UTC()
	}
	for _, t := range d.PorMoneda {
		tm := handlers.TotalMoneda{Moneda: t.Moneda, Compras: t.Compras, Minor: t.Total}
		if t.Ultima != nil {
			tm.Ultima = t.Ultima.UTC()
		}
		a.PorMoneda = append(a.PorMoneda, tm)
	}
	if len(d.Meses) > 0 {
		a.Meses = d.Meses
	}
	return a
}

func (h *Historial) Agregados(ctx context.Context, clienteID int64) (handlers.Agregados, int64, error) {
	var d resumenDoc
	err := h.resumenes.FindOne(ctx, bson.D{{Key: "_id", Value: clienteID}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return handlers.Agregados{ClienteID: clienteID}, 0, nil
	case err != nil:
		return handlers.Agregados{}, 0, mapError(err)
	}
	return d.toHandlers(), d.Revision, nil
}

func (h *Historial) GuardarAgregados(ctx context.Context, a handlers.Agregados, revision int64) error {
	d := resumenDocOf(a, revision+1)
	if revision == 0 {
		_, err := h.resumenes.InsertOne(ctx, d)
		if _, dup := duplicateKey(err); dup {
			return handlers.ErrRevision
		}
		return mapError(err)
	}
	res, err := h.resumenes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: a.ClienteID}, {Key: "revision", Value: revision}}, d)
	if err != nil {
		return mapError(err)
	}
	if res.MatchedCount == 0 {
		return handlers.ErrRevision
	}
	return nil
}

// TodasLasCompras calls f with every registered purchase, cancelled or
// not, in no particular order: one pass over the whole history, for tools
// that rebuild the reports from scratch to check them (cmd/benchreportes),
// where reading it customer by customer would take a query each.
func (h *Historial) TodasLasCompras(ctx context.Context, f func(handlers.Compra) error) error {
	acur, err := h.anulaciones.Find(ctx, bson.D{})
	if err != nil {
		return mapError(err)
	}
	var anuls []anulacionDoc
	if err := acur.All(ctx, &anuls); err != nil {
		return mapError(err)
	}
	byID := make(map[string]*anulacionDoc, len(anuls))
	for i := range anuls {
		byID[anuls[i].VentaID] = &anuls[i]
	}
	cur, err := h.compras.Find(ctx, bson.D{}, options.Find().SetBatchSize(5000))
	if err != nil {
		return mapError(err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d compraDoc
		if err := cur.Decode(&d); err != nil {
			return mapError(err)
		}
		if err := f(d.toHandlers(byID[d.VentaID])); err != nil {
			return err
		}
	}
	return mapError(cur.Err())
}
