package memstore_test

import (
	"testing"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/idempotencytest"
	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/handlers/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) handlers.Store { return memstore.New() })
}

func TestIdempotencyContract(t *testing.T) {
	idempotencytest.Run(t, func(*testing.T) handlers.IdempotencyStore { return memstore.NewIdempotency() })
}

func TestHistorialContract(t *testing.T) {
	storetest.RunHistorial(t, func(*testing.T) handlers.Historial { return memstore.NewHistorial() })
}

func TestOutboxContract(t *testing.T) {
	storetest.RunOutbox(t, func(*testing.T) handlers.Outbox { return memstore.NewOutbox() })
}

func TestReportesContract(t *testing.T) {
	storetest.RunReportes(t, storetest.ReportesOptions{Seeds: []uint64{1, 2, 3, 4, 5, 6, 7, 8}, Operations: 600},
		func(*testing.T) storetest.ReportesStores {
			r := memstore.NewReportes()
			return storetest.ReportesStores{Store: memstore.New(), Historial: memstore.NewHistorial(), Reportes: r, CrashAfter: r.CrashAfter}
		})
}
