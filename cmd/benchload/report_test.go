package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// samples makes n requests spread over one second from t0, each with the
// given latency and status.
func samples(t0 time.Time, n int, lat time.Duration, ok bool) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = sample{start: t0.Add(time.Duration(i) * time.Second / time.Duration(n)), latency: lat, ok: ok}
	}
	return out
}

// TestStepVerdicts: a step is sustained, or not; a scenario ramps on past
// an unsustained step that answered everything a little too slowly, and
// stops at an overloaded one (answers lost, too few sent, or queued).
func TestStepVerdicts(t *testing.T) {
	t0 := time.Unix(0, 0)
	fast := samples(t0, 1000, 2*time.Millisecond, true)
	slowTail := append(samples(t0, 980, 2*time.Millisecond, true), samples(t0, 20, 80*time.Millisecond, true)...)
	queued := append(samples(t0, 980, 2*time.Millisecond, true), samples(t0, 20, 900*time.Millisecond, true)...)
	oneFailure := append(samples(t0, 999, 2*time.Millisecond, true), sample{start: t0, latency: time.Millisecond})
	twoFailures := append(samples(t0, 998, 2*time.Millisecond, true), samples(t0, 2, time.Millisecond, false)...)
	for _, tc := range []struct {
		name                          string
		s                             []sample
		offered                       int
		wantSustained, wantOverloaded bool
	}{
		{"all fast and ok", fast, 1000, true, false},
		{"p99 80 ms, all answered", slowTail, 1000, false, false},
		{"p99 900 ms", queued, 1000, false, true},
		{"99.9 % ok", oneFailure, 1000, true, false},
		{"99.8 % ok", twoFailures, 1000, false, true},
		{"sent too few of the offered", fast, 2000, false, true},
		{"nothing sent", nil, 1000, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := summarize(step{offered: tc.offered, duration: time.Second, samples: tc.s})
			if got := st.sustained(tc.offered, time.Second); got != tc.wantSustained {
				t.Errorf("sustained = %v, want %v (stats %+v)", got, tc.wantSustained, st)
			}
			if got := st.overloaded(tc.offered, time.Second); got != tc.wantOverloaded {
				t.Errorf("overloaded = %v, want %v (stats %+v)", got, tc.wantOverloaded, st)
			}
		})
	}
}

func TestHighestSustainedAndTable(t *testing.T) {
	t0 := time.Unix(0, 0)
	steps := []step{
		{scenario: "get-id", offered: 500, duration: time.Second, samples: samples(t0, 500, time.Millisecond, true), cpu: []time.Duration{500 * time.Millisecond}},
		{scenario: "get-id", offered: 1000, duration: time.Second, samples: samples(t0, 1000, 3*time.Millisecond, true), cpu: []time.Duration{time.Second}},
		{scenario: "get-id", offered: 2000, duration: time.Second, samples: samples(t0, 2000, 300*time.Millisecond, true), cpu: []time.Duration{time.Second}},
		{scenario: "post", offered: 250, duration: time.Second, samples: samples(t0, 250, time.Second, false), cpu: []time.Duration{0}},
	}
	order, best := highestSustained(steps)
	if strings.Join(order, ",") != "get-id,post" || best["get-id"] != 1000 || best["post"] != 0 {
		t.Fatalf("order %v best %v", order, best)
	}
	var out bytes.Buffer
	for i := range steps {
		steps[i].cpu = append(steps[i].cpu, time.Hour) // the load generator's: not in the total
	}
	printReport(&out, []string{"dev", loadgen}, steps, []recovery{{scenario: "get-id", rate: 100, after: 750 * time.Millisecond, ok: true}})
	for _, want := range []string{"get-id     1000/s", "post       none of the steps", "1.000            3600.000             1.000", "normal after 750ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRecoveryTime(t *testing.T) {
	t0 := time.Unix(100, 0)
	w := 250 * time.Millisecond
	at := func(d time.Duration, lat time.Duration, ok bool) sample {
		return sample{start: t0.Add(d), latency: lat, ok: ok}
	}
	for _, tc := range []struct {
		name   string
		s      []sample
		want   time.Duration
		wantOK bool
	}{
		{"normal at once", []sample{at(0, time.Millisecond, true), at(time.Second, time.Millisecond, true)}, 0, true},
		{"slow for the first second", []sample{at(0, time.Second, true), at(900*time.Millisecond, 200*time.Millisecond, true), at(1100*time.Millisecond, time.Millisecond, true)}, time.Second, true},
		{"a failure counts as not normal", []sample{at(600*time.Millisecond, time.Millisecond, false)}, 750 * time.Millisecond, true},
		{"never normal", []sample{at(1900*time.Millisecond, time.Second, true)}, 2 * time.Second, false},
		{"before the start is ignored", []sample{at(-time.Second, time.Second, false)}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := recoveryTime(tc.s, t0, w, 2*time.Second)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("recoveryTime = %v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
