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

// min returns the id the heap must have on top, or false.
func (m *heapModel) min() (uint32, bool) {
	var best uint32
	var bt *heapModelTimer
	for id, mt := range m.live {
		if !m.queued(mt) {
			continue
		}
		if bt == nil || mt.when < bt.when || mt.when == bt.when && mt.stamp < bt.stamp {
			best, bt = id, mt
		}
	}
	return best, bt != nil
}

func checkHeap[S any](t *testing.T, ts *timerSet[S], m *heapModel, step int, op string) {
	t.Helper()
	for i := range ts.heap {
		e := &ts.heap[i]
		if int(e.id) >= int(ts.n) {
			t.Fatalf("step %d (%s): heap[%d] names timer %d, beyond the slab", step, op, i, e.id)
		}
		if p := ts.item(e.id).pos; int(p) != i {
			t.Fatalf("step %d (%s): heap[%d] is timer %d, whose stored pos is %d", step, op, i, e.id, p)
		}
		if e.when != ts.item(e.id).when {
			t.Fatalf("step %d (%s): heap[%d].when %d != timer's when %d", step, op, i, e.when, ts.item(e.id).when)
		}
		if i > 0 {
			if parent := &ts.heap[(i-1)/4]; e.before(parent) {
				t.Fatalf("step %d (%s): heap order broken at %d: child (%d,%d) before parent (%d,%d)",
					step, op, i, e.when, e.seq, parent.when, parent.seq)
			}
		}
	}
	want := 0
	for id, mt := range m.live {
		tm := ts.lookup(id, mt.gen)
		if tm == nil {
			t.Fatalf("step %d (%s): live timer %d.%d not found", step, op, id, mt.gen)
		}
		if tm.when != mt.when || tm.enabled != mt.enabled {
			t.Fatalf("step %d (%s): timer %d: when/enabled %d/%v, model %d/%v", step, op, id, tm.when, tm.enabled, mt.when, mt.enabled)
		}
		if m.queued(mt) {
			want++
			if tm.pos < 0 {
				t.Fatalf("step %d (%s): enabled timer %d is not in the heap", step, op, id)
			}
		} else if tm.pos >= 0 {
			t.Fatalf("step %d (%s): timer %d (enabled %v, when %d) is in the heap", step, op, id, mt.enabled, mt.when)
		}
	}
	if len(ts.heap) != want {
		t.Fatalf("step %d (%s): heap has %d entries, model %d", step, op, len(ts.heap), want)
	}
	for i := range ts.n {
		if _, ok := m.live[i]; !ok && ts.item(i).fn != nil {
			t.Fatalf("step %d (%s): released timer %d still has a callback", step, op, i)
		}
		if _, ok := m.live[i]; !ok && ts.item(i).pos >= 0 {
			t.Fatalf("step %d (%s): released timer %d still in the heap", step, op, i)
		}
	}
	if id, ok := m.min(); ok != (len(ts.heap) > 0) || ok && ts.heap[0].id != id {
		t.Fatalf("step %d (%s): heap top is not the model's earliest timer %d", step, op, id)
	}
}

func TestTimerHeapRandomOps(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewSource(seed))
		var ts timerSet[struct{}]
		m := &heapModel{live: map[uint32]*heapModelTimer{}}
		fn := func(*struct{}, time.Time) TimerAction { return Drop() }
		when := func() int64 {
			if rng.Intn(20) == 0 {
				return math.MaxInt64
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
		for step := range 2500 {
			op := rng.Intn(10)
			if len(m.live) == 0 {
				op = 0
			}
			var name string
			switch op {
			case 0, 1, 2:
				name = "alloc"
				w := when()
				id := ts.alloc(w, fn)
				if _, dup := m.live[id]; dup {
					t.Fatalf("alloc returned live id %d", id)
				}
				mt := &heapModelTimer{gen: ts.item(id).gen, when: w, enabled: true}
				m.touch(mt)
				m.live[id] = mt
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
				name = "disable"
				id, mt := pick()
				tm := ts.item(id)
				if tm.enabled {
					tm.enabled = false
					if tm.pos >= 0 {
						ts.remove(tm.cls, int(tm.pos))
					}
				}
				mt.enabled = false
			case 7:
				name = "enable"
				id, mt := pick()
				tm := ts.item(id)
				if !tm.enabled {
					tm.enabled = true
					ts.push(id)
					mt.enabled = true
					m.touch(mt)
				}
			case 8, 9:
				name = "pop"
				if len(ts.heap) == 0 {
					continue
				}
				id := ts.heap[0].id
				if rng.Intn(2) == 0 {
					ts.release(id)
					delete(m.live, id)
				} else {
					mt := m.live[id]
					mt.when += int64(rng.Intn(10))
					ts.reschedule(id, mt.when)
					m.touch(mt)
				}
			}
			checkHeap(t, &ts, m, step, name)
		}
		// Drain in order: (deadline, insertion) non-decreasing.
		type key struct {
			when  int64
			stamp uint64
		}
		var want []key
		for _, mt := range m.live {
			if m.queued(mt) {
				want = append(want, key{mt.when, mt.stamp})
			}
		}
		sort.Slice(want, func(i, j int) bool {
			return want[i].when < want[j].when || want[i].when == want[j].when && want[i].stamp < want[j].stamp
		})
		for i, k := range want {
			id := ts.heap[0].id
			mt := m.live[id]
			if mt.when != k.when || mt.stamp != k.stamp {
				t.Fatalf("seed %d: drain #%d: timer (%d, %d), want (%d, %d)", seed, i, mt.when, mt.stamp, k.when, k.stamp)
			}
			ts.release(id)
			delete(m.live, id)
			checkHeap(t, &ts, m, i, "drain")
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
		for i := range ts.heap {
			e := &ts.heap[i]
			if int(ts.item(e.id).pos) != i {
				t.Fatalf("step %d: heap[%d] pos mismatch", step, i)
			}
			if i > 0 && e.before(&ts.heap[(i-1)/4]) {
				t.Fatalf("step %d: heap order broken at %d", step, i)
			}
		}
		n := 0
		for i := range ts.n {
			tm := ts.item(i)
			if tm.fn != nil && tm.enabled && tm.when != math.MaxInt64 {
				n++
				if tm.pos < 0 {
					t.Fatalf("step %d: live enabled timer %d not in the heap", step, i)
				}
			} else if tm.pos >= 0 {
				t.Fatalf("step %d: timer %d (live %v, enabled %v) in the heap", step, i, tm.fn != nil, tm.enabled)
			}
		}
		if n != len(ts.heap) {
			t.Fatalf("step %d: %d queued timers, heap has %d", step, n, len(ts.heap))
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
		switch rng.Intn(6) {
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
	if h, it := len(l.timers.heap), int(l.timers.n); h != 1001 || it != 1001 {
		t.Fatalf("after %d cancel+insert cycles: heap %d, slab %d; want 1001 each", n, h, it)
	}
}
