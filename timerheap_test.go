//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"
)

// White-box tests of the timer heap: random operations against a model, with
// the heap's invariants checked after every one.

type heapModelTimer struct {
	gen     uint32
	when    int64
	enabled bool
	cls     uint8
	stamp   uint64 // insertion order among timers of the same deadline
}

type heapModel struct {
	live  map[uint32]*heapModelTimer
	stamp uint64
}

func (m *heapModel) queued(mt *heapModelTimer) bool {
	return mt.enabled && mt.when != math.MaxInt64
}

func (m *heapModel) touch(mt *heapModelTimer) {
	if m.queued(mt) {
		m.stamp++
		mt.stamp = m.stamp
	}
}

func (a *heapModelTimer) before(b *heapModelTimer) bool {
	return a.when < b.when || a.when == b.when && a.stamp < b.stamp
}

// anyClass asks min for the earliest timer of every class.
const anyClass = 255

// min returns the id class c's heap must have on top, or false.
func (m *heapModel) min(c uint8) (uint32, bool) {
	var best uint32
	var bt *heapModelTimer
	for id, mt := range m.live {
		if !m.queued(mt) || c != anyClass && mt.cls != c {
			continue
		}
		if bt == nil || mt.before(bt) {
			best, bt = id, mt
		}
	}
	return best, bt != nil
}

// heapTop returns the timer on top of class c's heap, dropping dead entries.
func heapTop[S any](ts *timerSet[S], c uint8) (uint32, bool) {
	hp := ts.hp(c)
	ts.prune(hp)
	e := hp.first()
	if e == nil {
		return 0, false
	}
	return e.id, true
}

func checkHeap[S any](t *testing.T, ts *timerSet[S], m *heapModel, step int, op string) {
	t.Helper()
	n, err := checkTimers(ts)
	if err != nil {
		t.Fatalf("step %d (%s): %v", step, op, err)
	}
	want := 0
	for id, mt := range m.live {
		tm := ts.lookup(id, mt.gen)
		if tm == nil {
			t.Fatalf("step %d (%s): live timer %d.%d not found", step, op, id, mt.gen)
		}
		if tm.when != mt.when || tm.enabled != mt.enabled || tm.cls != mt.cls {
			t.Fatalf("step %d (%s): timer %d: when/enabled/class %d/%v/%d, model %d/%v/%d",
				step, op, id, tm.when, tm.enabled, tm.cls, mt.when, mt.enabled, mt.cls)
		}
		if m.queued(mt) {
			want++
			if tm.seq == 0 {
				t.Fatalf("step %d (%s): enabled timer %d is not queued", step, op, id)
			}
		} else if tm.seq != 0 {
			t.Fatalf("step %d (%s): timer %d (enabled %v, when %d) is queued", step, op, id, mt.enabled, mt.when)
		}
	}
	if n != want {
		t.Fatalf("step %d (%s): %d queued timers, model %d", step, op, n, want)
	}
	for i := range ts.n {
		if _, ok := m.live[i]; !ok && ts.item(i).fn != nil {
			t.Fatalf("step %d (%s): released timer %d still has a callback", step, op, i)
		}
	}
	if id, ok := m.min(anyClass); ok != (ts.len() > 0) || ok && ts.next() != m.live[id].when {
		t.Fatalf("step %d (%s): next is not the model's earliest deadline", step, op)
	}
	for c := range uint8(nClasses) {
		id, ok := m.min(c)
		top, tok := heapTop(ts, c)
		if ok != tok || ok && top != id {
			t.Fatalf("step %d (%s): class %d: top %d (%v), model's earliest %d (%v)", step, op, c, top, tok, id, ok)
		}
	}
}

// TestTimerHeapRandomOps checks the heaps against a model (a map searched
// for the earliest (deadline, insertion) timer) under random operations:
// adds, cancels, re-arms and storms of re-arms of one timer, disables and
// enables, class moves, and firings from the top.
func TestTimerHeapRandomOps(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		randomHeapOps(t, seed, 4000, false)
	}
}

// TestTimerHeapRandomBursts is TestTimerHeapRandomOps with bursts of
// hundreds of timers set or re-armed at once, and the earliest timer asked
// for only now and then, so that the pending entries pile up between
// settles (among cancels, re-arms, disables and class moves) and go into
// runs, merged runs and the heap; deadlines are sometimes spread over the
// whole int64 range.
func TestTimerHeapRandomBursts(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		randomHeapOps(t, seed, 800, true)
	}
}

