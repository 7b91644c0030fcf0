//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// Tests of the timers' bulk path: timers set between two looks at the
// earliest one wait in pend and are settled at once, sorted into a run
// (sortRun, mergeRuns) when there are many of them.

// TestTimerSortRunMatchesStableSort checks sortRun against a stable sort by
// deadline, over spans from none to the whole int64 range.
func TestTimerSortRunMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	spans := []func() int64{
		func() int64 { return 42 },                            // one deadline: no pass
		func() int64 { return int64(rng.Intn(3)) },            // 2 bits
		func() int64 { return int64(rng.Intn(100)) * 1e6 },    // the loopbench deadlines
		func() int64 { return int64(rng.Intn(1 << 22)) },      // 2 passes of 11 bits
		func() int64 { return rng.Int63() - rng.Int63() },     // about 64 bits
		func() int64 { return int64(rng.Intn(1000)) << 20 },   // low digits all 0: passes skipped
		func() int64 { return math.MinInt64 + rng.Int63n(3) }, // the far past
		func() int64 { // both ends of the range
			if rng.Intn(2) == 0 {
				return math.MinInt64 + int64(rng.Intn(2))
			}
			return math.MaxInt64 - 1 - int64(rng.Intn(2))
		},
	}
	for si, when := range spans {
		for _, n := range []int{1, 2, 3, 255, 256, 1000, 5000} {
			a := make([]heapEntry, n)
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			for i := range a {
				a[i] = heapEntry{when: when(), seq: uint64(i + 1), id: uint32(i)}
				lo, hi = min(lo, a[i].when), max(hi, a[i].when)
			}
			want := slices.Clone(a)
			slices.SortStableFunc(want, func(x, y heapEntry) int {
				if x.when < y.when {
					return -1
				}
				if x.when > y.when {
					return 1
				}
				return 0
			})
			// Scratch too small, and scratch large enough.
			for _, b := range [][]heapEntry{nil, make([]heapEntry, 0, n+3)} {
				got, other := sortRun(slices.Clone(a), b, lo, hi)
				if !slices.Equal(got, want) {
					t.Fatalf("span %d, n %d: sortRun differs from a stable sort", si, n)
				}
				if len(other) > 0 && &other[0] == &got[0] {
					t.Fatalf("span %d, n %d: the spare buffer is the sorted one", si, n)
				}
			}
		}
	}
}

// TestTimerMergeRuns checks mergeRuns on runs with interleaved and equal
// deadlines, either one empty.
func TestTimerMergeRuns(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for trial := range 200 {
		var all []heapEntry
		for i := range rng.Intn(300) {
			all = append(all, heapEntry{when: int64(rng.Intn(20)), seq: uint64(i + 1)})
		}
		var x, y []heapEntry
		for _, e := range all {
			if rng.Intn(2) == 0 {
				x = append(x, e)
			} else {
				y = append(y, e)
			}
		}
		byOrder := func(a, b heapEntry) int {
			if a.before(&b) {
				return -1
			}
			if b.before(&a) {
				return 1
			}
			return 0
		}
		slices.SortFunc(x, byOrder)
		slices.SortFunc(y, byOrder)
		slices.SortFunc(all, byOrder)
		dst := make([]heapEntry, len(all))
		mergeRuns(dst, x, y)
		if !slices.Equal(dst, all) {
			t.Fatalf("trial %d: merge out of order", trial)
		}
	}
}

