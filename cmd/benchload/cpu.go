package main

import (
	"time"

	"github.com/prometheus/procfs"
)

// userHZ is the unit of the times in /proc/<pid>/stat on Linux (what
// procfs assumes too).
const userHZ = 100

// proc is one process of the path under load, named for the table. Its
// CPU time includes its descendants (PostgreSQL's backends), the living
// ones read from their stat and the exited ones from the parent's
// cutime/cstime, so a backend that ends during a step is not lost.
type proc struct {
	name string
	pid  int
	// alone counts the process without its descendants: the load
	// generator, whose children are the stack under load.
	alone bool
}

// cpuOf reads the CPU time used so far by each process and its
// descendants. A process that is gone reads as 0.
func cpuOf(fs procfs.FS, procs []proc) []time.Duration {
	all, _ := fs.AllProcs()
	children := map[int][]procfs.ProcStat{}
	for _, p := range all {
		if st, err := p.Stat(); err == nil {
			children[st.PPID] = append(children[st.PPID], st)
		}
	}
	out := make([]time.Duration, len(procs))
	for i, p := range procs {
		pr, err := fs.Proc(p.pid)
		if err != nil {
			continue
		}
		st, err := pr.Stat()
		if err != nil {
			continue
		}
		if p.alone {
			out[i] = time.Duration(st.UTime+st.STime) * time.Second / userHZ
			continue
		}
		out[i] = treeTicks(st, children)
	}
	return out
}

func treeTicks(st procfs.ProcStat, children map[int][]procfs.ProcStat) time.Duration {
	ticks := int64(st.UTime+st.STime) + int64(st.CUTime+st.CSTime)
	d := time.Duration(ticks) * time.Second / userHZ
	for _, c := range children[st.PID] {
		d += treeTicks(c, children)
	}
	return d
}

func cpuDelta(before, after []time.Duration) []time.Duration {
	out := make([]time.Duration, len(after))
	for i := range after {
		out[i] = max(after[i]-before[i], 0)
	}
	return out
}
