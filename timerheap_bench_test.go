//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"testing"
	"time"
)

// Benchmarks of the timer heap alone, without a loop, a clock or a closure
// per timer: the loopbench timers and timers-cancel workloads' heap work.
// Each op is a million timers; run with -benchtime=Nx.

const heapBenchN = 1_000_000

// heapBenchFill sets heapBenchN timers on 100 distinct deadlines, in the
// loopbench order (timer i due at i*7919 mod 100 ms).
func heapBenchFill(ts *timerSet[struct{}], ids []uint32) {
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	for i := range ids {
		ids[i] = ts.alloc(int64(i*7919%100)*int64(time.Millisecond), fn)
	}
}

// heapBenchDrain takes every timer off the top in order and releases it, as
// fireTimers and a callback returning Drop do: dead entries are skipped, and
// the heap may compact after each round of timerRound live timers.
func heapBenchDrain(b *testing.B, ts *timerSet[struct{}]) {
	hp := &ts.heap
	last := int64(-1)
	round := 0
	ts.settle(hp)
	for {
		ep := hp.first()
		if ep == nil {
			break
		}
		e := *ep
		hp.drop(ep)
		tm := ts.item(e.id)
		if tm.seq != e.seq || tm.mv != e.tag {
			continue
		}
		if e.when < last {
			b.Fatalf("out of order: %d after %d", e.when, last)
		}
		last = e.when
		tm.seq = 0
		hp.live--
		ts.release(e.id)
		if round++; round == timerRound {
			ts.shrink(hp)
			round = 0
		}
	}
	if ts.len() != 0 {
		b.Fatalf("%d timers left", ts.len())
	}
}

// BenchmarkTimerHeapMillion: set a million timers, then fire them all.
func BenchmarkTimerHeapMillion(b *testing.B) {
	var ts timerSet[struct{}]
	ids := make([]uint32, heapBenchN)
	for b.Loop() {
		heapBenchFill(&ts, ids)
		heapBenchDrain(b, &ts)
	}
}

// BenchmarkTimerHeapMillionCancel: set a million timers, cancel every odd
// one, then fire the rest.
func BenchmarkTimerHeapMillionCancel(b *testing.B) {
	var ts timerSet[struct{}]
	ids := make([]uint32, heapBenchN)
	for b.Loop() {
		heapBenchFill(&ts, ids)
		for i := 1; i < len(ids); i += 2 {
			ts.release(ids[i])
		}
		heapBenchDrain(b, &ts)
	}
}