// drainOrder takes every live timer of class c off in order, releasing it,
// and returns their ids; it checks the invariants every step.
func drainOrder(t *testing.T, ts *timerSet[struct{}], c uint8) []uint32 {
	t.Helper()
	var ids []uint32
	for {
		id, ok := heapTop(ts, c)
		if !ok {
			return ids
		}
		ids = append(ids, id)
		ts.release(id)
		if len(ids)%97 == 0 {
			if _, err := checkTimers(ts); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestTimerSettlePaths drives settle through each of its paths (a few
// entries into the heap; a burst into a new run; a burst merged with the
// run; a burst too small for the run into the heap; dead entries dropped)
// and checks that draining gives the (deadline, insertion) order across
// heap and run.
func TestTimerSettlePaths(t *testing.T) {
	var ts timerSet[struct{}]
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	type tm struct {
		when int64
		k    int // insertion order
	}
	model := map[uint32]tm{}
	k := 0
	add := func(n int, cancelEvery int) {
		for i := range n {
			w := int64((k * 7919) % 13)
			id := ts.alloc(w, fn)
			k++
			model[id] = tm{w, k}
			if cancelEvery > 0 && i%cancelEvery == 0 {
				ts.release(id)
				delete(model, id)
			}
		}
	}
	settle := func() { ts.next() }
	hp := &ts.heap

	add(10, 0) // few: into the heap
	settle()
	if len(hp.h) != 10 || len(hp.run) != 0 || len(hp.pend) != 0 {
		t.Fatalf("10 timers: heap %d, run %d, pending %d; want 10, 0, 0", len(hp.h), len(hp.run), len(hp.pend))
	}
	add(1000, 3) // a burst, a third cancelled before the settle: a run
	settle()
	if len(hp.run)-hp.rp != 666 || len(hp.h) != 10 {
		t.Fatalf("burst: run %d, heap %d; want 666 (the cancelled ones dropped), 10", len(hp.run)-hp.rp, len(hp.h))
	}
	add(400, 0) // at least half the run: merged
	settle()
	if len(hp.run)-hp.rp != 1066 || len(hp.h) != 10 {
		t.Fatalf("merge: run %d, heap %d; want 1066, 10", len(hp.run)-hp.rp, len(hp.h))
	}
	add(300, 0) // less than half the run: into the heap
	settle()
	if len(hp.run)-hp.rp != 1066 || len(hp.h) != 310 {
		t.Fatalf("small burst: run %d, heap %d; want 1066, 310", len(hp.run)-hp.rp, len(hp.h))
	}
	if _, err := checkTimers(&ts); err != nil {
		t.Fatal(err)
	}
	want := make([]uint32, 0, len(model))
	for id := range model {
		want = append(want, id)
	}
	slices.SortFunc(want, func(a, b uint32) int {
		x, y := model[a], model[b]
		if x.when != y.when {
			return int(x.when - y.when)
		}
		return x.k - y.k
	})
	if got := drainOrder(t, &ts, clsDefault); !slices.Equal(got, want) {
		t.Fatalf("drain order differs from (deadline, insertion) order")
	}
	if hp.size() != 0 || ts.len() != 0 {
		t.Fatalf("after the drain: %d entries, %d timers", hp.size(), ts.len())
	}
}

// bulkLoop returns a loop on a virtual clock, and a recorder of the timers
// fired: each must not be early, and the log is their names.
func bulkLoop(t *testing.T) (*Loop[struct{}], *VirtualClock, *[]string, func(name string) func(*struct{}, time.Time) TimerAction) {
	t.Helper()
	start := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	vc := NewVirtualClock(start)
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var log []string
	rec := func(name string) func(*struct{}, time.Time) TimerAction {
		return func(_ *struct{}, d time.Time) TimerAction {
			if now := vc.Now(); now.Before(d) {
				t.Errorf("%s fired at %v, before its deadline %v", name, now, d)
			}
			log = append(log, name)
			return Drop()
		}
	}
	return l, vc, &log, rec
}

// runFor advances vc by step and dispatches until no timer is left or the
// clock has moved n steps.
func runFor(t *testing.T, l *Loop[struct{}], vc *VirtualClock, step time.Duration, n int) {
	t.Helper()
	var s struct{}
	for range n {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if l.timers.len() == 0 {
			return
		}
		vc.Advance(step)
	}
}

// TestTimerBulkFIFOOnTies sets a burst of timers on a few deadlines, cancels
// and resets some before the loop first looks: they fire in (deadline, set
// or reset) order, never early, and the cancelled ones never.
func TestTimerBulkFIFOOnTies(t *testing.T) {
	l, vc, log, rec := bulkLoop(t)
	type set struct {
		name string
		at   time.Duration
	}
	var order []set // in the order they were set or reset
	var toks []Token
	base := vc.Now()
	const n = 3000
	for i := range n {
		at := time.Duration(i*7919%7) * time.Millisecond
		name := fmt.Sprint("t", i)
		tok, err := l.AddTimerAt(base.Add(at), rec(name))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		order = append(order, set{name, at})
	}
	if got := len(l.timers.heap.pend); got != n {
		t.Fatalf("%d pending entries before the loop looked, want %d", got, n)
	}
	cancelled := map[string]bool{}
	for i := 1; i < n; i += 3 {
		if err := l.Remove(toks[i]); err != nil {
			t.Fatal(err)
		}
		cancelled[order[i].name] = true
	}
	for i := 2; i < n; i += 5 {
		if cancelled[order[i].name] {
			continue
		}
		at := time.Duration(i%4) * time.Millisecond
		if err := l.ResetTimerAt(toks[i], base.Add(at)); err != nil {
			t.Fatal(err)
		}
		order = append(order, set{order[i].name, at}) // its new place: last set
		order[i].name = ""
	}
	var want []string
	slices.SortStableFunc(order, func(a, b set) int { return int(a.at - b.at) })
	for _, s := range order {
		if s.name != "" && !cancelled[s.name] {
			want = append(want, s.name)
		}
	}
	runFor(t, l, vc, time.Millisecond/2, 100)
	if !slices.Equal(*log, want) {
		t.Fatalf("fired %d timers, want %d, or out of (deadline, set) order", len(*log), len(want))
	}
}

// TestTimerBulkFromCallback: a timer callback sets a burst of timers, some
// due at once, some in the past, some later, some of them on the deadline of
// timers already queued (in the run and in the heap): none fires in the
// iteration that set it, and they fire in (deadline, set) order after the
// older timers of their deadline.
func TestTimerBulkFromCallback(t *testing.T) {
	l, vc, log, rec := bulkLoop(t)
	base := vc.Now()
	var want []string
	type set struct {
		name string
		at   time.Duration
	}
	var order []set
	addAt := func(name string, at time.Duration, fn func(*struct{}, time.Time) TimerAction) {
		if _, err := l.AddTimerAt(base.Add(at), fn); err != nil {
			t.Fatal(err)
		}
		order = append(order, set{name, at})
	}
	// Older timers on 2 and 3 ms: a run of 600 and a few in the heap.
	for i := range 600 {
		name := fmt.Sprint("old", i)
		addAt(name, time.Duration(2+i%2)*time.Millisecond, rec(name))
	}
	var s struct{}
	if err := l.Dispatch(0, &s); err != nil { // settles them into a run
		t.Fatal(err)
	}
	for i := range 5 {
		name := fmt.Sprint("few", i)
		addAt(name, time.Duration(2+i%2)*time.Millisecond, rec(name))
	}
	if err := l.Dispatch(0, &s); err != nil { // into the heap
		t.Fatal(err)
	}
	if len(l.timers.heap.run) != 600 || len(l.timers.heap.h) != 5 {
		t.Fatalf("run %d, heap %d; want 600, 5", len(l.timers.heap.run), len(l.timers.heap.h))
	}
	addAt("setter", time.Millisecond, func(_ *struct{}, d time.Time) TimerAction {
		*log = append(*log, "setter")
		for i := range 2000 {
			name := fmt.Sprint("new", i)
			at := time.Duration(i%5) * time.Millisecond // 0 and 1 ms: due now
			addAt(name, at, rec(name))
		}
		return Drop()
	})
	var s2 struct{}
	vc.Advance(time.Millisecond)
	if err := l.Dispatch(0, &s2); err != nil {
		t.Fatal(err)
	}
	if got := len(*log); got != 1 || (*log)[0] != "setter" {
		t.Fatalf("the setter's iteration fired %d timers (%v...), want the setter alone", got, (*log)[:min(3, got)])
	}
	runFor(t, l, vc, time.Millisecond/2, 100)
	slices.SortStableFunc(order, func(a, b set) int { return int(a.at - b.at) })
	// The burst's 0 ms and 1 ms timers are due at once, after the setter.
	want = append(want, "setter")
	for _, s := range order {
		if s.name != "setter" {
			want = append(want, s.name)
		}
	}
	if !slices.Equal(*log, want) {
		for i := range min(len(*log), len(want)) {
			if (*log)[i] != want[i] {
				t.Fatalf("firing %d: %s, want %s (%d fired, want %d)", i, (*log)[i], want[i], len(*log), len(want))
			}
		}
		t.Fatalf("fired %d, want %d", len(*log), len(want))
	}
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatal(err)
	}
}

// TestTimerBulkPanicWithPending: in an iteration firing a run of due timers
// on two deadlines, a callback sets a burst of timers (pending, on the same
// deadlines, some due) and panics. The due timers it kept from firing go
// back with their sequence numbers (into the heap, beside the run and the
// burst): every timer fires once, never early, in (deadline, set) order.
func TestTimerBulkPanicWithPending(t *testing.T) {
	l, vc, log, rec := bulkLoop(t)
	base := vc.Now()
	type set struct {
		name string
		at   time.Duration
	}
	var order []set
	addAt := func(name string, at time.Duration, fn func(*struct{}, time.Time) TimerAction) {
		t.Helper()
		if _, err := l.AddTimerAt(base.Add(at), fn); err != nil {
			t.Fatal(err)
		}
		order = append(order, set{name, at})
	}
	const n = 3 * timerRound
	for i := range n {
		name := fmt.Sprint("t", i)
		if i == timerRound+7 {
			fn := rec(name)
			addAt(name, time.Duration(i%2)*time.Millisecond, func(s *struct{}, d time.Time) TimerAction {
				fn(s, d)
				for j := range 700 {
					name := fmt.Sprint("p", j)
					addAt(name, time.Duration(j%3)*time.Millisecond, rec(name))
				}
				panic("bulk boom")
			})
			continue
		}
		addAt(name, time.Duration(i%2)*time.Millisecond, rec(name))
	}
	vc.Advance(time.Millisecond)
	var s struct{}
	func() {
		defer func() {
			if v := recover(); v != "bulk boom" {
				t.Fatalf("Dispatch panicked with %v", v)
			}
		}()
		l.Dispatch(0, &s)
	}()
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	if len(l.timers.heap.pend) == 0 && len(l.timers.heap.h) == 0 {
		t.Fatalf("no timer pending or requeued after the panic")
	}
	// The panicking timer was removed; everything else fires once. The
	// burst was set after every timer of the first batch.
	runFor(t, l, vc, time.Millisecond/2, 100)
	slices.SortStableFunc(order, func(a, b set) int { return int(a.at - b.at) })
	// The burst's timers due at the panic (0 and 1 ms) were set during that
	// iteration: they fire in the next one, after the requeued ones of
	// their deadline, which were set before them.
	var want []string
	for _, o := range order {
		want = append(want, o.name)
	}
	// The timers that fired up to the panic come first, then the others in
	// (deadline, set) order.
	fired := map[string]bool{}
	for _, name := range *log {
		if fired[name] {
			t.Fatalf("%s fired twice", name)
		}
		fired[name] = true
	}
	k := 0
	for k < len(*log) && (*log)[k] != fmt.Sprint("t", timerRound+7) {
		k++
	}
	if k == len(*log) {
		t.Fatalf("the panicking timer did not fire")
	}
	var rest []string
	inBefore := map[string]bool{}
	for _, name := range (*log)[:k+1] {
		inBefore[name] = true
	}
	for _, name := range want {
		if !inBefore[name] {
			rest = append(rest, name)
		}
	}
	if !slices.Equal((*log)[k+1:], rest) {
		got := (*log)[k+1:]
		for i := range min(len(got), len(rest)) {
			if got[i] != rest[i] {
				t.Fatalf("after the panic, firing %d: %s, want %s", i, got[i], rest[i])
			}
		}
		t.Fatalf("after the panic: %d fired, want %d", len(got), len(rest))
	}
	if l.timers.len() != 0 {
		t.Fatalf("%d timers left", l.timers.len())
	}
}

// TestTimerBulkPriorityClasses: timers of the high and low classes re-armed
// in a burst settle in their own classes' runs; each class fires in
// (deadline, set) order, the high class's due timers before the default
// class's and those before the low class's.
func TestTimerBulkPriorityClasses(t *testing.T) {
	l, vc, log, rec := bulkLoop(t)
	base := vc.Now()
	const n = 1500
	toks := make([]Token, n)
	cls := func(i int) Priority { return Priority(i%3 - 1) }
	for i := range n {
		tok, err := l.AddTimerAt(base.Add(time.Hour), rec(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = tok
		if err := l.SetPriority(tok, cls(i)); err != nil {
			t.Fatal(err)
		}
	}
	var s struct{}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	// Re-arm them all, in reverse, on 3 deadlines: a burst in each class.
	type set struct {
		i  int
		at time.Duration
	}
	var order []set
	for i := n - 1; i >= 0; i-- {
		at := time.Duration(i*7%3) * time.Millisecond
		if err := l.ResetTimerAt(toks[i], base.Add(at)); err != nil {
			t.Fatal(err)
		}
		order = append(order, set{i, at})
	}
	for c := range uint8(nClasses) {
		if got := len(l.timers.hp(c).pend); got != n/3 {
			t.Fatalf("class %d: %d pending, want %d", c, got, n/3)
		}
	}
	// Move a few between classes while pending: they keep their place.
	for _, i := range []int{0, 1, 2, 600, 601, 602} {
		p := Priority((i+1)%3 - 1)
		if err := l.SetPriority(toks[i], p); err != nil {
			t.Fatal(err)
		}
	}
	cls = func(i int) Priority {
		switch i {
		case 0, 1, 2, 600, 601, 602:
			return Priority((i+1)%3 - 1)
		}
		return Priority(i%3 - 1)
	}
	vc.Advance(5 * time.Millisecond) // all due in one iteration
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(order, func(a, b set) int {
		if ca, cb := cls(a.i), cls(b.i); ca != cb {
			return int(ca) - int(cb)
		}
		return int(a.at - b.at)
	})
	var want []string
	for _, o := range order {
		want = append(want, fmt.Sprint(o.i))
	}
	if !slices.Equal(*log, want) {
		for i := range min(len(*log), len(want)) {
			if (*log)[i] != want[i] {
				t.Fatalf("firing %d: timer %s, want %s", i, (*log)[i], want[i])
			}
		}
		t.Fatalf("%d fired, want %d", len(*log), len(want))
	}
}

// TestTimerSettleSortedBurst: a burst already in deadline order is taken as
// a run as it is, and one out of order by a single pair of adjacent
// deadlines is sorted.
func TestTimerSettleSortedBurst(t *testing.T) {
	for _, swap := range []bool{false, true} {
		var ts timerSet[struct{}]
		fn := func(*struct{}, time.Time) TimerAction { return Drop() }
		const n = 400
		var want []uint32
		for i := range n {
			w := int64(i / 2) // pairs of equal deadlines
			if swap && i >= 200 && i < 204 {
				w = 201 - w // 200 and 201 get 101, 202 and 203 100
			}
			want = append(want, ts.alloc(w, fn))
		}
		if swap {
			want[200], want[201], want[202], want[203] = want[202], want[203], want[200], want[201]
		}
		ts.next()
		if got := len(ts.heap.run); got != n {
			t.Fatalf("swap %v: run of %d, want %d", swap, got, n)
		}
		if got := drainOrder(t, &ts, clsDefault); !slices.Equal(got, want) {
			t.Fatalf("swap %v: drain order differs from (deadline, insertion) order", swap)
		}
	}
}

// TestTimerBulkSetAfterPollBeforeSettle: a high-class timer sets a burst of
// default-class timers due at once, after the poll but before the default
// class is settled, in an iteration that fires 1,500 older default timers
// in two rounds, and, in a second case, one of the older ones panics in the
// second round. The new ones never fire in that iteration (held aside, then
// put back, on the panic's way out too), and every timer fires once, in
// (deadline, set) order.
func TestTimerBulkSetAfterPollBeforeSettle(t *testing.T) {
	for _, panicAt := range []string{"", "old1200"} {
		t.Run("panic="+panicAt, func(t *testing.T) { setAfterPollBeforeSettle(t, panicAt) })
	}
}

func setAfterPollBeforeSettle(t *testing.T, panicAt string) {
	l, err := New[struct{}]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Now().Add(-time.Hour)
	var log []string
	rec := func(name string) func(*struct{}, time.Time) TimerAction {
		return func(*struct{}, time.Time) TimerAction {
			log = append(log, name)
			if name == panicAt {
				panic("late boom")
			}
			return Drop()
		}
	}
	var want []string
	for i := range 1500 {
		name := fmt.Sprint("old", i)
		if _, err := l.AddTimerAt(at, rec(name)); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	iteration := 0
	h, err := l.AddTimerAt(at.Add(-time.Second), func(*struct{}, time.Time) TimerAction {
		log = append(log, "high")
		for i := range 500 {
			name := fmt.Sprint("new", i)
			if _, err := l.AddTimerAt(at, rec(name)); err != nil {
				t.Error(err)
			}
			want = append(want, name)
		}
		iteration = 1
		return Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetPriority(h, PriorityHigh); err != nil {
		t.Fatal(err)
	}
	want = append([]string{"high"}, want...)
	var s struct{}
	func() {
		defer func() {
			if v := recover(); panicAt != "" && v != "late boom" || panicAt == "" && v != nil {
				t.Fatalf("Dispatch panicked with %v", v)
			}
		}()
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}()
	if iteration != 1 {
		t.Fatal("the high-class timer did not fire")
	}
	for _, name := range log {
		if len(name) > 3 && name[:3] == "new" {
			t.Fatalf("%s fired in the iteration that set it", name)
		}
	}
	first := 1 + 1500 // the high timer and every old one
	if panicAt != "" {
		first = 1 + 1201
	}
	if got := len(log); got != first {
		t.Fatalf("%d fired in the first iteration, want %d", got, first)
	}
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(log, want) {
		for i := range min(len(log), len(want)) {
			if log[i] != want[i] {
				t.Fatalf("firing %d: %s, want %s", i, log[i], want[i])
			}
		}
		t.Fatalf("%d fired, want %d", len(log), len(want))
	}
	if l.timers.len() != 0 {
		t.Fatalf("%d timers left", l.timers.len())
	}
}
