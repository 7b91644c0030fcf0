package calloop

import (
	"math"
	"math/bits"
	"time"
)

// timerSet is the loop's timers: a slab of timers addressed by token id and,
// per priority class, (deadline, sequence) entries (timerHeap: a 4-ary
// min-heap, a sorted run, and the entries set since the class was last
// looked at), so that equal deadlines fire in the order they were set.
// Timers of the
// default class, the only ones unless [Loop.SetPriority] was given a timer,
// are in heap; the other classes' in high and low.
//
// Deletion is lazy: a heap entry is live while its timer still names it (the
// timer's seq and mv equal the entry's seq and tag). Cancelling, disabling
// or re-arming a timer only makes its entry dead, in O(1), and re-arming
// pushes a new entry; the heap never writes back to the timers, so a sift
// touches the heap array alone. Dead entries leave the heap when they reach
// its top, when their class is settled (settle), or all at once when they
// outnumber the live ones (compact): a class holds at most about twice its
// live timers, and every operation is O(log n) amortized, however often
// one timer is re-armed. Setting a timer is O(1) until the next look at the
// earliest one; a burst of timers set between two looks is sorted at once.
type timerSet[S any] struct {
	// chunks holds the timers, timerChunk at a time: growing never copies
	// (a million timers would otherwise be copied several times over by
	// append), and a timer's address is stable.
	chunks [][]timer[S]
	n      uint32    // timers ever allocated (ids below n exist)
	free   uint32    // first released timer + 1, linked through when; 0: none
	heap   timerHeap // the default class
	high   timerHeap
	low    timerHeap
	seq    uint64 // the sequence number of the newest entry
	nprio  int    // live timers of a class other than the default
}

// timerHeap is one class's entries, live and dead, and how many of them are
// live. They are in three places:
//
//   - pend: the entries set since the class was last settled (settle), in
//     sequence order, in no deadline order: setting a timer appends to it;
//   - h: a 4-ary min-heap in (deadline, sequence) order;
//   - run[rp:]: a run sorted in (deadline, sequence) order, taken from the
//     front: a burst of timers set between two looks at the earliest one
//     is sorted once (sortRun, O(n)) instead of sifted into and out of the
//     heap one by one (O(log n) each, a cache miss per level).
//
// The earliest entry is the smaller of h's top and run's front; pend must
// be empty (settled) to ask for it. Entries with an older sequence number
// (a class move, a timer put back after a panic or after its iteration)
// go into h directly.
type timerHeap struct {
	h    []heapEntry
	run  []heapEntry
	rp   int
	pend []heapEntry
	live int
	// free is a buffer of no entries, kept (when small) from a merge of
	// the run for the next merge's sort or merged run.
	free []heapEntry
}

// size returns the number of hp's entries, live and dead.
func (hp *timerHeap) size() int { return len(hp.h) + len(hp.run) - hp.rp + len(hp.pend) }

// first returns hp's earliest entry, nil if it has none; pend must be empty.
func (hp *timerHeap) first() *heapEntry {
	var e *heapEntry
	if hp.rp < len(hp.run) {
		e = &hp.run[hp.rp]
	}
	if len(hp.h) > 0 && (e == nil || hp.h[0].before(e)) {
		e = &hp.h[0]
	}
	return e
}

// drop removes e, which first returned, its live count unchanged.
func (hp *timerHeap) drop(e *heapEntry) {
	if hp.rp < len(hp.run) && e == &hp.run[hp.rp] {
		if hp.rp++; hp.rp == len(hp.run) {
			hp.run, hp.rp = hp.run[:0], 0 // the buffer serves the next run
		}
		return
	}
	hp.pop()
}

// sortMin is the fewest entries settle sorts into a run: fewer go into the
// heap one by one.
const sortMin = 256

// compactMin is how many dead entries a heap keeps at least before compact
// runs: below it, a scan of the heap would cost more than the entries do.
const compactMin = 64

// The timer classes (timer.cls): a Priority plus one.
const (
	clsHigh    = uint8(PriorityHigh + 1)
	clsDefault = uint8(PriorityDefault + 1)
	clsLow     = uint8(PriorityLow + 1)
	nClasses   = 3
)

