package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// A process's CPU time counts its children, living and exited, unless it
// is counted alone (the load generator).
func TestCPUOfCountsDescendants(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skip("no /proc:", err)
	}
	self := []proc{{name: "tree", pid: os.Getpid()}, {name: "alone", pid: os.Getpid(), alone: true}}
	before := cpuOf(fs, self)
	// A child that burns some CPU (a few hundred ms of shell arithmetic),
	// then exits and is waited for.
	busy := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	if err := busy.Run(); err != nil {
		t.Skip("cannot run sh:", err)
	}
	d := cpuDelta(before, cpuOf(fs, self))
	if d[0] < 100*time.Millisecond {
		t.Fatalf("tree: %v of CPU after a busy child", d[0])
	}
	if d[1] >= d[0]/2 {
		t.Fatalf("alone: %v, tree %v: the child was counted", d[1], d[0])
	}
}
