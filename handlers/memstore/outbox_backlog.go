package memstore

import (
	"context"
	"time"
)

// Backlog reports how many events wait and when the oldest was recorded
// (the zero time when none waits), as the MongoDB outbox does.
func (o *Outbox) Backlog(ctx context.Context) (int64, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var oldest time.Time
	for _, x := range o.events {
		if oldest.IsZero() || x.e.Registrado.Before(oldest) {
			oldest = x.e.Registrado
		}
	}
	return int64(len(o.events)), oldest, nil
}
