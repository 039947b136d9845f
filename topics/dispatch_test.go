package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

// The broker's ACLs keep the admin topic to the edge, so the worker must
// run an administration operation from that topic only, and only those
// from it: every request type, sent to each kind of topic.
func TestAdminOperationsOnlyOnTheAdminTopic(t *testing.T) {
	ctx := context.Background()
	admin := []Type{TypeAnonimizar, TypeAuditoria, TypeDatos}
	for typ := range operations {
		for _, served := range []Requests{ServiceRequests, AdminRequests} {
			t.Run(fmt.Sprintf("%s/%d", typ, served), func(t *testing.T) {
				svc := memstore.Service(handlers.Deps{Store: memstore.New(), Now: time.Now})
				dni, nombre, email := "10117410", "Ana", "ana@example.pe"
				c, err := svc.Crear(ctx, handlers.Datos{DNI: &dni, Nombre: &nombre, Email: &email}, handlers.Cambio{})
				if err != nil {
					t.Fatal(err)
				}
				body := fmt.Sprintf(`{"type":%q,"meta":{},"data":{"id":%d}}`, typ, c.ID)
				_, err = Dispatcher(svc, served)(ctx, Message{Topic: "t", Body: []byte(body), Type: typ})
				var herr *handlers.Error
				refused := errors.As(err, &herr) && strings.Contains(herr.Message, "admin topic")
				wantRefused := slices.Contains(admin, typ) != (served == AdminRequests)
				if refused != wantRefused {
					t.Fatalf("refused %v (%v), want %v", refused, err, wantRefused)
				}
				if refused {
					var fields []string
					for _, f := range herr.Fields {
						fields = append(fields, f.Field)
					}
					if herr.Code != handlers.CodeInvalid || !slices.Equal(fields, []string{"type"}) {
						t.Fatalf("refusal %v: want invalid naming type", err)
					}
				}
				// Nothing ran: the customer is as created.
				if got, err := svc.Obtener(ctx, c.ID); err != nil || (refused && got.Version != c.Version) {
					t.Fatalf("after a refused %s: %+v, %v", typ, got, err)
				}
			})
		}
	}
}
