package repository

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/jea/cliente/handlers"
)

// Error shapes as the driver returns them, copied from real replies.
var (
	// MongoDB names the index, then the duplicated value.
	mongoInsertDNI = mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000,
		Message: `E11000 duplicate key error collection: app.clientes index: dni_unique dup key: { dni: "44444444" }`}}}
	// findAndModify reports a command error; the value mentions the other
	// index name, which must not confuse the classifier.
	mongoUpdateEmail = mongo.CommandError{Code: 11000, Name: "DuplicateKey",
		Message: `E11000 duplicate key error collection: app.clientes index: email_unique dup key: { email: "dni_unique@example.pe" }`}
	mongoInsertID = mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000,
		Message: `E11000 duplicate key error collection: app.clientes index: _id_ dup key: { _id: 7 }`}}}
	// FerretDB 1.24 on insert: 11000 without the index.
	ferretInsert = mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000,
		Message: `E11000 duplicate key error collection: app.clientes`}}}
	// FerretDB 1.24 on findAndModify and update over SQLite: a command
	// error, code 1, whatever the command.
	ferretSQLiteUpdate = mongo.CommandError{Code: 1, Name: "InternalError",
		Message: "[msg_findandmodify.go:196 handler.(*Handler).findAndModifyDocument] [update.go:114 common.UpdateDocument] " +
			"[collection.go:191 sqlite.(*collection).UpdateAll] [collection.go:177 sqlite.(*collection).UpdateAll.func1] " +
			"constraint failed: UNIQUE constraint failed: index 'clientes_6dab1996_dni_unique' (2067)"}
	// FerretDB 1.24 over PostgreSQL.
	ferretPostgresUpdate = mongo.CommandError{Code: 1, Name: "InternalError",
		Message: "[msg_findandmodify.go:196 handler.(*Handler).findAndModifyDocument] [update.go:114 common.UpdateDocument] " +
			"[collection.go:227 postgresql.(*collection).UpdateAll] [collection.go:218 postgresql.(*collection).UpdateAll.func1] " +
			`ERROR: duplicate key value violates unique constraint "clientes_6dab1996_email_unique_fdc48a5f_idx" (SQLSTATE 23505)`}
	// The same text as a write error, in case a version reports it so.
	ferretUpdateWriteError = mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 1,
		Message: "constraint failed: UNIQUE constraint failed: index 'clientes_6dab1996_email_unique' (2067)"}}}
)

func TestDuplicateKey(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantDup   bool
		wantField string
	}{
		{"MongoDB insert", mongoInsertDNI, true, "dni"},
		{"MongoDB findAndModify", mongoUpdateEmail, true, "email"},
		{"MongoDB _id", mongoInsertID, true, "_id"},
		{"MongoDB wrapped", fmt.Errorf("insert: %w", mongoInsertDNI), true, "dni"},
		{"MongoDB other index", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000,
			Message: `E11000 duplicate key error collection: app.clientes index: other dup key: { x: 1 }`}}}, true, ""},
		{"FerretDB insert", ferretInsert, true, ""},
		{"FerretDB SQLite update", ferretSQLiteUpdate, true, ""},
		{"FerretDB PostgreSQL update", ferretPostgresUpdate, true, ""},
		{"FerretDB update as write error", ferretUpdateWriteError, true, ""},
		{"other command error", mongo.CommandError{Code: 2, Name: "BadValue", Message: "unknown operator: $foo"}, false, ""},
		{"other internal error", mongo.CommandError{Code: 1, Name: "InternalError", Message: "disk I/O error"}, false, ""},
		{"other write error", mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 121, Message: "Document failed validation"}}}, false, ""},
		{"not a server error", errors.New("UNIQUE constraint failed"), false, ""},
		{"nil", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, dup := duplicateKey(tc.err)
			if dup != tc.wantDup || field != tc.wantField {
				t.Errorf("duplicateKey = %q, %v; want %q, %v", field, dup, tc.wantField, tc.wantDup)
			}
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want handlers.Code
	}{
		{"no document", mongo.ErrNoDocuments, handlers.CodeNotFound},
		{"cancelled", fmt.Errorf("op: %w", context.Canceled), handlers.CodeUnavailable},
		{"deadline", context.DeadlineExceeded, handlers.CodeUnavailable},
		{"server selection", topology.ServerSelectionError{Wrapped: topology.ErrServerSelectionTimeout}, handlers.CodeUnavailable},
		{"server selection, other cause", topology.ServerSelectionError{Wrapped: errors.New("no primary")}, handlers.CodeUnavailable},
		{"disconnected", mongo.ErrClientDisconnected, handlers.CodeUnavailable},
		{"network timeout", fmt.Errorf("read: %w", timeoutError{}), handlers.CodeUnavailable},
		{"network error label", mongo.CommandError{Labels: []string{"NetworkError"}, Message: "connection reset"}, handlers.CodeUnavailable},
		{"handshake refused", topology.ConnectionError{ConnectionID: "c1", Wrapped: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, handlers.CodeUnavailable},
		{"dial refused", fmt.Errorf("insert: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), handlers.CodeUnavailable},
		{"shutting down", mongo.CommandError{Code: 91, Name: "ShutdownInProgress", Labels: []string{"RetryableWriteError"}}, handlers.CodeUnavailable},
		{"rejected command", mongo.CommandError{Code: 2, Name: "BadValue", Message: "secret detail"}, handlers.CodeInternal},
		{"duplicate key outside a write", mongoInsertDNI, handlers.CodeInternal},
		{"anything else", errors.New("secret detail"), handlers.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mapError(tc.err)
			var e *handlers.Error
			if !errors.As(err, &e) {
				t.Fatalf("mapError = %#v, want a *handlers.Error", err)
			}
			if e.Code != tc.want {
				t.Errorf("code = %q, want %q (%v)", e.Code, tc.want, err)
			}
			if strings.Contains(e.Message, "secret") || strings.Contains(e.Message, "E11000") {
				t.Errorf("message %q leaks the driver's text", e.Message)
			}
			// Driver errors are not comparable; the text identifies them.
			if tc.want != handlers.CodeNotFound && (e.Err == nil || e.Err.Error() != tc.err.Error()) {
				t.Errorf("%v does not keep its cause", err)
			}
		})
	}
	if mapError(nil) != nil {
		t.Error("mapError(nil) != nil")
	}
}
