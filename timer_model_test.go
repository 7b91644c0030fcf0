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

// A differential test of the timers through the Loop's public methods on a
// virtual clock, against a reference that keeps every timer in a map and, in
// each Dispatch, lists the timers due at the poll in (class, deadline,
// set) order. Bursts of sizes around sortMin and far above it, deadlines
// over the whole int64 range, class moves, disables, resets and removals
// between iterations and from callbacks, re-arms, timers set by callbacks,
// and panics: every timer that fires must be the reference's next one, and
// after a Dispatch that did not panic none of the due ones may be left.

type refTimer struct {
	tok     Token
	name    int
	when    int64 // math.MaxInt64: never
	stamp   uint64
	cls     Priority
	enabled bool
}

type refModel struct {
	t      *testing.T
	l      *Loop[struct{}]
	vc     *VirtualClock
	rng    *rand.Rand
	timers map[int]*refTimer
	byTok  map[Token]*refTimer
	list   []*refTimer // the live timers, for pick
	pos    map[*refTimer]int
	stamp  uint64
	names  int

	// The Dispatch under way: its candidates in firing order, with the
	// stamp each had at the poll, and the next one to look at.
	cands []refCand
	ci    int
	limit uint64
	now   int64
	fired int
	// Over the test: timers fired, Dispatches that panicked, classes seen
	// holding a run after a Dispatch.
	total, panics, runs int
}

type refCand struct {
	r     *refTimer
	stamp uint64
}

func (m *refModel) queued(r *refTimer) bool { return r.enabled && r.when != math.MaxInt64 }

func (m *refModel) touch(r *refTimer) {
	m.stamp++
	r.stamp = m.stamp
}

// deadline returns a random deadline around now, far away, or at either
// end of the range.
func (m *refModel) deadline() int64 {
	now := m.vc.now.Load()
	switch m.rng.Intn(16) {
	case 0:
		return math.MinInt64 // the zero time: the far past
	case 1:
		return math.MinInt64 + int64(m.rng.Intn(3))
	case 2:
		return math.MaxInt64 - 1 - int64(m.rng.Intn(2))
	case 3:
		return math.MaxInt64 // never
	case 4:
		return m.rng.Int63() - m.rng.Int63()
	case 5:
		return now - int64(m.rng.Intn(5))*int64(time.Millisecond)
	}
	// Near: few distinct deadlines, many ties.
	return now + int64(m.rng.Intn(6))*int64(time.Millisecond)
}

func (m *refModel) at(w int64) time.Time {
	if w == math.MinInt64 {
		return time.Time{} // Sub saturates: MinInt64
	}
	return m.l.base.Add(time.Duration(w))
}

func (m *refModel) add(w int64) {
	m.names++
	r := &refTimer{name: m.names, when: w, cls: PriorityDefault, enabled: true}
	tok, err := m.l.AddTimerAt(m.at(w), m.callback(r))
	if err != nil {
		m.t.Fatal(err)
	}
	if w == math.MinInt64 && m.l.timers.item(tok.id&^timerBit).when != math.MinInt64 {
		m.t.Fatalf("the zero time is not the far past")
	}
	r.tok = tok
	m.touch(r)
	m.timers[r.name] = r
	m.byTok[tok] = r
	m.pos[r] = len(m.list)
	m.list = append(m.list, r)
}

// forget deletes r from the reference.
func (m *refModel) forget(r *refTimer) {
	delete(m.timers, r.name)
	delete(m.byTok, r.tok)
	i := m.pos[r]
	last := m.list[len(m.list)-1]
	m.list[i], m.pos[last] = last, i
	m.list = m.list[:len(m.list)-1]
	delete(m.pos, r)
}

func (m *refModel) pick() *refTimer {
	if len(m.list) == 0 {
		return nil
	}
	return m.list[m.rng.Intn(len(m.list))]
}

func (m *refModel) remove(r *refTimer) {
	if err := m.l.Remove(r.tok); err != nil {
		m.t.Fatalf("Remove: %v", err)
	}
	m.forget(r)
}

func (m *refModel) reset(r *refTimer, w int64) {
	if err := m.l.ResetTimerAt(r.tok, m.at(w)); err != nil {
		m.t.Fatalf("ResetTimerAt: %v", err)
	}
	r.when = w
	if r.enabled {
		m.touch(r)
	}
}

func (m *refModel) disable(r *refTimer) {
	if err := m.l.Disable(r.tok); err != nil {
		m.t.Fatal(err)
	}
	r.enabled = false
}

func (m *refModel) enable(r *refTimer) {
	if err := m.l.Enable(r.tok); err != nil {
		m.t.Fatal(err)
	}
	if !r.enabled {
		r.enabled = true
		m.touch(r)
	}
}

