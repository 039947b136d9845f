package faults

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// 1. kill -9 the worker in the middle of 2,000 creates sent with
// idempotency keys by clients that retry; restart it. Every create that
// got a 2xx exists exactly once, no dni twice, none missing.
func TestWorkerKilledMidStream(t *testing.T) {
	skipUnlessEnabled(t)
	sc := newScenario(t, "kill9", "REQUEST_TIMEOUT=2s")
	worker := sc.start(t, "worker", "worker-1")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr

	const n = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var statuses statusCounts
	var downtime time.Duration
	start := time.Now()
	outcomes, err := loadWithDisruption(ctx, sc, base, n, 500, &statuses, func() error {
		t0 := time.Now()
		worker.kill9()
		_, err := sc.launch(t, "worker", "worker-2")
		downtime = time.Since(t0)
		return err
	})
	if err != nil {
		t.Fatalf("restarted worker: %v", err)
	}
	acked, present, dups := verify(t, sc, base, outcomes)
	t.Logf("FIGURES kill -9 worker: sent %d, acknowledged %d, present %d, duplicates %d; worker killed after 500 acks and ready again after %v; answers seen %v; total %v",
		n, acked, present, dups, downtime.Round(time.Millisecond), statuses.String(), time.Since(start).Round(time.Second))
	if acked != n {
		t.Errorf("%d of %d creates acknowledged: clients retry until a final answer", acked, n)
	}
}

// 2. Two workers in one group; one is killed: the other takes over its
// partitions. Takeover time: from the kill until probes succeed again.
func TestTakeoverWhenOneOfTwoWorkersDies(t *testing.T) {
	skipUnlessEnabled(t)
	sc := newScenario(t, "takeover", "REQUEST_TIMEOUT=1s")
	a := sc.start(t, "worker", "worker-a")
	b := sc.start(t, "worker", "worker-b")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr
	var statuses statusCounts

	probe := func(i int) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		o := createOnce(ctx, base, bodyFor(sc, i), fmt.Sprintf("%s-%d", sc.name, i), &statuses)
		return o/100 == 2
	}
	// Wait for a stable group in which both workers own partitions: 30
	// creates in a row succeed and each worker handled some of them.
	i, streak := 0, 0
	for deadline := time.Now().Add(90 * time.Second); ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("group never stable with both workers owning partitions")
		}
		if !probe(i) {
			streak = 0
			continue
		}
		if streak++; streak >= 30 {
			before := [2]float64{handledCreates(a), handledCreates(b)}
			for range 12 {
				i++
				probe(i)
			}
			if handledCreates(a) > before[0] && handledCreates(b) > before[1] {
				break
			}
			streak = 0
		}
	}

	a.kill9()
	killed := time.Now()
	var recovered time.Time
	failures := 0
	streak = 0
	for deadline := killed.Add(90 * time.Second); streak < 30; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no takeover within 90s (%d failed probes)", failures)
		}
		sent := time.Now()
		if probe(i) {
			if streak == 0 {
				recovered = sent
			}
			streak++
		} else {
			failures++
			streak = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := recovered.Sub(killed)
	if failures == 0 {
		t.Fatal("no probe failed after the kill: the killed worker owned no partitions, nothing was measured")
	}
	t.Logf("FIGURES takeover: %d probes failed after the kill; the surviving worker served every partition %v after it (session timeout 10s); answers %v",
		failures, takeover.Round(time.Millisecond), statuses.String())
	if takeover > 45*time.Second {
		t.Errorf("takeover took %v, want under 45s", takeover)
	}
}

// createOnce sends one create without retrying and returns its status
// (0 for a transport error).
func createOnce(ctx context.Context, base string, body map[string]any, key string, statuses *statusCounts) int {
	o := createRetryingN(ctx, base, body, key, statuses, 1)
	return o.status
}

// 3. The Kafka broker restarted during load: the edge answers 503/504
// while it is down and recovers by itself; nothing acknowledged is lost.
func TestBrokerRestartUnderLoad(t *testing.T) {
	skipUnlessEnabled(t)
	faultUnderLoad(t, "kafka", "broker")
}

// 4. The MongoDB-protocol server stopped during load: nothing is applied
// half way; commands are applied after it returns or answered unavailable;
// every acknowledged create exists once.
func TestDatabaseStopUnderLoad(t *testing.T) {
	skipUnlessEnabled(t)
	faultUnderLoad(t, "ferretdb", "database")
}

