package repository

import (
	"context"
	"errors"
	"net"
	"regexp"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/jea/cliente/handlers"
)

// mapError turns a driver error into a *handlers.Error. The driver's text
// stays in the cause, for the logs only; the message is generic.
func mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return notFound()
	case errors.Is(err, context.Canceled):
		return handlers.Wrap(handlers.CodeUnavailable, err, "request cancelled")
	case unavailable(err):
		return handlers.Wrap(handlers.CodeUnavailable, err, "the database is unavailable")
	default:
		return handlers.Wrap(handlers.CodeInternal, err, "internal error")
	}
}

// unavailable reports whether err means the server could not be reached or
// did not answer in time, as opposed to rejecting the request.
func unavailable(err error) bool {
	var sse topology.ServerSelectionError
	var ce topology.ConnectionError
	var oe *net.OpError
	var le mongo.LabeledError
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.As(err, &sse) ||
		// A connection that fails its handshake (the server went away
		// between selection and dial) is not always labelled a network
		// error; it surfaced as an internal error in the database-stop
		// fault test.
		errors.As(err, &ce) || errors.As(err, &oe) ||
		mongo.IsTimeout(err) ||
		mongo.IsNetworkError(err) ||
		// The server labels transient states (stepping down, shutting
		// down, no primary) as retryable.
		(errors.As(err, &le) && le.HasErrorLabel("RetryableWriteError"))
}

// Messages by which FerretDB reports an update that breaks a unique index:
// code 1 (InternalError) instead of 11000, with the backend's text.
const (
	postgresUniqueViolation = "duplicate key value violates unique constraint"
	sqliteUniqueViolation   = "UNIQUE constraint failed"
)

// indexName finds the index in MongoDB's duplicate key message, which looks
// like `E11000 duplicate key error collection: db.clientes index:
// dni_unique dup key: { dni: "..." }`. Only the first match counts: later
// text is the duplicated value, which comes from a client.
var indexName = regexp.MustCompile(`index: (\S+)`)

// duplicateKey reports whether err is a unique index violation and, if the
// server named the index, the field it guards: "dni", "email" or "_id"
// ("" if it named none, or one that is not ours).
func duplicateKey(err error) (field string, dup bool) {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return "", false
	}
	if !mongo.IsDuplicateKeyError(err) &&
		!se.HasErrorMessage(postgresUniqueViolation) &&
		!se.HasErrorMessage(sqliteUniqueViolation) {
		return "", false
	}
	for _, msg := range serverMessages(err) {
		if m := indexName.FindStringSubmatch(msg); m != nil {
			return indexField[m[1]], true
		}
	}
	return "", true
}

var indexField = map[string]string{"_id_": "_id", "id_unique": "_id", "dni_unique": "dni", "email_unique": "email"}

// serverMessages returns the messages of the server errors in err.
func serverMessages(err error) []string {
	var msgs []string
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		msgs = append(msgs, ce.Message)
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			msgs = append(msgs, e.Message)
		}
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		for _, e := range bwe.WriteErrors {
			msgs = append(msgs, e.Message)
		}
	}
	return msgs
}

// writeError maps the error of a write that stores c as customer id. A
// unique index violation on dni or email becomes Conflict naming the field.
// When the server does not say which index (FerretDB never does), the field
// is the one that another customer holds, dni first as MongoDB checks it
// first.
//
// retry is true when the write may succeed if tried again: the _id was
// taken, or no other customer holds dni or email any more (it changed in
// between, or the violated index was _id). On MongoDB, ids from the counter
// are never taken; on FerretDB they can be, see Insert.
func (m *Mongo) writeError(ctx context.Context, err error, id int64, c handlers.Campos) (retry bool, _ error) {
	field, dup := duplicateKey(err)
	switch {
	case !dup:
		return false, mapError(err)
	case field == "dni" || field == "email":
		return false, handlers.Conflict(field)
	case field == "":
		for _, f := range []struct{ name, value string }{{"dni", c.DNI}, {"email", c.Email}} {
			held, lookupErr := m.heldByOther(ctx, f.name, f.value, id)
			if lookupErr != nil {
				return false, lookupErr
			}
			if held {
				return false, handlers.Conflict(f.name)
			}
		}
	}
	return true, handlers.Wrap(handlers.CodeInternal, err, "internal error")
}

// heldByOther reports whether a customer other than id has value in field.
func (m *Mongo) heldByOther(ctx context.Context, field, value string, id int64) (bool, error) {
	c, err := m.porCampo(ctx, field, value)
	switch {
	case err == nil:
		return c.ID != id, nil
	case handlers.ErrorCode(err) == handlers.CodeNotFound:
		return false, nil
	default:
		return false, err
	}
}

// insertarTodos inserts docs, keeping a document whose _id is stored
// already once: a retried batch of records the relay made (audit entries,
// notices). See insertarCada for why the inserts are ordered.
func insertarTodos(ctx context.Context, coll *mongo.Collection, docs []any) error {
	for _, err := range insertarCada(ctx, coll, docs) {
		if _, dup := duplicateKey(err); err != nil && !dup {
			return mapError(err)
		}
	}
	return nil
}
