package main

// The large representation of a sorted set (Redis's "skiplist" encoding):
// an order-statistic B+ tree of (score, member) items plus a member ->
// score map. Leaves hold up to zLeafMax items in order; inner nodes hold
// up to zInnerMax children with, for each, the number of items below it
// and a lower bound of its items (keys[0] is not used for searching).
// Every operation is O(log n): search by position (rank), by key, and by
// any monotone predicate (score and lex ranges).

const (
	zLeafMax  = 64 // 64 items of 24 bytes: one 1536-byte allocation
	zInnerMax = 64
)

// zitem is one element of a sorted set.
type zitem struct {
	member string
	score  float64
}

// zless orders items by score, then member bytes (Redis's order).
func zless(a, b zitem) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.member < b.member
}

type znode struct {
	n     int      // items in this subtree
	items []zitem  // leaf
	kids  []*znode // inner
	keys  []zitem  // inner: keys[i] <= every item of kids[i], > every item of kids[i-1]
	sizes []int    // inner: sizes[i] == kids[i].n
}

func (x *znode) leaf() bool { return x.kids == nil }

// ztree is an order-statistic B+ tree of zitems.
type ztree struct {
	root *znode
}

func newZtree() *ztree { return &ztree{root: &znode{items: make([]zitem, 0, zLeafMax)}} }

func (t *ztree) len() int { return t.root.n }