// hp returns the heap of class c.
func (ts *timerSet[S]) hp(c uint8) *timerHeap {
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
	// when is the deadline: nanoseconds since the loop's origin (may be
	// negative); math.MaxInt64: never. While released: the next released
	// timer + 1.
	when int64
	fn   func(*S, time.Time) TimerAction
	seq  uint64 // the sequence number of the timer's live heap entry; 0: none
	gen  uint32
	// mv counts the timer's moves between classes (setClass): its entry
	// in the heap it left keeps the sequence number, and is dead because
	// its tag is the old mv.
	mv      uint32
	enabled bool  // active: in a heap unless due or never (see children.go)
	held    bool  // disabled by itself
	child   bool  // has a parent (Loop.tlinks)
	due     bool  // taken off its heap to fire in this iteration
	cls     uint8 // priority class: clsHigh, clsDefault or clsLow
}

type heapEntry struct {
	when int64
	seq  uint64
	id   uint32
	tag  uint32 // the timer's mv when the entry was made
}

func (h *heapEntry) before(o *heapEntry) bool {
	return h.when < o.when || h.when == o.when && h.seq < o.seq
}

// isLive reports whether e is its timer's live entry. A released or
// reallocated timer has another seq (0, or a newer one), and a timer moved
// to another class another mv.
func (ts *timerSet[S]) isLive(e *heapEntry) bool {
	t := ts.item(e.id)
	return t.seq == e.seq && t.mv == e.tag
}

// len returns the number of live timers in the heaps.
func (ts *timerSet[S]) len() int { return ts.heap.live + ts.high.live + ts.low.live }

// next returns the earliest deadline of a live timer; len must not be 0. It
// drops the dead entries it finds on top of the heaps.
func (ts *timerSet[S]) next() int64 {
	var when int64 = math.MaxInt64
	if ts.heap.live > 0 {
		when = ts.top(&ts.heap)
	}
	if ts.high.live > 0 {
		when = min(when, ts.top(&ts.high))
	}
	if ts.low.live > 0 {
		when = min(when, ts.top(&ts.low))
	}
	return when
}

// top settles hp, which must hold a live entry, drops the dead entries that
// come first, and returns the deadline of the live entry then first.
func (ts *timerSet[S]) top(hp *timerHeap) int64 {
	if len(hp.pend) > 0 {
		ts.settle(hp)
	}
	for {
		e := hp.first()
		if ts.isLive(e) {
			return e.when
		}
		hp.drop(e)
	}
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
	if t.seq == 0 {
		t.cls = c
		return
	}
	seq := t.seq
	old := ts.hp(t.cls)
	t.seq = 0 // every entry of t is dead now
	old.live--
	if t.mv++; t.mv == 0 {
		// The tags start over: drop every dead entry, so that none of
		// t's old entries can match a tag again.
		ts.compact(&ts.heap)
		ts.compact(&ts.high)
		ts.compact(&ts.low)
	} else {
		ts.shrink(old)
	}
	t.cls, t.seq = c, seq
	ts.hp(c).insert(heapEntry{when: t.when, seq: seq, id: id, tag: t.mv})
}

