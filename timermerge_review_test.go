//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// TestTimerMergeBuffersNeverShared settles burst after burst into a run
// that is only partly drained in between, so that every settle merges,
// with bursts whose deadlines take no pass of the sort, one, two or six
// (the sorted burst ends in either buffer): the heap, the run, the pending
// list and the kept buffer never share memory, and the timers come off in
// (deadline, set) order.
func TestTimerMergeBuffersNeverShared(t *testing.T) {
	var ts timerSet[struct{}]
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	rng := rand.New(rand.NewSource(3))
	type ref struct {
		when int64
		k    int
	}
	model := map[uint32]ref{}
	k := 0
	spans := []func() int64{
		func() int64 { return 7 },                                  // already sorted: no pass
		func() int64 { return int64(rng.Intn(1 << 10)) },           // one pass
		func() int64 { return int64(rng.Intn(1 << 20)) },           // two passes
		func() int64 { return rng.Int63() - rng.Int63() },          // six passes
		func() int64 { return math.MinInt64 + int64(rng.Intn(5)) }, // the far past
	}
	hp := &ts.heap
	shared := func(a, b []heapEntry) bool {
		if cap(a) == 0 || cap(b) == 0 {
			return false
		}
		a, b = a[:cap(a)], b[:cap(b)]
		return &a[0] == &b[0] || &a[len(a)-1] == &b[len(b)-1]
	}
	merges := 0
	for round := range 80 {
		n := sortMin + rng.Intn(600)
		if round%3 == 0 {
			n = max(n, len(hp.run)-hp.rp) // at least half the run: a merge
		}
		span := spans[rng.Intn(len(spans))]
		for range n {
			w := span()
			id := ts.alloc(w, fn)
			k++
			model[id] = ref{w, k}
		}
		before := hp.run
		ts.next() // settle
		if len(hp.run) > 0 && len(before) > 0 && &hp.run[:1][0] != &before[:1][0] {
			merges++
		}
		bufs := map[string][]heapEntry{"heap": hp.h, "run": hp.run, "pend": hp.pend, "free": hp.free}
		for a, x := range bufs {
			for b, y := range bufs {
				if a < b && shared(x, y) {
					t.Fatalf("round %d: %s and %s share a buffer", round, a, b)
				}
			}
		}
		if _, err := checkTimers(&ts); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Take a third of the earliest off: the run is not drained.
		for range (len(model) + 2) / 3 {
			id, _ := heapTop(&ts, clsDefault)
			var best uint32
			first := true
			for i, r := range model {
				if b := model[best]; first || r.when < b.when || r.when == b.when && r.k < b.k {
					best, first = i, false
				}
			}
			if id != best {
				t.Fatalf("round %d: timer %d (%v) came first, want %d (%v)", round, id, model[id], best, model[best])
			}
			ts.release(id)
			delete(model, id)
		}
	}
	if merges < 20 {
		t.Fatalf("only %d merges", merges)
	}
	want := make([]uint32, 0, len(model))
	for id := range model {
		want = append(want, id)
	}
	slices.SortFunc(want, func(a, b uint32) int {
		x, y := model[a], model[b]
		if x.when != y.when {
			if x.when < y.when {
				return -1
			}
			return 1
		}
		return x.k - y.k
	})
	if got := drainOrder(t, &ts, clsDefault); !slices.Equal(got, want) {
		t.Fatalf("drain order differs from (deadline, set) order")
	}
}