// count returns how many items satisfy pred, which must hold for a prefix
// of the order (true, ..., true, false, ..., false).
func (t *ztree) count(pred func(zitem) bool) int {
	x, r := t.root, 0
	for !x.leaf() {
		i := 0
		// the last child whose lower bound satisfies pred: every item of
		// the children before it does.
		lo, hi := 1, len(x.kids)
		for lo < hi {
			m := (lo + hi) / 2
			if pred(x.keys[m]) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		i = lo - 1
		for j := 0; j < i; j++ {
			r += x.sizes[j]
		}
		x = x.kids[i]
	}
	lo, hi := 0, len(x.items)
	for lo < hi {
		m := (lo + hi) / 2
		if pred(x.items[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return r + lo
}

// rankOf returns the position of it (which is in the tree), or the number of
// items ordered before it.
func (t *ztree) rankOf(it zitem) int {
	return t.count(func(x zitem) bool { return zless(x, it) })
}

// at returns the item at position r (0 <= r < len).
func (t *ztree) at(r int) zitem {
	x := t.root
	for !x.leaf() {
		i := 0
		for r >= x.sizes[i] {
			r -= x.sizes[i]
			i++
		}
		x = x.kids[i]
	}
	return x.items[r]
}

// ascend calls fn for the items from position from on, in order, until fn
// returns false or the items end.
func (t *ztree) ascend(from int, fn func(zitem) bool) {
	if from < 0 {
		from = 0
	}
	zascend(t.root, from, fn)
}

func zascend(x *znode, from int, fn func(zitem) bool) bool {
	if x.leaf() {
		for _, it := range x.items[min(from, len(x.items)):] {
			if !fn(it) {
				return false
			}
		}
		return true
	}
	for i, k := range x.kids {
		if from >= x.sizes[i] {
			from -= x.sizes[i]
			continue
		}
		if !zascend(k, from, fn) {
			return false
		}
		from = 0
	}
	return true
}

// descend calls fn for the items from position from down to 0, until fn
// returns false.
func (t *ztree) descend(from int, fn func(zitem) bool) {
	if from >= t.len() {
		from = t.len() - 1
	}
	if from < 0 {
		return
	}
	zdescend(t.root, from, fn)
}

func zdescend(x *znode, from int, fn func(zitem) bool) bool {
	if x.leaf() {
		for i := from; i >= 0; i-- {
			if !fn(x.items[i]) {
				return false
			}
		}
		return true
	}
	// find the child holding from
	i, base := 0, 0
	for from-base >= x.sizes[i] {
		base += x.sizes[i]
		i++
	}
	if !zdescend(x.kids[i], from-base, fn) {
		return false
	}
	for i--; i >= 0; i-- {
		if !zdescend(x.kids[i], x.sizes[i]-1, fn) {
			return false
		}
	}
	return true
}

// insert adds it, which must not be in the tree.
func (t *ztree) insert(it zitem) {
	right, sep := zinsert(t.root, it)
	if right != nil {
		old := t.root
		root := &znode{
			kids:  make([]*znode, 2, zInnerMax),
			keys:  make([]zitem, 2, zInnerMax),
			sizes: make([]int, 2, zInnerMax),
		}
		root.kids[0], root.kids[1] = old, right
		root.keys[1] = sep
		root.sizes[0], root.sizes[1] = old.n, right.n
		root.n = old.n + right.n
		t.root = root
	}
}

// zinsert inserts it below x; if x had to split, it returns the new right
// sibling and its lower bound.
func zinsert(x *znode, it zitem) (*znode, zitem) {
	x.n++
	if x.leaf() {
		lo, hi := 0, len(x.items)
		for lo < hi {
			m := (lo + hi) / 2
			if zless(x.items[m], it) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if len(x.items) < zLeafMax {
			x.items = append(x.items, zitem{})
			copy(x.items[lo+1:], x.items[lo:])
			x.items[lo] = it
			return nil, zitem{}
		}
		// Split. Appending at the end (or the start) keeps the full half
		// full, so ordered loads leave full leaves.
		all := make([]zitem, 0, zLeafMax+1)
		all = append(all, x.items[:lo]...)
		all = append(all, it)
		all = append(all, x.items[lo:]...)
		mid := len(all) / 2
		switch lo {
		case len(x.items):
			mid = len(all) - 1
		case 0:
			mid = 1
		}
		right := &znode{items: make([]zitem, 0, zLeafMax)}
		right.items = append(right.items, all[mid:]...)
		clear(x.items[:cap(x.items)])
		x.items = append(x.items[:0], all[:mid]...)
		x.n = len(x.items)
		right.n = len(right.items)
		return right, right.items[0]
	}
	lo, hi := 1, len(x.kids)
	for lo < hi {
		m := (lo + hi) / 2
		if !zless(it, x.keys[m]) { // keys[m] <= it: a bound may equal a removed item put back
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	x.sizes[i]++
	right, sep := zinsert(x.kids[i], it)
	if right == nil {
		return nil, zitem{}
	}
	x.sizes[i] = x.kids[i].n
	x.kids = append(x.kids, nil)
	copy(x.kids[i+2:], x.kids[i+1:])
	x.kids[i+1] = right
	x.keys = append(x.keys, zitem{})
	copy(x.keys[i+2:], x.keys[i+1:])
	x.keys[i+1] = sep
	x.sizes = append(x.sizes, 0)
	copy(x.sizes[i+2:], x.sizes[i+1:])
	x.sizes[i+1] = right.n
	if len(x.kids) <= zInnerMax-1 {
		return nil, zitem{}
	}
	mid := len(x.kids) / 2
	r := &znode{
		kids:  make([]*znode, 0, zInnerMax),
		keys:  make([]zitem, 0, zInnerMax),
		sizes: make([]int, 0, zInnerMax),
	}
	r.kids = append(r.kids, x.kids[mid:]...)
	r.keys = append(r.keys, x.keys[mid:]...)
	r.sizes = append(r.sizes, x.sizes[mid:]...)
	clear(x.kids[mid:])
	clear(x.keys[mid:])
	x.kids, x.keys, x.sizes = x.kids[:mid], x.keys[:mid], x.sizes[:mid]
	x.n, r.n = 0, 0
	for _, s := range x.sizes {
		x.n += s
	}
	for _, s := range r.sizes {
		r.n += s
	}
	sep = r.keys[0]
	r.keys[0] = zitem{}
	return r, sep
}

// remove deletes it, which must be in the tree, and returns the item
// stored (whose member string is the tree's).
func (t *ztree) remove(it zitem) zitem {
	old := zremove(t.root, it)
	for !t.root.leaf() && len(t.root.kids) == 1 {
		t.root = t.root.kids[0]
	}
	return old
}

func zremove(x *znode, it zitem) zitem {
	x.n--
	if x.leaf() {
		lo, hi := 0, len(x.items)
		for lo < hi {
			m := (lo + hi) / 2
			if zless(x.items[m], it) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		old := x.items[lo]
		copy(x.items[lo:], x.items[lo+1:])
		x.items[len(x.items)-1] = zitem{}
		x.items = x.items[:len(x.items)-1]
		return old
	}
	lo, hi := 1, len(x.kids)
	for lo < hi {
		m := (lo + hi) / 2
		if !zless(it, x.keys[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	x.sizes[i]--
	old := zremove(x.kids[i], it)
	x.rebalance(i)
	return old
}

// width is the number of entries of a node (items or children).
func (x *znode) width() int {
	if x.leaf() {
		return len(x.items)
	}
	return len(x.kids)
}

// rebalance fixes child i of x after a removal left it under a quarter
// full: merged with a neighbour when both fit in one node, else sharing
// the neighbour's entries evenly.
func (x *znode) rebalance(i int) {
	k := x.kids[i]
	maxw := zLeafMax
	if !k.leaf() {
		maxw = zInnerMax - 1
	}
	if k.width() >= maxw/4 || len(x.kids) == 1 {
		return
	}
	l := i
	if i+1 == len(x.kids) {
		l = i - 1
	}
	a, b := x.kids[l], x.kids[l+1]
	if a.leaf() {
		all := make([]zitem, 0, len(a.items)+len(b.items))
		all = append(append(all, a.items...), b.items...)
		if len(all) <= maxw*3/4 {
			clear(a.items[len(a.items):cap(a.items)])
			a.items = append(a.items[:0], all...)
			a.n = len(a.items)
			x.removeKid(l + 1)
			x.sizes[l] = a.n
			return
		}
		h := len(all) / 2
		clear(a.items[:cap(a.items)])
		clear(b.items[:cap(b.items)])
		a.items = append(a.items[:0], all[:h]...)
		b.items = append(b.items[:0], all[h:]...)
		a.n, b.n = len(a.items), len(b.items)
		x.sizes[l], x.sizes[l+1] = a.n, b.n
		x.keys[l+1] = b.items[0]
		return
	}
	// inner children: b's first key is its lower bound from x.
	kids := append(append([]*znode(nil), a.kids...), b.kids...)
	keys := append(append([]zitem(nil), a.keys...), x.keys[l+1])
	keys = append(keys, b.keys[1:]...)
	sizes := append(append([]int(nil), a.sizes...), b.sizes...)
	if len(kids) <= maxw*3/4 {
		clear(a.kids[:cap(a.kids)])
		clear(a.keys[:cap(a.keys)])
		a.kids = append(a.kids[:0], kids...)
		a.keys = append(a.keys[:0], keys...)
		a.sizes = append(a.sizes[:0], sizes...)
		a.n += b.n
		x.removeKid(l + 1)
		x.sizes[l] = a.n
		return
	}
	h := len(kids) / 2
	clear(a.kids[:cap(a.kids)])
	clear(a.keys[:cap(a.keys)])
	clear(b.kids[:cap(b.kids)])
	clear(b.keys[:cap(b.keys)])
	a.kids = append(a.kids[:0], kids[:h]...)
	a.keys = append(a.keys[:0], keys[:h]...)
	a.sizes = append(a.sizes[:0], sizes[:h]...)
	b.kids = append(b.kids[:0], kids[h:]...)
	b.keys = append(b.keys[:0], keys[h:]...)
	b.sizes = append(b.sizes[:0], sizes[h:]...)
	x.keys[l+1] = b.keys[0]
	b.keys[0] = zitem{}
	a.n, b.n = 0, 0
	for _, s := range a.sizes {
		a.n += s
	}
	for _, s := range b.sizes {
		b.n += s
	}
	x.sizes[l], x.sizes[l+1] = a.n, b.n
}

func (x *znode) removeKid(i int) {
	copy(x.kids[i:], x.kids[i+1:])
	x.kids[len(x.kids)-1] = nil
	x.kids = x.kids[:len(x.kids)-1]
	copy(x.keys[i:], x.keys[i+1:])
	x.keys[len(x.keys)-1] = zitem{}
	x.keys = x.keys[:len(x.keys)-1]
	copy(x.sizes[i:], x.sizes[i+1:])
	x.sizes = x.sizes[:len(x.sizes)-1]
}

// clone returns a deep copy of the tree (the member strings are shared:
// they are immutable).
func (t *ztree) clone() *ztree { return &ztree{root: zcloneNode(t.root)} }

func zcloneNode(x *znode) *znode {
	y := &znode{n: x.n}
	if x.leaf() {
		y.items = make([]zitem, len(x.items), zLeafMax)
		copy(y.items, x.items)
		return y
	}
	y.kids = make([]*znode, len(x.kids), zInnerMax)
	y.keys = make([]zitem, len(x.keys), zInnerMax)
	y.sizes = make([]int, len(x.sizes), zInnerMax)
	copy(y.keys, x.keys)
	copy(y.sizes, x.sizes)
	for i, k := range x.kids {
		y.kids[i] = zcloneNode(k)
	}
	return y
}
