package main

import (
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// oneToN is 1 ms, 2 ms, ..., n ms in reverse order, so summarize has to sort.
func oneToN(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n-i) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		lat  []time.Duration
		wall time.Duration
		want summary
	}{
		{"empty", nil, time.Second, summary{}},
		{"one value is every percentile", ms(7), 7 * time.Millisecond,
			summary{N: 1, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond, PerSecond: 1000.0 / 7}},
		{"two values: the median is the lower (nearest rank)", ms(9, 1), 10 * time.Millisecond,
			summary{N: 2, P50: time.Millisecond, P90: 9 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond, PerSecond: 200}},
		{"ten values", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), time.Second,
			summary{N: 10, P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond, PerSecond: 10}},
		{"hundred values: p99 is the 99th", oneToN(100), 2 * time.Second,
			summary{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond, PerSecond: 50}},
		{"thousand values", oneToN(1000), 4 * time.Second,
			summary{N: 1000, P50: 500 * time.Millisecond, P90: 900 * time.Millisecond, P99: 990 * time.Millisecond, Max: 1000 * time.Millisecond, PerSecond: 250}},
		{"one outlier shows in max, not p99 of 1000", append(ms(make([]int, 999)...), time.Minute), time.Second,
			summary{N: 1000, Max: time.Minute, PerSecond: 1000}},
		{"no wall time, no rate", ms(3, 3), 0,
			summary{N: 2, P50: 3 * time.Millisecond, P90: 3 * time.Millisecond, P99: 3 * time.Millisecond, Max: 3 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.lat...)
			got := summarize(tc.lat, tc.wall)
			rate := got.PerSecond - tc.want.PerSecond
			got.PerSecond, tc.want.PerSecond = 0, 0
			if got != tc.want || rate > 1e-9 || rate < -1e-9 {
				t.Errorf("summarize = %+v (rate off by %g), want %+v", got, rate, tc.want)
			}
			for i := range in {
				if in[i] != tc.lat[i] {
					t.Fatalf("summarize reordered its input")
				}
			}
		})
	}
}
