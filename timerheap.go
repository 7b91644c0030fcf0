package calloop

import (
	"math"
	"time"
)

// timerSet is the loop's timers: a slab of timers addressed by token id and a
// 4-ary min-heap of (deadline, sequence) that stores each timer's position,
// so that add, cancel and re-arm are O(log n) and equal deadlines fire in the
// order they were set.
type timerSet[S any] struct {
	// chunks holds the timers, timerChunk at a time: growing never copies
	// (a million timers would otherwise be copied several times over by
	// append), and a timer's address is stable.
	chunks [][]timer[S]
	n      uint32 // timers ever allocated (ids below n exist)
	free   uint32 // first released timer + 1, linked through nextFree; 0: none
	heap   []heapEntry
	seq    uint64
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

func (ts *timerSet[S]) len() int { return len(ts.heap) }

// next returns the earliest deadline; the heap must not be empty.
func (ts *timerSet[S]) next() int64 { return ts.heap[0].when }

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
	ts.push(id)
	return id
}

func (ts *timerSet[S]) release(id uint32) {
	t := ts.item(id)
	if t.pos >= 0 {
		ts.remove(int(t.pos))
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
	t.pos = int32(len(ts.heap))
	if len(ts.heap) == cap(ts.heap) {
		// Double, rather than append's gentler growth for big slices:
		// each entry is then copied about once however large the heap gets.
		h := make([]heapEntry, len(ts.heap), max(64, 2*cap(ts.heap)))
		copy(h, ts.heap)
		ts.heap = h
	}
	ts.heap = append(ts.heap, heapEntry{when: t.when, seq: ts.seq, id: id})
	ts.up(int(t.pos))
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
		ts.remove(int(t.pos))
		return
	}
	ts.seq++
	e := &ts.heap[t.pos]
	e.when, e.seq = when, ts.seq
	i := int(t.pos)
	ts.up(i)
	ts.down(int(ts.item(id).pos))
}

func (ts *timerSet[S]) remove(i int) {
	h := ts.heap
	ts.item(h[i].id).pos = -1
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		ts.item(h[i].id).pos = int32(i)
	}
	ts.heap = h[:last]
	if i < last {
		ts.up(i)
		ts.down(int(ts.item(h[i].id).pos))
	}
}

func (ts *timerSet[S]) up(i int) {
	h := ts.heap
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

func (ts *timerSet[S]) down(i int) {
	h := ts.heap
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
