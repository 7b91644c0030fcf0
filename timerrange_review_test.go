//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestTimerBurstsAtTheEndsOfTheClock: on a virtual clock moved to the
// last instant it can show, a burst of timers at both ends of the range
// (the far past, negative deadlines, the last instant), set in no order and
// merged with a run, fires in (deadline, set) order, never early; a timer
// re-armed there by Again or At with a deadline past the range never fires
// again.
func TestTimerBurstsAtTheEndsOfTheClock(t *testing.T) {
	vc := NewVirtualClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	base := vc.Now()
	type set struct {
		name int
		when int64
	}
	var order []set
	var fired []int
	rearmed := 0
	deadlines := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 2, math.MaxInt64 - 1, -int64(time.Hour)}
	add := func(n int) {
		for i := range n {
			name := len(order)
			w := deadlines[(i*5+n)%len(deadlines)]
			at := base.Add(time.Duration(w))
			if w == math.MinInt64 {
				at = time.Time{}
			}
			if _, err := l.AddTimerAt(at, func(_ *struct{}, d time.Time) TimerAction {
				if vc.Now().Before(d) {
					t.Errorf("timer %d fired at %v, before %v", name, vc.Now(), d)
				}
				fired = append(fired, name)
				if vc.now.Load() != math.MaxInt64-1 {
					return Drop()
				}
				switch name % 7 {
				case 0:
					rearmed++
					return Again(2) // past the last instant: never
				case 1:
					rearmed++
					return At(base.Add(math.MaxInt64))
				}
				return Drop()
			}); err != nil {
				t.Fatal(err)
			}
			order = append(order, set{name, w})
		}
	}
	var s struct{}
	add(sortMin + 44)
	if err := l.Dispatch(time.Nanosecond, &s); err != nil { // settles: a run
		t.Fatal(err)
	}
	add(3 * sortMin) // merged with what is left of the run
	vc.Advance(math.MaxInt64)
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if now := vc.now.Load(); now != math.MaxInt64-1 {
		t.Fatalf("the clock reads %d", now)
	}
	// What fired in the first Dispatch (the past), then the rest in order.
	var want []int
	k := 0
	for _, o := range order[:sortMin+44] {
		if o.when <= 0 {
			want = append(want, o.name)
			k++
		}
	}
	var rest []set
	for _, o := range order {
		if !slices.Contains(want, o.name) {
			rest = append(rest, o)
		}
	}
	slices.SortStableFunc(rest, func(a, b set) int {
		if a.when < b.when {
			return -1
		}
		if a.when > b.when {
			return 1
		}
		return 0
	})
	// The first Dispatch fired its due ones in (deadline, set) order.
	first := order[:sortMin+44]
	var firstDue []set
	for _, o := range first {
		if o.when <= 0 {
			firstDue = append(firstDue, o)
		}
	}
	slices.SortStableFunc(firstDue, func(a, b set) int {
		if a.when < b.when {
			return -1
		}
		if a.when > b.when {
			return 1
		}
		return 0
	})
	want = want[:0]
	for _, o := range firstDue {
		want = append(want, o.name)
	}
	for _, o := range rest {
		want = append(want, o.name)
	}
	if !slices.Equal(fired, want) {
		for i := range min(len(fired), len(want)) {
			if fired[i] != want[i] {
				t.Fatalf("firing %d: timer %d, want %d", i, fired[i], want[i])
			}
		}
		t.Fatalf("%d fired, want %d", len(fired), len(want))
	}
	if rearmed == 0 {
		t.Fatalf("no timer was re-armed past the range")
	}
	if got := l.timers.len(); got != 0 {
		t.Fatalf("%d timers queued after all fired; the %d re-armed past the range must never fire", got, rearmed)
	}
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatal(err)
	}
}

// TestTimerMergeCostIsAmortized keeps a run that never drains (far
// deadlines) and sets bursts just under and just over half of it in turn,
// then bursts of sortMin,
// cancelling as many old timers each time: the bytes allocated per timer
// set stay a small constant (a merge allocates at most its run plus the
// burst, and the burst is at least half the run), as does the memory held.
func TestTimerMergeCostIsAmortized(t *testing.T) {
	vc := NewVirtualClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	var toks []Token
	far := vc.Now().Add(time.Hour)
	addN := func(n int) {
		for i := range n {
			tok, err := l.AddTimerAt(far.Add(time.Duration(n-i)), fn)
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok)
		}
	}
	var s struct{}
	const r0 = 100_000
	addN(r0)
	if err := l.Dispatch(time.Nanosecond, &s); err != nil {
		t.Fatal(err)
	}
	// Phase 1: bursts just under and just over half the run in turn;
	// phase 2: bursts of sortMin, small against the run.
	for phase := range 2 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		set := 0
		for round := range 40 {
			hp := &l.timers.heap
			r := len(hp.run) - hp.rp
			k := sortMin
			if phase == 0 {
				k = max(r/2-1+2*(round%2), sortMin)
			}
			addN(k)
			set += k
			// Cancel as many of the oldest.
			for _, tok := range toks[:k] {
				if err := l.Remove(tok); err != nil {
					t.Fatal(err)
				}
			}
			toks = toks[k:]
			if err := l.Dispatch(time.Nanosecond, &s); err != nil {
				t.Fatal(err)
			}
			if hp.size() > 2*hp.live+compactMin+1 {
				t.Fatalf("phase %d round %d: %d entries for %d timers", phase, round, hp.size(), hp.live)
			}
		}
		runtime.ReadMemStats(&after)
		perTimer := float64(after.TotalAlloc-before.TotalAlloc) / float64(set)
		// toks' growth counts too: 16 bytes a token, twice over.
		if perTimer > 300 {
			t.Fatalf("phase %d: %.0f bytes allocated per timer set over %d timers", phase, perTimer, set)
		}
		t.Logf("phase %d: %.0f bytes allocated per timer set over %d timers", phase, perTimer, set)
	}
}
