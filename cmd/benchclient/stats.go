package main

import (
	"slices"
	"time"
)

// summary is what one scenario's table row shows.
type summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
	// PerSecond is completed calls per second of wall time: with
	// concurrency 1 it is the inverse of the mean latency.
	PerSecond float64
}

// summarize computes the row of a scenario from its call latencies (in any
// order; the slice is not modified) and the wall time they took.
func summarize(latencies []time.Duration, wall time.Duration) summary {
	if len(latencies) == 0 {
		return summary{}
	}
	sorted := slices.Sorted(slices.Values(latencies))
	s := summary{
		N:   len(sorted),
		P50: percentile(sorted, 50),
		P90: percentile(sorted, 90),
		P99: percentile(sorted, 99),
		Max: sorted[len(sorted)-1],
	}
	if wall > 0 {
		s.PerSecond = float64(len(sorted)) / wall.Seconds()
	}
	return s
}

// percentile is the nearest-rank percentile (the same definition as
// cmd/bench): the smallest value with at least p% of the values at or
// below it, so it is always an observed latency. sorted must be sorted and
// not empty; p is in 1..100.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100 // ceil(n*p/100)
	return sorted[max(rank, 1)-1]
}
