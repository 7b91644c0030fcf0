//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"runtime"
	"testing"
	"time"
)

// TestTimerSpreadRearmAllocatesNothing: 4,000 timers re-armed from their
// callbacks over a few iterations' deadlines (a quarter of them due in
// each iteration) make a burst of 1,000 in every iteration that finds the
// last run not yet drained: settle merges them, and must reuse its buffers
// rather than allocate a run and a sort scratch in every iteration (the
// heap alone allocated nothing here).
func TestTimerSpreadRearmAllocatesNothing(t *testing.T) {
	const n, spread = 4000, 4
	vc := NewVirtualClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	i := 0
	for range n {
		i++
		if _, err := l.AddTimer(time.Duration(i%spread)*time.Millisecond, func(*struct{}, time.Time) TimerAction {
			i++
			return Again(time.Duration(i%spread)*time.Millisecond + time.Millisecond)
		}); err != nil {
			t.Fatal(err)
		}
	}
	var s struct{}
	step := func() {
		vc.Advance(time.Millisecond)
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		step()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(100, step)
	runtime.ReadMemStats(&after)
	bytes := (after.TotalAlloc - before.TotalAlloc) / 101
	if allocs != 0 {
		t.Fatalf("%.1f allocations (about %d bytes) per iteration firing and re-arming %d timers; want none", allocs, bytes, n/spread)
	}
}