// randomHeapOps runs steps random operations on a timerSet and its model
// (see TestTimerHeapRandomOps); with bursts, also bursts, and the heaps
// settled only by every third check.
func randomHeapOps(t *testing.T, seed int64, steps int, bursts bool) {
	{
		rng := rand.New(rand.NewSource(seed))
		var ts timerSet[struct{}]
		m := &heapModel{live: map[uint32]*heapModelTimer{}}
		fn := func(*struct{}, time.Time) TimerAction { return Drop() }
		wide := false // bursts: deadlines over the whole range
		when := func() int64 {
			if rng.Intn(20) == 0 {
				return math.MaxInt64
			}
			if wide {
				switch rng.Intn(4) {
				case 0:
					return math.MinInt64 + int64(rng.Intn(3))
				case 1:
					return math.MaxInt64 - 1 - int64(rng.Intn(3))
				case 2:
					return rng.Int63() - rng.Int63()
				}
			}
			return int64(rng.Intn(40)) // many equal deadlines
		}
		pick := func() (uint32, *heapModelTimer) {
			k := rng.Intn(len(m.live))
			for id, mt := range m.live {
				if k == 0 {
					return id, mt
				}
				k--
			}
			panic("unreachable")
		}
		setClass := func(id uint32, mt *heapModelTimer, c uint8) {
			ts.setClass(id, c)
			mt.cls = c // a queued timer keeps its place: no touch
		}
		for step := range steps {
			op := rng.Intn(14)
			if bursts && rng.Intn(20) == 0 {
				op = 14 + rng.Intn(3)
			}
			if len(m.live) == 0 {
				op = 0
			}
			var name string
			switch op {
			case 14:
				name = "burst"
				wide = rng.Intn(3) == 0
				cls := uint8(rng.Intn(nClasses))
				for range 300 + rng.Intn(500) {
					w := when()
					id := ts.alloc(w, fn)
					mt := &heapModelTimer{gen: ts.item(id).gen, when: w, enabled: true, cls: clsDefault}
					m.touch(mt)
					m.live[id] = mt
					if rng.Intn(3) == 0 {
						setClass(id, mt, cls)
					}
					if rng.Intn(4) == 0 {
						ts.release(id)
						delete(m.live, id)
					}
				}
				wide = false
			case 15:
				name = "rearm burst"
				wide = rng.Intn(3) == 0
				for range min(len(m.live), 300+rng.Intn(500)) {
					id, mt := pick()
					mt.when = when()
					ts.reschedule(id, mt.when)
					m.touch(mt)
				}
				wide = false
			case 16:
				name = "release burst"
				for range min(len(m.live), 200+rng.Intn(600)) {
					id, mt := pick()
					if rng.Intn(2) == 0 {
						if top, ok := heapTop(&ts, mt.cls); ok {
							id = top // the earliest: from a run or the heap
						}
					}
					ts.release(id)
					delete(m.live, id)
				}
			case 0, 1, 2:
				name = "alloc"
				w := when()
				id := ts.alloc(w, fn)
				if _, dup := m.live[id]; dup {
					t.Fatalf("alloc returned live id %d", id)
				}
				mt := &heapModelTimer{gen: ts.item(id).gen, when: w, enabled: true, cls: clsDefault}
				m.touch(mt)
				m.live[id] = mt
				if rng.Intn(4) == 0 {
					setClass(id, mt, uint8(rng.Intn(nClasses)))
				}
			case 3:
				name = "release"
				id, mt := pick()
				ts.release(id)
				if ts.lookup(id, mt.gen) != nil {
					t.Fatalf("released timer %d still found", id)
				}
				delete(m.live, id)
			case 4, 5:
				name = "reschedule"
				id, mt := pick()
				mt.when = when()
				ts.reschedule(id, mt.when)
				m.touch(mt)
			case 6:
				name = "storm"
				id, mt := pick()
				for range 1 + rng.Intn(300) {
					mt.when = when()
					ts.reschedule(id, mt.when)
					m.touch(mt)
				}
			case 7:
				name = "disable"
				id, mt := pick()
				tm := ts.item(id)
				if tm.enabled {
					tm.enabled = false
					ts.unqueue(tm)
				}
				mt.enabled = false
			case 8:
				name = "enable"
				id, mt := pick()
				tm := ts.item(id)
				if !tm.enabled {
					tm.enabled = true
					ts.push(id)
					mt.enabled = true
					m.touch(mt)
				}
			case 9, 10:
				name = "class"
				id, mt := pick()
				setClass(id, mt, uint8(rng.Intn(nClasses)))
			case 11, 12, 13:
				name = "pop"
				c := uint8(rng.Intn(nClasses))
				id, ok := heapTop(&ts, c)
				if !ok {
					continue
				}
				mt := m.live[id]
				switch rng.Intn(3) {
				case 0:
					ts.release(id)
					delete(m.live, id)
				case 1:
					mt.when += int64(rng.Intn(10))
					ts.reschedule(id, mt.when)
					m.touch(mt)
				default:
					// Fire it as fireTimers does, then re-arm it.
					ts.hp(c).drop(ts.hp(c).first())
					ts.hp(c).live--
					tm := ts.item(id)
					tm.seq, tm.due = 0, true
					ts.shrink(ts.hp(c))
					mt.when += int64(rng.Intn(10))
					ts.reschedule(id, mt.when)
					m.touch(mt)
				}
			}
			if bursts && rng.Intn(3) != 0 {
				if _, err := checkTimers(&ts); err != nil {
					t.Fatalf("seed %d step %d (%s): %v", seed, step, name, err)
				}
				continue
			}
			checkHeap(t, &ts, m, step, name)
		}
		// Drain each class in order: (deadline, insertion) non-decreasing.
		for c := range uint8(nClasses) {
			var want []*heapModelTimer
			for _, mt := range m.live {
				if m.queued(mt) && mt.cls == c {
					want = append(want, mt)
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i].before(want[j]) })
			for i, k := range want {
				id, ok := heapTop(&ts, c)
				if !ok {
					t.Fatalf("seed %d: class %d: drain #%d: heap empty", seed, c, i)
				}
				mt := m.live[id]
				if mt != k {
					t.Fatalf("seed %d: class %d: drain #%d: timer (%d, %d), want (%d, %d)", seed, c, i, mt.when, mt.stamp, k.when, k.stamp)
				}
				ts.release(id)
				delete(m.live, id)
				if !bursts || i%64 == 0 {
					checkHeap(t, &ts, m, i, "drain")
				}
			}
		}
	}
}

