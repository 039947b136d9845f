package topics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// recordedCommits is a commit function that remembers every call.
type recordedCommits struct {
	mu    sync.Mutex
	calls [][]kafka.Message
}

func (r *recordedCommits) commit(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, msgs)
	return nil
}

// Under a steady stream of done messages the committer commits about once
// per interval, never an offset whose predecessors are not all done, and
// on close the last done offset of each partition.
func TestCommitterBatchesCommitsInOffsetOrder(t *testing.T) {
	rec := &recordedCommits{}
	c := newCommitter(rec.commit, 50*time.Millisecond, zerolog.Nop())
	go c.run(context.Background())
	msg := func(p int, off int64) kafka.Message { return kafka.Message{Topic: "t", Partition: p, Offset: off} }

	const n = 200
	for off := range int64(n) {
		for p := range 2 {
			c.fetched(msg(p, off))
		}
	}
	// Partition 1's offset 0 is done last: nothing of it may be committed
	// before.
	start := time.Now()
	for off := range int64(n) {
		c.done(msg(0, off))
		if off > 0 {
			c.done(msg(1, off))
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	rec.mu.Lock()
	for _, call := range rec.calls {
		for _, m := range call {
			if m.Partition == 1 {
				t.Fatalf("partition 1 offset %d committed before its offset 0 was done", m.Offset)
			}
		}
	}
	// One commit per message would be n; per interval about elapsed/50ms.
	if max := int(elapsed/(50*time.Millisecond)) + 2; len(rec.calls) > max {
		t.Fatalf("%d commits in %v, want at most %d (one per interval)", len(rec.calls), elapsed, max)
	}
	rec.mu.Unlock()
	c.done(msg(1, 0))
	c.close()
	last := map[int]int64{}
	for _, call := range rec.calls {
		for _, m := range call {
			if m.Offset < last[m.Partition] {
				t.Fatalf("partition %d committed %d after %d", m.Partition, m.Offset, last[m.Partition])
			}
			last[m.Partition] = m.Offset
		}
	}
	if last[0] != n-1 || last[1] != n-1 {
		t.Fatalf("last commits %v, want offset %d of both partitions", last, n-1)
	}
}