func (m *refModel) setClass(r *refTimer, p Priority) {
	if err := m.l.SetPriority(r.tok, p); err != nil {
		m.t.Fatal(err)
	}
	r.cls = p // a queued timer keeps its place: no touch
}

// callback returns r's callback: it checks that r is the reference's next
// timer, then does random things to the loop and to the reference alike.
func (m *refModel) callback(r *refTimer) func(*struct{}, time.Time) TimerAction {
	return func(_ *struct{}, d time.Time) TimerAction {
		t := m.t
		// The reference's next live candidate.
		for m.ci < len(m.cands) {
			c := m.cands[m.ci]
			if _, ok := m.timers[c.r.name]; ok && c.r.enabled && c.r.stamp == c.stamp {
				break
			}
			m.ci++
		}
		if m.ci == len(m.cands) || m.cands[m.ci].r != r {
			want := "none"
			if m.ci < len(m.cands) {
				c := m.cands[m.ci].r
				want = fmt.Sprintf("t%d (class %d, deadline %d, stamp %d)", c.name, c.cls, c.when, c.stamp)
			}
			t.Fatalf("t%d (class %d, deadline %d, stamp %d, limit %d) fired, want %s",
				r.name, r.cls, r.when, r.stamp, m.limit, want)
		}
		m.ci++
		m.fired++
		if !d.Equal(m.l.base.Add(time.Duration(r.when))) || r.when > m.now {
			t.Fatalf("t%d: deadline %v (%d), now %d", r.name, d, r.when, m.now)
		}
		rng := m.rng
		for range rng.Intn(3) {
			switch o := m.pick(); rng.Intn(9) {
			case 0:
				if len(m.list) < 3000 {
					m.add(m.deadline())
				}
			case 1:
				if rng.Intn(20) == 0 && len(m.list) < 3000 { // a burst set by a callback
					for range sortMin - 2 + rng.Intn(5) + rng.Intn(2)*700 {
						m.add(m.deadline())
					}
				}
			case 2:
				if o != r {
					m.remove(o)
				}
			case 3:
				if o != r {
					m.reset(o, m.deadline())
				}
			case 4:
				if o != r {
					m.disable(o)
				}
			case 5:
				if o != r {
					m.enable(o)
				}
			case 6:
				// A class move of a timer not due in this
				// iteration (see SetPriority for the others).
				if o != r && (o.when > m.now || o.stamp > m.limit || !o.enabled) {
					m.setClass(o, Priority(rng.Intn(3)-1))
				}
			}
		}
		switch rng.Intn(1000) {
		case 0:
			// Panic: the loop removes the timer.
			m.forget(r)
			panic(refPanic{})
		case 1:
			m.remove(r)
			return Again(0) // ignored: removed
		case 2:
			m.disable(r)
			r.when = m.now + int64(time.Millisecond)
			return Again(time.Millisecond)
		}
		switch rng.Intn(5) {
		case 0:
			m.forget(r)
			return Drop()
		case 1:
			d := time.Duration(rng.Intn(3)) * time.Millisecond
			if rng.Intn(10) == 0 {
				d = -time.Second
			}
			r.when = m.now + int64(max(d, 0))
			m.touch(r)
			return Again(d)
		case 2:
			r.when = math.MaxInt64 // too large to represent: never
			m.touch(r)
			return Again(time.Duration(math.MaxInt64))
		}
		w := m.deadline()
		r.when = w
		m.touch(r)
		return At(m.at(w))
	}
}

type refPanic struct{}

// dispatch runs one Dispatch and checks it against the reference.
func (m *refModel) dispatch(step int) {
	t := m.t
	m.limit, m.now = m.stamp, m.vc.now.Load()
	m.cands, m.ci, m.fired = m.cands[:0], 0, 0
	for _, r := range m.timers {
		if m.queued(r) && r.when <= m.now {
			m.cands = append(m.cands, refCand{r, r.stamp})
		}
	}
	slices.SortFunc(m.cands, func(a, b refCand) int {
		if a.r.cls != b.r.cls {
			return int(a.r.cls - b.r.cls)
		}
		if a.r.when != b.r.when {
			if a.r.when < b.r.when {
				return -1
			}
			return 1
		}
		return int(int64(a.stamp - b.stamp))
	})
	timeout := time.Duration(0)
	if m.rng.Intn(2) == 0 {
		timeout = time.Nanosecond // the poll looks at the earliest timer (next)
	}
	panicked := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(refPanic); !ok {
					panic(v)
				}
				panicked = true
			}
		}()
		var s struct{}
		if err := m.l.Dispatch(timeout, &s); err != nil {
			t.Fatal(err)
		}
	}()
	if !panicked {
		for ; m.ci < len(m.cands); m.ci++ {
			c := m.cands[m.ci]
			if _, ok := m.timers[c.r.name]; ok && c.r.enabled && c.r.stamp == c.stamp {
				t.Fatalf("step %d: t%d (class %d, deadline %d, stamp %d) due at %d did not fire", step, c.r.name, c.r.cls, c.r.when, c.stamp, m.now)
			}
		}
	}
	m.check(step)
	m.total += m.fired
	if panicked {
		m.panics++
	}
	for c := range uint8(nClasses) {
		if hp := m.l.timers.hp(c); len(hp.run) > hp.rp {
			m.runs++
		}
	}
}

