package repository

import (
	"testing"

	"github.com/jea/cliente/handlers/storetest"
)

func TestOutboxBacklog(t *testing.T) {
	storetest.RunOutboxBacklog(t, func(t *testing.T) storetest.BacklogOutbox {
		return newStore(t, newDatabase(t)).Outbox()
	})
}