func faultUnderLoad(t *testing.T, part, label string) {
	sc := newScenario(t, "stop-"+part, "REQUEST_TIMEOUT=2s")
	sc.start(t, "worker", "worker")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr

	const n = 600
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var statuses, downStatuses statusCounts
	var down sync.Once
	stopped := make(chan struct{})
	outcomes := make(chan []outcome, 1)
	go func() {
		outcomes <- load(ctx, sc, base, n, 4, &statuses, func(acked int64) {
			if acked >= 100 {
				down.Do(func() { close(stopped) })
			}
		})
	}()
	<-stopped
	infraStop(t, part)
	stoppedAt := time.Now()
	// While it is down, what do clients see? Probe reads for 5 s.
	for time.Since(stoppedAt) < 5*time.Second {
		probeGet(base, &downStatuses)
		time.Sleep(100 * time.Millisecond)
	}
	infraUp(t)
	upAt := time.Now()
	var recovery time.Duration
	for deadline := upAt.Add(2 * time.Minute); ; {
		if probeGet(base, nil) == 200 {
			recovery = time.Since(upAt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not recover within 2 minutes of the %s coming back", label)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := <-outcomes
	acked, present, dups := verify(t, sc, base, got)
	t.Logf("FIGURES %s stopped for %v under load: sent %d, acknowledged %d, present %d, duplicates %d; answers while down %v; all answers %v; first successful read %v after it was back",
		label, upAt.Sub(stoppedAt).Round(time.Millisecond), n, acked, present, dups, downStatuses.String(), statuses.String(), recovery.Round(time.Millisecond))
	if statuses.get(500) > 0 || downStatuses.get(500) > 0 {
		t.Errorf("500 answers seen: a fault must surface as 503/504, never as an internal error")
	}
	if downStatuses.get(503)+downStatuses.get(504) == 0 {
		t.Errorf("no 503/504 while the %s was down: %v", label, downStatuses.String())
	}
	if acked != n {
		t.Errorf("%d of %d creates acknowledged", acked, n)
	}
}

// probeGet lists customers once and returns the status (0 on transport
// errors).
func probeGet(base string, statuses *statusCounts) int {
	resp, err := httpClient.Get(base + "/cliente/activos")
	code := 0
	if err == nil {
		resp.Body.Close()
		code = resp.StatusCode
	}
	if statuses != nil {
		statuses.add(code)
	}
	return code
}

// SIGTERM mid-stream: the worker stops fetching, finishes and commits what
// it has, leaves the group and exits 0 within SHUTDOWN_TIMEOUT; its
// replacement carries on and nothing acknowledged is lost.
func TestGracefulShutdownMidStream(t *testing.T) {
	skipUnlessEnabled(t)
	sc := newScenario(t, "sigterm", "REQUEST_TIMEOUT=2s")
	worker := sc.start(t, "worker", "worker-1")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr

	const n = 800
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var statuses statusCounts
	var took time.Duration
	outcomes, err := loadWithDisruption(ctx, sc, base, n, 200, &statuses, func() error {
		t0 := time.Now()
		worker.signal(syscall.SIGTERM)
		select {
		case <-worker.exited:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("still running 30s after SIGTERM")
		}
		took = time.Since(t0)
		if worker.exitErr != nil {
			return worker.exitErr
		}
		if _, err := sc.launch(t, "worker", "worker-2"); err != nil {
			return fmt.Errorf("replacement: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	acked, present, dups := verify(t, sc, base, outcomes)
	t.Logf("FIGURES SIGTERM worker: exited 0 after %v (bound 10s); sent %d, acknowledged %d, present %d, duplicates %d; answers %v",
		took.Round(time.Millisecond), n, acked, present, dups, statuses.String())
	if took > 12*time.Second {
		t.Errorf("shutdown took %v, over SHUTDOWN_TIMEOUT (10s)", took)
	}
}

// handledCreates reads how many creates a worker has handled from its own
// /metrics, or -1 if it cannot be read.
func handledCreates(p *proc) float64 {
	resp, err := httpClient.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	const series = `cliente_worker_messages_handled_total{outcome="ok",type="cliente.crear"} `
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
