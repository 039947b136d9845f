package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDoublesUpToMaxAndResets(t *testing.T) {
	b := New(10*time.Millisecond, 50*time.Millisecond)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 10*time.Millisecond {
		t.Fatalf("after Reset: %v, want 10ms", d)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if New(time.Hour, time.Hour).Wait(ctx) {
		t.Fatal("Wait = true on a cancelled context")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Wait did not return at once")
	}
	if !New(time.Millisecond, time.Millisecond).Wait(context.Background()) {
		t.Fatal("Wait = false without cancellation")
	}
}
