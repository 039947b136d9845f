package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Sustained is the bar a step must clear: at least this share of 2xx
// answers and a p99 at most this long.
const (
	sustainedOK  = 0.999
	sustainedP99 = 50 * time.Millisecond
)

// sample is one request as the load generator saw it.
type sample struct {
	start   time.Time
	latency time.Duration
	ok      bool // 2xx
}

// step is the outcome of one constant-rate step.
type step struct {
	scenario string
	offered  int           // requests per second asked for
	duration time.Duration // of the sending
	samples  []sample
	// cpu is the CPU time each process of the path used during the step,
	// in the order of the stack's process names.
	cpu []time.Duration
}

// stats summarises a step.
type stats struct {
	sent                   int
	achieved, okRatio      float64 // requests sent per second; share of 2xx
	p50, p90, p99, maximum time.Duration
}

func summarize(s step) stats {
	st := stats{sent: len(s.samples)}
	if st.sent == 0 {
		return st
	}
	lat := make([]time.Duration, 0, len(s.samples))
	ok := 0
	for _, x := range s.samples {
		lat = append(lat, x.latency)
		if x.ok {
			ok++
		}
	}
	slices.Sort(lat)
	st.okRatio = float64(ok) / float64(st.sent)
	if s.duration > 0 {
		st.achieved = float64(st.sent) / s.duration.Seconds()
	}
	st.p50, st.p90, st.p99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	st.maximum = lat[len(lat)-1]
	return st
}

// quantile of sorted latencies, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// sustained reports whether a step clears the bar. A step that sent less
// than 90 % of what it offered did not hold the rate (the load generator
// or its connections ran out), so it does not count either.
func (st stats) sustained(offered int, d time.Duration) bool {
	want := float64(offered) * d.Seconds()
	return st.sent > 0 && float64(st.sent) >= 0.9*want && st.okRatio >= sustainedOK && st.p99 <= sustainedP99
}

// overloaded says the service could not keep up with a step: it lost
// answers or sent fewer than asked, or its p99 is far past the bar. A step
// that answered everything a little slower than the bar is not overloaded:
// one noisy step then does not hide the higher steps of its scenario.
func (st stats) overloaded(offered int, d time.Duration) bool {
	want := float64(offered) * d.Seconds()
	return st.sent == 0 || float64(st.sent) < 0.9*want || st.okRatio < sustainedOK || st.p99 > overloadedP99
}

// overloadedP99 is the p99 past which a step that answered everything is
// still overloaded: its requests queue far longer than they take.
const overloadedP99 = 4 * sustainedP99

// highestSustained is, per scenario in order of first appearance, the
// highest offered rate of a step that was sustained (0: none).
func highestSustained(steps []step) ([]string, map[string]int) {
	var order []string
	best := map[string]int{}
	for _, s := range steps {
		if _, seen := best[s.scenario]; !seen {
			order = append(order, s.scenario)
			best[s.scenario] = 0
		}
		if summarize(s).sustained(s.offered, s.duration) && s.offered > best[s.scenario] {
			best[s.scenario] = s.offered
		}
	}
	return order, best
}

// recoveryTime is how long after start the requests of a low-rate step
// kept failing the bar: the end of the last window (by request start)
// whose p99 is above sustainedP99 or that holds a non-2xx answer, or 0 if
// none is. ok is false when the last window itself fails: it never
// recovered within the step.
func recoveryTime(samples []sample, start time.Time, window time.Duration, span time.Duration) (time.Duration, bool) {
	n := int((span + window - 1) / window)
	if n == 0 {
		return 0, true
	}
	buckets := make([][]time.Duration, n)
	bad := make([]bool, n)
	for _, s := range samples {
		i := int(s.start.Sub(start) / window)
		if i < 0 || i >= n {
			continue
		}
		buckets[i] = append(buckets[i], s.latency)
		if !s.ok {
			bad[i] = true
		}
	}
	last := -1
	for i, b := range buckets {
		slices.Sort(b)
		if bad[i] || quantile(b, 0.99) > sustainedP99 {
			last = i
		}
	}
	if last == n-1 {
		return span, false
	}
	return time.Duration(last+1) * window, true
}

// recovery is the outcome of the low-rate step after a scenario's last one.
type recovery struct {
	scenario string
	rate     int
	after    time.Duration
	ok       bool
}

// printReport writes the one table and the highest sustained rates.
func printReport(w io.Writer, procs []string, steps []step, recs []recovery) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"scenario", "offered/s", "achieved/s", "2xx %", "p50 ms", "p90 ms", "p99 ms", "max ms"}
	for _, p := range procs {
		head = append(head, p+" cpu ms/req")
	}
	head = append(head, "total cpu ms/req", "sustained")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, s := range steps {
		st := summarize(s)
		row := []string{s.scenario, fmt.Sprint(s.offered), fmt.Sprintf("%.0f", st.achieved), fmt.Sprintf("%.2f", 100*st.okRatio),
			ms(st.p50), ms(st.p90), ms(st.p99), ms(st.maximum)}
		var total time.Duration
		for i, c := range s.cpu {
			row = append(row, perRequest(c, st.sent))
			if procs[i] != loadgen {
				total += c // the service's processes: the load generator is not the service
			}
		}
		row = append(row, perRequest(total, st.sent), yesNo(st.sustained(s.offered, s.duration)))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintf(w, "\nhighest sustained rate (>= %.1f %% 2xx, p99 <= %v):\n", 100*sustainedOK, sustainedP99)
	order, best := highestSustained(steps)
	for _, sc := range order {
		if best[sc] == 0 {
			fmt.Fprintf(w, "  %-10s none of the steps\n", sc)
			continue
		}
		fmt.Fprintf(w, "  %-10s %d/s\n", sc, best[sc])
	}
	if len(recs) > 0 {
		fmt.Fprintln(w, "\nrecovery after the last step (low-rate step right after it; normal = every 250 ms window all 2xx with p99 <= 50 ms):")
		for _, r := range recs {
			if r.ok {
				fmt.Fprintf(w, "  %-10s at %d/s: normal after %v\n", r.scenario, r.rate, r.after)
			} else {
				fmt.Fprintf(w, "  %-10s at %d/s: not normal within %v\n", r.scenario, r.rate, r.after)
			}
		}
	}
}

// loadgen names the load generator's own column, left out of the total.
const loadgen = "loadgen"

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func perRequest(cpu time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", float64(cpu)/float64(time.Millisecond)/float64(n))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
