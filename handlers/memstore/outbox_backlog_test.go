package memstore_test

import (
	"testing"

	"github.com/jea/cliente/handlers/memstore"
	"github.com/jea/cliente/handlers/storetest"
)

func TestOutboxBacklog(t *testing.T) {
	storetest.RunOutboxBacklog(t, func(*testing.T) storetest.BacklogOutbox { return memstore.NewOutbox() })
}
