package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// rssLimit is the bound on the resident memory of an idle worker
// and edge.
const rssLimit = 50 << 20

// rssOf reads the resident set of each process on its own (a database's
// backends are not added: the bound is per process). A process that is
// gone reads as 0.
func rssOf(fs procfs.FS, procs []proc) []uint64 {
	out := make([]uint64, len(procs))
	for i, p := range procs {
		pr, err := fs.Proc(p.pid)
		if err != nil {
			continue
		}
		if st, err := pr.NewStatus(); err == nil {
			out[i] = st.VmRSS
		}
	}
	return out
}

// rssSample is the resident memory of the stack at one moment.
type rssSample struct {
	when string
	rss  []uint64
}

// idleRSS waits settle with no load, then reads the resident memory.
func idleRSS(fs procfs.FS, procs []proc, when string, settle time.Duration) rssSample {
	time.Sleep(settle)
	return rssSample{when: when, rss: rssOf(fs, procs)}
}

func printRSS(w io.Writer, procs []proc, samples []rssSample) {
	if len(samples) == 0 {
		return
	}
	fmt.Fprintf(w, "\nidle resident memory (MiB; the worker's and the edge's bound is %d MiB):\n", rssLimit>>20)
	for _, s := range samples {
		cells := make([]string, len(procs))
		for i, p := range procs {
			mark := ""
			if (p.name == "worker" || p.name == "edge") && s.rss[i] > rssLimit {
				mark = " (over)"
			}
			cells[i] = fmt.Sprintf("%s %.1f%s", p.name, float64(s.rss[i])/(1<<20), mark)
		}
		fmt.Fprintf(w, "  %-34s %s\n", s.when+":", strings.Join(cells, ", "))
	}
}
