package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// manySourcesPairs is WORKLOADS.md's number of idle socketpairs.
const manySourcesPairs = 5000

// many-sources: fd-pingpong with both ends of 5,000 idle socketpairs (10,000
// sources) registered too; a callback on an idle pair fails the run. The work
// is in fdpingpong.go.
func manySources(n uint64) (result, error) {
	return fdPingPongRun(n, idlePairsThatFit(manySourcesPairs))
}

// idlePairsThatFit raises RLIMIT_NOFILE's soft limit to the hard one (Go
// already does at start-up) and caps the pair count so that 64 descriptors
// stay free, as the anchors do.
func idlePairsThatFit(want int) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return want
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	fit := 0
	if rl.Cur > 64 {
		fit = int((rl.Cur - 64) / 2)
	}
	if fit < want {
		fmt.Fprintf(os.Stderr, "go: many-sources: RLIMIT_NOFILE=%d fits %d idle pairs, not %d; using %d\n",
			rl.Cur, fit, want, fit)
		return fit
	}
	return want
}
