package main

import (
	varint "encoding/binary"
	"slices"
)

// Lists: a deque of nodes, each a packed buffer of entries, as Redis's
// quicklist of listpacks. An entry is its length as a uvarint, its bytes,
// and its length again as a uvarint written backwards, so that a node is
// walked from either end: a 3-byte element costs 5 bytes. A node holds up
// to listNodeMax bytes of entries (Redis's list-max-listpack-size -2, 8 KiB),
// or one larger element. Its buffer has room at both ends: a push at either
// end of the list is O(1) amortized. Indexing walks the nodes from the
// nearer end, then the entries of one node.

const listNodeMax = 8192

type listNode struct {
	b      []byte // entries in b[lo:hi]
	lo, hi int
	n      int // entries
}

type list struct {
	nodes []*listNode // nodes[head:] are the list's nodes, in order
	head  int
	n     int   // elements
	mem   int64 // bytes of the node buffers
}

func init() { registerType[list](typeList, "list") }

func newList() *list { return &list{} }

// entrySizeOf is the bytes an element of n bytes takes in a node.
func entrySizeOf(n int) int {
	return n + 2*uvarintLen(uint64(n))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// putEntry writes v's entry at dst[0:entrySizeOf(len(v))].
func putEntry(dst, v []byte) {
	k := varint.PutUvarint(dst, uint64(len(v)))
	copy(dst[k:], v)
	end := k + len(v) + k
	for j := 0; j < k; j++ { // the same uvarint, backwards
		dst[end-1-j] = dst[j]
	}
}

// entryAt returns the element starting at b[pos] and the position after it.
func entryAt(b []byte, pos int) ([]byte, int) {
	n, k := varint.Uvarint(b[pos:])
	start := pos + k
	end := start + int(n)
	return b[start:end:end], end + k
}

// entryBefore returns the element ending at b[end] and its first position.
func entryBefore(b []byte, end int) ([]byte, int) {
	var n uint64
	k := 0
	for shift := 0; ; shift += 7 {
		c := b[end-1-k]
		k++
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	stop := end - k
	start := stop - int(n)
	return b[start:stop:stop], start - k
}

func (l *list) live() []*listNode { return l.nodes[l.head:] }

func (l *list) first() *listNode { return l.nodes[l.head] }
func (l *list) last() *listNode  { return l.nodes[len(l.nodes)-1] }

// room makes room in nd for need more bytes at the front (front) or the
// back; false when the node would exceed listNodeMax.
func (l *list) room(nd *listNode, need int, front bool) bool {
	if front && nd.lo >= need || !front && len(nd.b)-nd.hi >= need {
		return true
	}
	used := nd.hi - nd.lo
	if used+need > listNodeMax && nd.n > 0 {
		return false
	}
	if used+need <= len(nd.b) {
		// Enough room in all, on the wrong side: move the entries, so that
		// half of the free room is on each side.
		lo := (len(nd.b) - used - need) / 2
		if front {
			lo += need
		}
		copy(nd.b[lo:], nd.b[nd.lo:nd.hi])
		nd.lo, nd.hi = lo, lo+used
		return true
	}
	// Grow: the new room is on the side pushed to.
	size := max(2*len(nd.b), used+need, 32)
	if size > listNodeMax {
		size = max(listNodeMax, used+need)
	}
	nb := make([]byte, size)
	lo := 0
	if front {
		lo = size - used
	}
	copy(nb[lo:], nd.b[nd.lo:nd.hi])
	l.mem += int64(size - len(nd.b))
	nd.b, nd.lo, nd.hi = nb, lo, lo+used
	return true
}

// newNode returns an empty node with room for need bytes.
func (l *list) newNode(need int, front bool) *listNode {
	size := max(need, 32)
	if size < 64 && need <= 16 {
		size = 64
	}
	nd := &listNode{b: make([]byte, size)}
	if front {
		nd.lo, nd.hi = size, size
	}
	l.mem += int64(size)
	return nd
}

// pushFront adds v at the head of the list.
func (l *list) pushFront(v []byte) {
	need := entrySizeOf(len(v))
	var nd *listNode
	if len(l.nodes) > l.head {
		nd = l.first()
	}
	if nd == nil || !l.room(nd, need, true) {
		nd = l.newNode(need, true)
		l.insertNode(0, nd)
	}
	nd.lo -= need
	putEntry(nd.b[nd.lo:], v)
	nd.n++
	l.n++
}

// pushBack adds v at the tail of the list.
func (l *list) pushBack(v []byte) {
	need := entrySizeOf(len(v))
	var nd *listNode
	if len(l.nodes) > l.head {
		nd = l.last()
	}
	if nd == nil || !l.room(nd, need, false) {
		nd = l.newNode(need, false)
		l.insertNode(len(l.nodes)-l.head, nd)
	}
	putEntry(nd.b[nd.hi:], v)
	nd.hi += need
	nd.n++
	l.n++
}

func (l *list) push(v []byte, front bool) {
	if front {
		l.pushFront(v)
	} else {
		l.pushBack(v)
	}
}

// insertNode inserts nd at position i of the live nodes.
func (l *list) insertNode(i int, nd *listNode) {
	if i == 0 && l.head > 0 {
		l.head--
		l.nodes[l.head] = nd
		return
	}
	if i == 0 && len(l.nodes) > 0 {
		// Room at the front for later head pushes: as many as live nodes.
		live := l.live()
		room := len(live)
		ns := make([]*listNode, room+1+len(live))
		ns[room] = nd
		copy(ns[room+1:], live)
		l.nodes, l.head = ns, room
		return
	}
	l.nodes = slices.Insert(l.nodes, l.head+i, nd)
}

// removeNode removes live node i.
func (l *list) removeNode(i int) {
	nd := l.nodes[l.head+i]
	l.mem -= int64(len(nd.b))
	if i == 0 {
		l.nodes[l.head] = nil
		l.head++
	} else {
		l.nodes = slices.Delete(l.nodes, l.head+i, l.head+i+1)
	}
	if l.head == len(l.nodes) {
		l.nodes, l.head = nil, 0
	} else if l.head > 64 && l.head > len(l.nodes)/2 {
		l.nodes = slices.Clone(l.nodes[l.head:])
		l.head = 0
	}
}

// popFront removes and returns the head element; the slice is valid until
// the list changes. The list must not be empty.
func (l *list) popFront() []byte {
	nd := l.first()
	v, next := entryAt(nd.b, nd.lo)
	nd.lo = next
	nd.n--
	l.n--
	if nd.n == 0 {
		l.removeNode(0)
	}
	return v
}

// popBack removes and returns the tail element (see popFront).
func (l *list) popBack() []byte {
	nd := l.last()
	v, start := entryBefore(nd.b, nd.hi)
	nd.hi = start
	nd.n--
	l.n--
	if nd.n == 0 {
		l.removeNode(len(l.nodes) - l.head - 1)
	}
	return v
}

func (l *list) pop(front bool) []byte {
	if front {
		return l.popFront()
	}
	return l.popBack()
}

// locate returns the live node holding element i (0 <= i < l.n) and i's
// position within it, walking from the nearer end.
func (l *list) locate(i int) (ni, j int) {
	live := l.live()
	if i < l.n/2 {
		for ni = 0; i >= live[ni].n; ni++ {
			i -= live[ni].n
		}
		return ni, i
	}
	k := l.n - 1 - i // from the tail
	for ni = len(live) - 1; k >= live[ni].n; ni-- {
		k -= live[ni].n
	}
	return ni, live[ni].n - 1 - k
}

// index returns element i (0 <= i < l.n).
func (l *list) index(i int) []byte {
	ni, j := l.locate(i)
	nd := l.live()[ni]
	if j <= nd.n/2 {
		pos := nd.lo
		var v []byte
		for ; j >= 0; j-- {
			v, pos = entryAt(nd.b, pos)
		}
		return v
	}
	end := nd.hi
	var v []byte
	for k := nd.n - 1 - j; k >= 0; k-- {
		v, end = entryBefore(nd.b, end)
	}
	return v
}

// each calls fn for elements from..to (inclusive, in range), head to tail,
// until fn returns false.
func (l *list) each(from, to int, fn func(v []byte) bool) {
	if from > to {
		return
	}
	ni, j := l.locate(from)
	live := l.live()
	left := to - from + 1
	for ; ni < len(live) && left > 0; ni++ {
		nd := live[ni]
		pos := nd.lo
		for ; j > 0; j-- {
			_, pos = entryAt(nd.b, pos)
		}
		for pos < nd.hi && left > 0 {
			var v []byte
			v, pos = entryAt(nd.b, pos)
			left--
			if !fn(v) {
				return
			}
		}
	}
}

// eachBack calls fn for every element from the tail, with its index, until
// fn returns false.
func (l *list) eachBack(fn func(i int, v []byte) bool) {
	live := l.live()
	i := l.n - 1
	for ni := len(live) - 1; ni >= 0; ni-- {
		nd := live[ni]
		for end := nd.hi; end > nd.lo; i-- {
			var v []byte
			v, end = entryBefore(nd.b, end)
			if !fn(i, v) {
				return
			}
		}
	}
}

// nodeItems decodes the entries of nd (slices of its buffer).
func nodeItems(nd *listNode) [][]byte {
	items := make([][]byte, 0, nd.n)
	for pos := nd.lo; pos < nd.hi; {
		var v []byte
		v, pos = entryAt(nd.b, pos)
		items = append(items, v)
	}
	return items
}

// packNodes encodes items into fresh nodes of at most listNodeMax bytes
// each (one element larger than that gets a node of its own).
func (l *list) packNodes(items [][]byte) []*listNode {
	var out []*listNode
	for len(items) > 0 {
		size, k := 0, 0
		for k < len(items) {
			es := entrySizeOf(len(items[k]))
			if k > 0 && size+es > listNodeMax {
				break
			}
			size += es
			k++
		}
		nd := &listNode{b: make([]byte, size), hi: size, n: k}
		pos := 0
		for _, v := range items[:k] {
			putEntry(nd.b[pos:], v)
			pos += entrySizeOf(len(v))
		}
		l.mem += int64(size)
		out = append(out, nd)
		items = items[k:]
	}
	return out
}

// replaceNode replaces live node ni by nodes holding items (none: the node
// is removed). items may be slices of the old node's buffer.
func (l *list) replaceNode(ni int, items [][]byte) {
	l.swapNode(ni, items)
	l.mergeAround(l.head + ni)
}

// swapNode is replaceNode without merging neighbours.
func (l *list) swapNode(ni int, items [][]byte) {
	old := l.live()[ni]
	l.n += len(items) - old.n
	nds := l.packNodes(items)
	l.mem -= int64(len(old.b))
	at := l.head + ni
	l.nodes = slices.Replace(l.nodes, at, at+1, nds...)
	if l.head == len(l.nodes) {
		l.nodes, l.head = nil, 0
	}
}

// mergeAround merges small neighbours around nodes[at-1..to+1] (to: at
// when absent) so that a list edited in the middle does not end up as many
// tiny nodes.
func (l *list) mergeAround(at int, to ...int) {
	last := at
	if len(to) > 0 {
		last = to[0]
	}
	for i := max(at-1, l.head); i+1 < len(l.nodes) && i <= last+1; {
		a, b := l.nodes[i], l.nodes[i+1]
		if (a.hi-a.lo)+(b.hi-b.lo) > listNodeMax/2 {
			i++
			continue
		}
		items := append(nodeItems(a), nodeItems(b)...)
		nds := l.packNodes(items)
		l.mem -= int64(len(a.b) + len(b.b))
		l.nodes = slices.Replace(l.nodes, i, i+2, nds...)
		last -= 2 - len(nds)
	}
}

// set replaces element i (in range) by v.
func (l *list) set(i int, v []byte) {
	ni, j := l.locate(i)
	items := nodeItems(l.live()[ni])
	items[j] = v
	l.replaceNode(ni, items)
}

// insertAt inserts v before element i (0 <= i <= l.n; l.n: at the tail).
func (l *list) insertAt(i int, v []byte) {
	if i == 0 {
		l.pushFront(v)
		return
	}
	if i == l.n {
		l.pushBack(v)
		return
	}
	ni, j := l.locate(i)
	items := nodeItems(l.live()[ni])
	items = slices.Insert(items, j, v)
	l.replaceNode(ni, items)
}

// trim keeps elements start..end (0 <= start <= end < l.n).
func (l *list) trim(start, end int) {
	live := l.live()
	var keep [][]byte
	var kept []*listNode
	idx := 0
	for _, nd := range live {
		nStart, nEnd := idx, idx+nd.n-1
		idx += nd.n
		switch {
		case nEnd < start || nStart > end:
			l.mem -= int64(len(nd.b))
		case nStart >= start && nEnd <= end:
			kept = append(kept, nd)
		default:
			items := nodeItems(nd)
			keep = items[max(start-nStart, 0) : min(end, nEnd)-nStart+1]
			l.mem -= int64(len(nd.b))
			kept = append(kept, l.packNodes(keep)...)
		}
	}
	l.nodes, l.head = kept, 0
	l.n = end - start + 1
	l.mergeAround(0)
	l.mergeAround(len(l.nodes) - 1)
}

// removeMatching removes up to count elements equal to v (0: all) from the
// head (or the tail when fromTail) and returns how many.
func (l *list) removeMatching(v []byte, count int, fromTail bool) int {
	removed := 0
	live := l.live()
	order := make([]int, len(live))
	for i := range order {
		order[i] = i
		if fromTail {
			order[i] = len(live) - 1 - i
		}
	}
	var changed []int
	newItems := make(map[int][][]byte)
	for _, ni := range order {
		if count > 0 && removed == count {
			break
		}
		nd := live[ni]
		items := nodeItems(nd)
		hit := false
		if fromTail {
			for j := len(items) - 1; j >= 0 && (count == 0 || removed < count); j-- {
				if string(items[j]) == string(v) {
					items = slices.Delete(items, j, j+1)
					removed++
					hit = true
				}
			}
		} else {
			for j := 0; j < len(items) && (count == 0 || removed < count); {
				if string(items[j]) == string(v) {
					items = slices.Delete(items, j, j+1)
					removed++
					hit = true
					continue
				}
				j++
			}
		}
		if hit {
			changed = append(changed, ni)
			newItems[ni] = items
		}
	}
	// Replace the changed nodes from the last, so earlier indexes stay
	// valid, then merge the small nodes left.
	slices.Sort(changed)
	for k := len(changed) - 1; k >= 0; k-- {
		l.swapNode(changed[k], newItems[changed[k]])
	}
	if len(changed) > 0 {
		l.mergeAround(l.head+changed[0], l.head+changed[len(changed)-1])
	}
	return removed
}

// The object contract.

func (l *list) encoding() string { return "quicklist" }
func (l *list) length() int      { return l.n }

// size counts the node buffers, 48 bytes per node and the node table.
func (l *list) size() int64 {
	return l.mem + int64(48*(len(l.nodes)-l.head)) + int64(8*cap(l.nodes)) + 64
}

func (l *list) clone() object {
	cp := &list{n: l.n}
	for _, nd := range l.live() {
		used := nd.hi - nd.lo
		nb := make([]byte, used)
		copy(nb, nd.b[nd.lo:nd.hi])
		cp.nodes = append(cp.nodes, &listNode{b: nb, hi: used, n: nd.n})
		cp.mem += int64(used)
	}
	return cp
}

func (l *list) rewrite(key []byte, emit func(args ...[]byte) error) error {
	args := make([][]byte, 0, 2+rewriteBatch)
	args = append(args, []byte("RPUSH"), key)
	var err error
	l.each(0, l.n-1, func(v []byte) bool {
		args = append(args, v)
		if len(args) == 2+rewriteBatch {
			err = emit(args...)
			args = args[:2]
		}
		return err == nil
	})
	if err == nil && len(args) > 2 {
		err = emit(args...)
	}
	return err
}
