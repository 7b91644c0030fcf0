package calloop

import (
	"math"
	"time"
)

// timerSet is the loop's timers: a slab of timers addressed by token id and,
// per priority class, a 4-ary min-heap of (deadline, sequence) that stores
// each timer's position, so that add, cancel and re-arm are O(log n) and
// equal deadlines fire in the order they were set. Timers of the default
// class, the only ones unless [Loop.SetPriority] was given a timer, are in
// heap; the other classes' in high and low.
type timerSet[S any] struct {
	// chunks holds the timers, timerChunk at a time: growing never copies
	// (a million timers would otherwise be copied several times over by
	// append), and a timer's address is stable.
	chunks [][]timer[S]
	n      uint32      // timers ever allocated (ids below n exist)
	free   uint32      // first released timer + 1, linked through nextFree; 0: none
	heap   []heapEntry // the default class
	high   []heapEntry
	low    []heapEntry
	seq    uint64
	nprio  int // live timers of a class other than the default
}

// The timer classes (timer.cls): a Priority plus one.
const (
	clsHigh    = uint8(PriorityHigh + 1)
	clsDefault = uint8(PriorityDefault + 1)
	clsLow     = uint8(PriorityLow + 1)
	nClasses   = 3
)

// hp returns the heap of class c.
func (ts *timerSet[S]) hp(c uint8) *[]heapEntry {
	switch c {
	case clsDefault:
		return &ts.heap
	case clsHigh:
		return &ts.high
	}
	return &ts.low
}

const timerChunkBits = 10
const timerChunk = 1 << timerChunkBits

// item returns timer id, which must exist.
func (ts *timerSet[S]) item(id uint32) *timer[S] {
	return &ts.chunks[id>>timerChunkBits][id&(timerChunk-1)]
}

type timer[S any] struct {
	when     int64 // nanoseconds since the loop's origin (may be negative); math.MaxInt64: never
	fn       func(*S, time.Time) TimerAction
	gen      uint32
	pos      int32  // index in heap, -1, or posDue
	nextFree uint32 // while released: the next released timer + 1
	enabled  bool   // active: in the heap unless due or never (see children.go)
	held     bool   // disabled by itself
	child    bool   // has a parent (Loop.tlinks)
	cls      uint8  // priority class: clsHigh, clsDefault or clsLow
}

// posDue marks a timer taken off the heap to fire in this iteration.
const posDue = -2

type heapEntry struct {
	when int64
	seq  uint64
	id   uint32
}

func (h *heapEntry) before(o *heapEntry) bool {
	return h.when < o.when || h.when == o.when && h.seq < o.seq
}

// len returns the number of timers in the heaps.
func (ts *timerSet[S]) len() int { return len(ts.heap) + len(ts.high) + len(ts.low) }

// next returns the earliest deadline; the heaps must not all be empty.
func (ts *timerSet[S]) next() int64 {
	var when int64 = math.MaxInt64
	if len(ts.heap) > 0 {
		when = ts.heap[0].when
	}
	if len(ts.high) > 0 && ts.high[0].when < when {
		when = ts.high[0].when
	}
	if len(ts.low) > 0 && ts.low[0].when < when {
		when = ts.low[0].when
	}
	return when
}

// setClass puts timer id in class c; a queued timer moves to c's heap with
// its sequence number, so it keeps its place among equal deadlines.
func (ts *timerSet[S]) setClass(id uint32, c uint8) {
	t := ts.item(id)
	if t.cls == c {
		return
	}
	if t.cls == clsDefault {
		ts.nprio++
	} else if c == clsDefault {
		ts.nprio--
	}
	if t.pos < 0 {
		t.cls = c
		return
	}
	e := (*ts.hp(t.cls))[t.pos]
	ts.remove(t.cls, int(t.pos))
	t.cls = c
	ts.insert(c, e)
}

func (ts *timerSet[S]) alloc(when int64, fn func(*S, time.Time) TimerAction) uint32 {
	var id uint32
	if ts.free != 0 {
		id = ts.free - 1
		ts.free = ts.item(id).nextFree
	} else {
		id = ts.n
		if id&(timerChunk-1) == 0 {
			ts.chunks = append(ts.chunks, make([]timer[S], timerChunk))
		}
		ts.n++
	}
	t := ts.item(id)
	t.gen++
	if t.gen == 0 {
		t.gen = 1
	}
	t.when, t.fn, t.pos, t.enabled = when, fn, -1, true // held and child were cleared by release
	t.cls = clsDefault
	ts.push(id)
	return id
}