// check compares the loop's timers with the reference's.
func (m *refModel) check(step int) {
	t := m.t
	n, err := checkTimers(&m.l.timers)
	if err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	want := 0
	for _, r := range m.timers {
		tm := m.l.timers.lookup(r.tok.id&^timerBit, r.tok.gen)
		if tm == nil {
			t.Fatalf("step %d: t%d not found", step, r.name)
		}
		if tm.when != r.when || tm.enabled != r.enabled || Priority(tm.cls)-1 != r.cls {
			t.Fatalf("step %d: t%d: deadline/enabled/class %d/%v/%d, reference %d/%v/%d", step, r.name, tm.when, tm.enabled, tm.cls-1, r.when, r.enabled, r.cls)
		}
		if m.queued(r) {
			want++
		}
	}
	if n != want {
		t.Fatalf("step %d: %d timers queued, reference %d", step, n, want)
	}
	for c := range uint8(nClasses) {
		hp := m.l.timers.hp(c)
		if hp.size() > 2*hp.live+compactMin+1 {
			t.Fatalf("step %d: class %d holds %d entries for %d timers", step, c, hp.size(), hp.live)
		}
	}
}

func TestTimerLoopDifferential(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { timerLoopDifferential(t, seed, 200) })
	}
}

func timerLoopDifferential(t *testing.T, seed int64, steps int) {
	start := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	vc := NewVirtualClock(start)
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := &refModel{t: t, l: l, vc: vc, rng: rand.New(rand.NewSource(seed)),
		timers: map[int]*refTimer{}, byTok: map[Token]*refTimer{}, pos: map[*refTimer]int{}}
	rng := m.rng
	bursts := []int{1, 5, sortMin - 1, sortMin, sortMin + 1, 2 * sortMin, 3000}
	for step := range steps {
		for range 1 + rng.Intn(4) {
			r := m.pick()
			switch op := rng.Intn(12); {
			case op < 2 && len(m.list) < 4000 || r == nil:
				n := bursts[rng.Intn(len(bursts))]
				for range n {
					m.add(m.deadline())
				}
			case op == 2:
				for range rng.Intn(len(m.list)) {
					if o := m.pick(); o != nil && rng.Intn(2) == 0 {
						m.remove(o)
					}
				}
			case op == 3:
				// A re-arm burst.
				for range min(len(m.timers), sortMin+rng.Intn(3)-1+rng.Intn(2)*500) {
					m.reset(m.pick(), m.deadline())
				}
			case op == 4:
				m.remove(r)
			case op == 5:
				for range 1 + rng.Intn(300) {
					m.reset(r, m.deadline())
				}
			case op == 6:
				m.disable(r)
			case op == 7:
				m.enable(r)
			case op == 8:
				for range 1 + rng.Intn(len(m.list)) {
					m.setClass(m.pick(), Priority(rng.Intn(3)-1))
				}
			case op == 9:
				m.setClass(r, Priority(rng.Intn(3)-1))
			}
		}
		switch rng.Intn(8) {
		case 0:
			// Stay: what is due fires, what was set meanwhile waits.
		case 1:
			if rng.Intn(8) == 0 {
				vc.Advance(time.Duration(rng.Int63n(1 << 40)))
			}
		default:
			vc.Advance(time.Duration(rng.Intn(4)) * time.Millisecond)
		}
		m.dispatch(step)
		if step%50 == 49 {
			// A few idle iterations: everything due fires.
			for range 3 {
				m.dispatch(step)
			}
		}
	}
	// The test must have reached what it is for.
	if m.total < 1000 || m.panics == 0 || m.runs == 0 {
		t.Fatalf("fired %d timers, %d panics, %d runs seen", m.total, m.panics, m.runs)
	}
	t.Logf("fired %d timers, %d panics, %d runs seen", m.total, m.panics, m.runs)
}