func (ts *timerSet[S]) alloc(when int64, fn func(*S, time.Time) TimerAction) uint32 {
	var id uint32
	if ts.free != 0 {
		id = ts.free - 1
		ts.free = uint32(ts.item(id).when)
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
	// seq, due, held and child were cleared by release.
	t.when, t.fn, t.enabled, t.cls = when, fn, true, clsDefault
	ts.push(id)
	return id
}

func (ts *timerSet[S]) release(id uint32) {
	t := ts.item(id)
	ts.unqueue(t)
	if t.cls != clsDefault {
		ts.nprio--
		t.cls = clsDefault
	}
	t.fn, t.enabled, t.held, t.child = nil, false, false, false
	t.gen++
	if t.gen == 0 {
		t.gen = 1
	}
	t.when, ts.free = int64(ts.free), id+1
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

// push queues timer id, which must not be queued, at its deadline, after
// every timer already set for the same instant. A deadline of math.MaxInt64
// never fires and stays out of the heap.
func (ts *timerSet[S]) push(id uint32) {
	t := ts.item(id)
	if t.when == math.MaxInt64 {
		return
	}
	ts.seq++
	t.seq = ts.seq
	hp := &ts.heap
	if t.cls != clsDefault {
		hp = ts.hp(t.cls)
	}
	p := hp.pend
	if len(p) == cap(p) {
		p = grow(p)
	}
	hp.pend = append(p, heapEntry{when: t.when, seq: ts.seq, id: id, tag: t.mv})
	hp.live++
}

// settle moves hp's pending entries into its heap or run, dropping the dead
// ones: one by one into the heap when they are few, or fewer than half the
// run; else sorted (sortRun) into a run of their own, or merged with the
// run when it is not empty. A merge costs the run's length, at most twice
// the entries it brings: O(1) amortized per entry.
func (ts *timerSet[S]) settle(hp *timerHeap) {
	p := hp.pend
	if len(p) < sortMin {
		for i := range p {
			if ts.isLive(&p[i]) {
				hp.add(p[i])
			}
		}
		hp.pend = p[:0]
		return
	}
	// Keep the live entries, in order, and see their deadlines' range.
	// Outside fireTimers' rounds every live entry is in hp, so when hp
	// holds no more entries than live ones, none is dead: the timers need
	// not be read. (A dead entry kept would only be dropped later.)
	k := 0
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	sorted := true
	if hp.size() > hp.live {
		for i := range p {
			if !ts.isLive(&p[i]) {
				continue
			}
			w := p[i].when
			if w < hi {
				sorted = false
			}
			lo, hi = min(lo, w), max(hi, w)
			p[k] = p[i]
			k++
		}
		p = p[:k]
	} else {
		for i := range p {
			w := p[i].when
			if w < hi {
				sorted = false
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		k = len(p)
	}
	r := len(hp.run) - hp.rp
	if k < sortMin || 2*k < r {
		for i := range p {
			hp.add(p[i])
		}
		hp.pend = p[:0]
		return
	}
	if r == 0 {
		spare := hp.run[:0]
		if !sorted {
			p, spare = sortRun(p, spare, lo, hi)
		}
		hp.run, hp.rp = p, 0
		hp.pend = small(spare)
		return
	}
	// A merge: the sort's scratch and the merged run's buffer come from
	// the buffers a merge frees (hp.free), when large enough.
	scratch := hp.free
	hp.free = nil
	if !sorted {
		p, scratch = sortRun(p, scratch, lo, hi)
	}
	var m []heapEntry
	if cap(scratch) >= r+k {
		m, scratch = scratch[:r+k], nil
	} else {
		m = make([]heapEntry, r+k)
	}
	mergeRuns(m, hp.run[hp.rp:], p)
	old := hp.run
	hp.run, hp.rp = m, 0
	hp.pend = small(p)
	if cap(scratch) > cap(old) {
		old = scratch
	}
	hp.free = small(old)
}

// small returns b emptied if it is small enough to keep for the next burst,
// else nil: a burst's buffers would otherwise stay allocated twice over.
func small(b []heapEntry) []heapEntry {
	if cap(b) > maxSpare {
		return nil
	}
	return b[:0]
}

// maxSpare is the largest buffer settle keeps for pending entries after a
// sort (in entries).
const maxSpare = 1 << 14

// sortRun sorts a, which is in sequence order and whose deadlines are in
// [lo, hi], in (deadline, sequence) order: a stable least significant digit
// radix sort of the deadlines, at most 11 bits a pass. It uses b as scratch
// (growing it when too small), and returns the sorted slice and the other.
func sortRun(a, b []heapEntry, lo, hi int64) (sorted, other []heapEntry) {
	span := uint64(hi) - uint64(lo)
	nb := bits.Len64(span)
	if nb == 0 {
		return a, b
	}
	if cap(b) < len(a) {
		b = make([]heapEntry, len(a))
	}
	b = b[:len(a)]
	passes := (nb + 10) / 11
	w := uint((nb + passes - 1) / passes)
	mask := uint64(1)<<w - 1
	base := uint64(lo)
	var count [1 << 11]int
	for shift := uint(0); shift < uint(nb); shift += w {
		c := count[:mask+1]
		clear(c)
		for i := range a {
			c[(uint64(a[i].when)-base)>>shift&mask]++
		}
		if c[(uint64(a[0].when)-base)>>shift&mask] == len(a) {
			continue // one digit for all: the pass would not move any
		}
		sum := 0
		for d, n := range c {
			c[d] = sum
			sum += n
		}
		for i := range a {
			d := (uint64(a[i].when) - base) >> shift & mask
			b[c[d]] = a[i]
			c[d]++
		}
		a, b = b, a
	}
	return a, b
}

// mergeRuns merges the sorted x and y into dst, of their total length.
func mergeRuns(dst, x, y []heapEntry) {
	i, j, k := 0, 0, 0
	for i < len(x) && j < len(y) {
		if y[j].before(&x[i]) {
			dst[k] = y[j]
			j++
		} else {
			dst[k] = x[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], x[i:])
	copy(dst[k:], y[j:])
}

// unqueue makes timer t's heap entry, if any, dead, and clears its due mark.
func (ts *timerSet[S]) unqueue(t *timer[S]) {
	t.due = false
	if t.seq == 0 {
		return
	}
	t.seq = 0
	hp := ts.hp(t.cls)
	hp.live--
	ts.shrink(hp)
}

// shrink compacts hp if its dead entries outnumber its live ones.
func (ts *timerSet[S]) shrink(hp *timerHeap) {
	if dead := hp.size() - hp.live; dead > hp.live && dead > compactMin {
		ts.compact(hp)
	}
}

// compact drops hp's dead entries and restores the heap order. O(n).
func (ts *timerSet[S]) compact(hp *timerHeap) {
	// keep moves the live entries of a[from:] to the front of a, in order.
	keep := func(a []heapEntry, from int) []heapEntry {
		k := 0
		if hp.live > 0 {
			for i := from; i < len(a); i++ {
				if ts.isLive(&a[i]) {
					a[k] = a[i]
					k++
				}
			}
		}
		return a[:k]
	}
	hp.pend = keep(hp.pend, 0)
	hp.run, hp.rp = keep(hp.run, hp.rp), 0
	hp.h = keep(hp.h, 0)
	heapify(hp.h)
}

// heapify puts h in heap order (Floyd's bottom-up construction). O(n).
func heapify(h []heapEntry) {
	if len(h) < 2 {
		return
	}
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		down(h, i)
	}
}

// reschedule moves timer id to deadline when, as the newest timer of that
// instant.
func (ts *timerSet[S]) reschedule(id uint32, when int64) {
	t := ts.item(id)
	t.when = when
	if !t.enabled {
		return
	}
	ts.unqueue(t)
	ts.push(id)
}

// grow returns h with its capacity doubled (at least 64), rather than
// append's gentler growth for big slices: each entry is then copied about
// once however large the heap gets.
func grow(h []heapEntry) []heapEntry {
	n := make([]heapEntry, len(h), max(64, 2*cap(h)))
	copy(n, h)
	return n
}

// insert adds e, a live entry, to hp.
func (hp *timerHeap) insert(e heapEntry) {
	hp.live++
	hp.add(e)
}

// add puts e in hp's order, its live count unchanged.
func (hp *timerHeap) add(e heapEntry) {
	h := hp.h
	if len(h) == cap(h) {
		h = grow(h)
	}
	h = append(h, e)
	hp.h = h
	up(h, len(h)-1)
}

// pop removes hp's top entry, its live count unchanged. It moves the hole
// at the top down to a leaf along the smaller children, then the last entry
// up from there: the last entry belongs near the bottom, so this saves the
// comparison with it at every level of a plain sift-down.
func (hp *timerHeap) pop() {
	h := hp.h
	n := len(h) - 1
	e := h[n]
	h = h[:n]
	hp.h = h
	if n == 0 {
		return
	}
	i := 0
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
		h[i] = h[m]
		i = m
	}
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func up(h []heapEntry, i int) {
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func down(h []heapEntry, i int) {
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
		i = m
	}
	h[i] = e
}

func (ts *timerSet[S]) reset() {
	*ts = timerSet[S]{}
}