func (ts *timerSet[S]) release(id uint32) {
	t := ts.item(id)
	if t.pos >= 0 {
		ts.remove(t.cls, int(t.pos))
	}
	if t.cls != clsDefault {
		ts.nprio--
		t.cls = clsDefault
	}
	t.fn, t.enabled, t.held, t.child = nil, false, false, false
	t.gen++
	if t.gen == 0 {
		t.gen = 1
	}
	t.nextFree, ts.free = ts.free, id+1
}

// lookup returns the live timer named by id and gen, or nil.
func (ts *timerSet[S]) lookup(id, gen uint32) *timer[S] {
	if id >= ts.n {
		return nil
	}
	t := ts.item(id)
	if t.gen != gen || t.fn == nil {
		return nil
	}
	return t
}

// push inserts timer id at its deadline, after every timer already set for
// the same instant. A deadline of math.MaxInt64 never fires and stays out of
// the heap.
func (ts *timerSet[S]) push(id uint32) {
	t := ts.item(id)
	if t.when == math.MaxInt64 {
		return
	}
	ts.seq++
	e := heapEntry{when: t.when, seq: ts.seq, id: id}
	if t.cls != clsDefault {
		ts.insert(t.cls, e)
		return
	}
	// insert, inlined for the default class.
	h := ts.heap
	if len(h) == cap(h) {
		n := make([]heapEntry, len(h), max(64, 2*cap(h)))
		copy(n, h)
		h = n
	}
	t.pos = int32(len(h))
	h = append(h, e)
	ts.heap = h
	ts.up(h, len(h)-1)
}

// insert adds e to the heap of class c.
func (ts *timerSet[S]) insert(c uint8, e heapEntry) {
	hp := ts.hp(c)
	h := *hp
	if len(h) == cap(h) {
		// Double, rather than append's gentler growth for big slices:
		// each entry is then copied about once however large the heap gets.
		n := make([]heapEntry, len(h), max(64, 2*cap(h)))
		copy(n, h)
		h = n
	}
	h = append(h, e)
	*hp = h
	ts.up(h, len(h)-1)
}

// reschedule moves timer id to deadline when, as the newest timer of that instant.
func (ts *timerSet[S]) reschedule(id uint32, when int64) {
	t := ts.item(id)
	t.when = when
	if !t.enabled {
		return
	}
	if t.pos < 0 {
		ts.push(id)
		return
	}
	if when == math.MaxInt64 {
		ts.remove(t.cls, int(t.pos))
		return
	}
	ts.seq++
	h := *ts.hp(t.cls)
	e := &h[t.pos]
	e.when, e.seq = when, ts.seq
	i := int(t.pos)
	ts.up(h, i)
	ts.down(h, int(ts.item(id).pos))
}

// remove takes entry i off the heap of class c.
func (ts *timerSet[S]) remove(c uint8, i int) {
	hp := &ts.heap
	if c != clsDefault {
		hp = ts.hp(c)
	}
	h := *hp
	ts.item(h[i].id).pos = -1
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		ts.item(h[i].id).pos = int32(i)
	}
	*hp = h[:last]
	if i < last {
		h = h[:last]
		ts.up(h, i)
		ts.down(h, int(ts.item(h[i].id).pos))
	}
}

func (ts *timerSet[S]) up(h []heapEntry, i int) {
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		ts.item(h[i].id).pos = int32(i)
		i = p
	}
	h[i] = e
	ts.item(e.id).pos = int32(i)
}

func (ts *timerSet[S]) down(h []heapEntry, i int) {
	n := len(h)
	e := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if h[j].before(&h[m]) {
				m = j
			}
		}
		if !h[m].before(&e) {
			break
		}
		h[i] = h[m]
		ts.item(h[i].id).pos = int32(i)
		i = m
	}
	h[i] = e
	ts.item(e.id).pos = int32(i)
}

func (ts *timerSet[S]) reset() {
	*ts = timerSet[S]{}
}