func TestTimerHeapThroughLoop(t *testing.T) {
	// The same invariants, driven through the Loop's public methods and a
	// real Dispatch, with timers re-arming from their callbacks.
	l, err := New[struct{}]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewSource(7))
	var toks []Token
	var s struct{}
	check := func(step int) {
		ts := &l.timers
		q, err := checkTimers(ts)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		n := 0
		for i := range ts.n {
			tm := ts.item(i)
			if tm.fn != nil && tm.enabled && tm.when != math.MaxInt64 {
				n++
			}
		}
		if n != q {
			t.Fatalf("step %d: %d live enabled timers, %d queued", step, n, q)
		}
	}
	cb := func(_ *struct{}, _ time.Time) TimerAction {
		switch rng.Intn(4) {
		case 0:
			return Drop()
		case 1:
			return Again(time.Duration(rng.Intn(3)) * time.Millisecond)
		case 2:
			if len(toks) > 0 {
				l.Remove(toks[rng.Intn(len(toks))])
			}
			return Again(0)
		}
		return At(time.Now().Add(time.Duration(rng.Intn(2000)) * time.Microsecond))
	}
	for step := range 3000 {
		switch rng.Intn(7) {
		case 6:
			if len(toks) > 0 {
				l.SetPriority(toks[rng.Intn(len(toks))], Priority(rng.Intn(3)-1))
			}
		case 0, 1:
			tok, err := l.AddTimer(time.Duration(rng.Intn(3000))*time.Microsecond, cb)
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok)
		case 2:
			if len(toks) > 0 {
				l.Remove(toks[rng.Intn(len(toks))])
			}
		case 3:
			if len(toks) > 0 {
				l.ResetTimer(toks[rng.Intn(len(toks))], time.Duration(rng.Intn(3000))*time.Microsecond)
			}
		case 4:
			if len(toks) > 0 {
				tok := toks[rng.Intn(len(toks))]
				if rng.Intn(2) == 0 {
					l.Disable(tok)
				} else {
					l.Enable(tok)
				}
			}
		case 5:
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		check(step)
	}
}

func TestTimerHeapCancelReinsertStaysBounded(t *testing.T) {
	// calloop #238 / smithay #1927: cancelling and re-inserting a timer a
	// million times must not grow the heap or the slab (a fifth of that
	// here: the sizes are exact, so a leak shows at any count).
	l, err := New[struct{}]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 200_000
	var s struct{}
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	for range 1000 {
		if _, err := l.AddTimer(time.Hour, fn); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := l.AddTimer(10*time.Minute, fn)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Remove(tok); err != nil {
			t.Fatal(err)
		}
		if tok, err = l.AddTimer(10*time.Minute, fn); err != nil {
			t.Fatal(err)
		}
		if i%10000 == 0 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The heap holds dead entries, but never more than live ones (above
	// compactMin).
	if h, live, it := l.timers.heap.size(), l.timers.len(), int(l.timers.n); live != 1001 || h > 2*1001 || it != 1001 {
		t.Fatalf("after %d cancel+insert cycles: heap %d entries for %d timers, slab %d; want 1001 timers in at most 2002 entries, slab 1001", n, h, live, it)
	}
}

// TestTimerHeapResetStormStaysBounded re-arms one timer a million times,
// alone and among others: its dead entries must not pile up in the heap,
// and it must fire once, at its last deadline.
func TestTimerHeapResetStormStaysBounded(t *testing.T) {
	for _, others := range []int{0, 1000} {
		l, err := New[struct{}]()
		if err != nil {
			t.Fatal(err)
		}
		fn := func(*struct{}, time.Time) TimerAction { return Drop() }
		for range others {
			if _, err := l.AddTimer(time.Hour, fn); err != nil {
				t.Fatal(err)
			}
		}
		fired := 0
		var at time.Time
		tok, err := l.AddTimer(time.Hour, func(_ *struct{}, d time.Time) TimerAction {
			fired++
			at = d
			return Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		bound := max(2*(others+1), others+1+compactMin)
		base := time.Now()
		const n = 1_000_000
		for i := range n {
			// Deadlines alternate between near and far, so the dead
			// entries are not all on top.
			d := time.Duration(i%7) * time.Hour
			if i == n-1 {
				d = 0
			}
			if err := l.ResetTimerAt(tok, base.Add(d)); err != nil {
				t.Fatal(err)
			}
			if h := l.timers.heap.size(); h > bound {
				t.Fatalf("others %d: after %d resets the heap has %d entries, more than %d", others, i+1, h, bound)
			}
		}
		if got := l.timers.len(); got != others+1 {
			t.Fatalf("others %d: %d live timers", others, got)
		}
		var s struct{}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if fired != 1 || !at.Equal(base) {
			t.Fatalf("others %d: fired %d times, deadline %v, want once at %v", others, fired, at, base)
		}
		if _, err := checkTimers(&l.timers); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
}

// TestTimerHeapClassTagWrap moves a queued timer between classes when its
// move count wraps: the entry it left in its old heap with the same
// sequence number must stay dead (it would fire twice otherwise).
func TestTimerHeapClassTagWrap(t *testing.T) {
	var ts timerSet[struct{}]
	fn := func(*struct{}, time.Time) TimerAction { return Drop() }
	for i := range 10 {
		ts.alloc(int64(i), fn)
	}
	id := ts.alloc(5, fn)
	ts.setClass(id, clsHigh) // leaves an entry tagged 0 in the default heap
	// Pretend 2^32 - 1 moves happened since: tag the live entry likewise.
	tm := ts.item(id)
	tm.mv = math.MaxUint32
	for i := range ts.high.h {
		if ts.high.h[i].id == id {
			ts.high.h[i].tag = math.MaxUint32
		}
	}
	ts.setClass(id, clsDefault) // the tags wrap to 0
	if tm.mv != 0 {
		t.Fatalf("mv %d, want 0", tm.mv)
	}
	if _, err := checkTimers(&ts); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ts.len() > 0 {
		top, _ := heapTop(&ts, clsDefault)
		if top == id {
			n++
		}
		ts.release(top)
	}
	if n != 1 {
		t.Fatalf("the moved timer came off the top %d times", n)
	}
}
