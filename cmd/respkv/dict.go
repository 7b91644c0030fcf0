package main

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"strconv"
)

// A collection type's large representation (hash and set "hashtable";
// usable by any type whose elements have a string key): a dense slice of
// elements and an open-addressing index of their positions.
//
// The dense slice gives what a Go map cannot: a uniformly random element
// in O(1) (SPOP, SRANDMEMBER, HRANDFIELD) and a SCAN cursor with Redis's
// guarantee (see scan). Removing an element moves the last one into its
// place. The index is a power-of-two table of int32 positions+1 (0: empty)
// with linear probing and backward-shift deletion (no tombstones), kept at
// most 3/4 full; it costs 4 to 11 bytes an element, where a map[string]int32
// would cost about 30. Collections of up to dictLinear elements have no
// index: a lookup compares the keys in turn.

// dictKeyer is an element of a denseDict: its key.
type dictKeyer interface{ dictKey() string }

type denseDict[E dictKeyer] struct {
	ents []E
	tab  []int32 // positions+1; nil while len(ents) <= dictLinear
}

// dictLinear is the size up to which a denseDict keeps no index.
const dictLinear = 8

// dictSeed is the process's hash seed (random: the table's probe
// sequences cannot be predicted from outside).
var dictSeed = maphash.MakeSeed()

func dictHash(k string) uint64 { return maphash.String(dictSeed, k) }

func (d *denseDict[E]) len() int { return len(d.ents) }

// find returns the position of the element with key k, or -1.
func (d *denseDict[E]) find(k string) int {
	if d.tab == nil {
		for i := range d.ents {
			if d.ents[i].dictKey() == k {
				return i
			}
		}
		return -1
	}
	mask := uint64(len(d.tab) - 1)
	for h := dictHash(k) & mask; ; h = (h + 1) & mask {
		p := d.tab[h]
		if p == 0 {
			return -1
		}
		if d.ents[p-1].dictKey() == k {
			return int(p - 1)
		}
	}
}

// add appends e, whose key must not be present, and returns its position.
func (d *denseDict[E]) add(e E) int {
	d.ents = append(d.ents, e)
	n := len(d.ents)
	switch {
	case d.tab == nil:
		if n > dictLinear {
			d.rebuild()
		}
	case n*4 > len(d.tab)*3:
		d.rebuild()
	default:
		d.place(n - 1)
	}
	return n - 1
}

// place puts position i into the index.
func (d *denseDict[E]) place(i int) {
	mask := uint64(len(d.tab) - 1)
	h := dictHash(d.ents[i].dictKey()) & mask
	for d.tab[h] != 0 {
		h = (h + 1) & mask
	}
	d.tab[h] = int32(i + 1)
}

// rebuild sizes the index for the current length (or drops it) and fills
// it.
func (d *denseDict[E]) rebuild() {
	n := len(d.ents)
	if n <= dictLinear {
		d.tab = nil
		return
	}
	size := 16
	if need := n*4/3 + 1; need > size {
		size = 1 << bits.Len(uint(need-1))
	}
	if len(d.tab) == size {
		clear(d.tab)
	} else {
		d.tab = make([]int32, size)
	}
	for i := range d.ents {
		d.place(i)
	}
}

// slotOf returns the index slot holding position i.
func (d *denseDict[E]) slotOf(i int) uint64 {
	mask := uint64(len(d.tab) - 1)
	h := dictHash(d.ents[i].dictKey()) & mask
	for d.tab[h] != int32(i+1) {
		h = (h + 1) & mask
	}
	return h
}

// unslot empties slot s of the index, shifting back the entries of the
// probe run after it that may take its place.
func (d *denseDict[E]) unslot(s uint64) {
	mask := uint64(len(d.tab) - 1)
	for {
		d.tab[s] = 0
		j := s
		for {
			j = (j + 1) & mask
			p := d.tab[j]
			if p == 0 {
				return
			}
			home := dictHash(d.ents[p-1].dictKey()) & mask
			// The entry at j may move to s unless its home lies
			// cyclically in (s, j].
			if (j-home)&mask >= (j-s)&mask {
				d.tab[s] = p
				s = j
				break
			}
		}
	}
}

// removeAt removes the element at position i, moving the last element
// into its place.
func (d *denseDict[E]) removeAt(i int) {
	last := len(d.ents) - 1
	if d.tab != nil {
		d.unslot(d.slotOf(i))
		if i != last {
			d.tab[d.slotOf(last)] = int32(i + 1)
		}
	}
	d.ents[i] = d.ents[last]
	var zero E
	d.ents[last] = zero
	d.ents = d.ents[:last]
	d.shrink()
}

// removeOrdered removes the element at position i keeping the order of
// the others (Redis's listpack encodings keep insertion order).
func (d *denseDict[E]) removeOrdered(i int) {
	copy(d.ents[i:], d.ents[i+1:])
	var zero E
	d.ents[len(d.ents)-1] = zero
	d.ents = d.ents[:len(d.ents)-1]
	if d.tab != nil {
		d.rebuild()
	}
	d.shrink()
}

// shrink gives memory back when the dict has become much smaller.
func (d *denseDict[E]) shrink() {
	n := len(d.ents)
	if cap(d.ents) > 64 && n < cap(d.ents)/4 {
		d.ents = append(make([]E, 0, 2*n), d.ents...)
	}
	if d.tab != nil && (n <= dictLinear || len(d.tab) > 64 && n*8 < len(d.tab)) {
		d.rebuild()
	}
}

// clone returns a copy (the elements are copied as values).
func (d *denseDict[E]) clone() denseDict[E] {
	c := denseDict[E]{ents: append([]E(nil), d.ents...)}
	if d.tab != nil {
		c.tab = append([]int32(nil), d.tab...)
	}
	return c
}

// random returns a uniformly random position; the dict must not be empty.
func (d *denseDict[E]) random() int { return rand.IntN(len(d.ents)) }

// randIntN returns a uniformly random int in [0, n).
func randIntN(n int) int { return rand.IntN(n) }

// scan visits up to count positions going down from cursor, as db.scan
// (the same cursor and the same guarantee: an element present for the
// whole iteration is returned at least once, since removal only moves
// elements down from the top), and returns the next cursor, 0 when done.
func (d *denseDict[E]) scan(cursor uint64, count int, fn func(e *E)) uint64 {
	n := uint64(len(d.ents))
	next := cursor
	if cursor == 0 || cursor > n {
		next = n
	}
	for ; next > 0 && count > 0; count-- {
		next--
		fn(&d.ents[next])
	}
	return next
}

// sampleDistinct returns count distinct positions in [0, n) chosen
// uniformly (count <= n), in random order: a partial Fisher-Yates shuffle
// over a sparse map when count is small relative to n, over a slice
// otherwise.
func sampleDistinct(n, count int) []int {
	out := make([]int, count)
	if count*4 >= n {
		perm := make([]int, n)
		for i := range perm {
			perm[i] = i
		}
		for i := 0; i < count; i++ {
			j := i + rand.IntN(n-i)
			perm[i], perm[j] = perm[j], perm[i]
		}
		copy(out, perm)
		return out
	}
	swapped := make(map[int]int, count)
	at := func(i int) int {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	for i := 0; i < count; i++ {
		j := i + rand.IntN(n-i)
		out[i] = at(j)
		swapped[j] = at(i)
	}
	return out
}

// maxRandomCount is the most elements a random-with-repetition reply
// (HRANDFIELD, SRANDMEMBER with a negative count) may have. Redis builds
// any count up to 2^63-1 and so runs out of memory or never ends; a larger
// count is refused with errRandomCount.
const maxRandomCount = 1 << 24

const errRandomCount = "ERR value is out of range, the count of a random reply with repetitions is limited to 16777216"

// scanOpts are the options of HSCAN, SSCAN and ZSCAN.
type scanOpts struct {
	count int
	pat   []byte // nil: every element
}

// parseScanOpts parses the options of a key's SCAN (args after the
// cursor), as Redis's scanGenericCommand: COUNT n (n >= 1) and MATCH
// pattern, in any order, the last one winning; anything else is a syntax
// error. It replies the error and returns ok false.
func parseScanOpts(c *client, args [][]byte) (o scanOpts, ok bool) {
	o.count = 10
	for j := 0; j < len(args); j += 2 {
		if j+1 >= len(args) {
			c.errReply(errSyntax)
			return o, false
		}
		switch {
		case eqFold(args[j], "count"):
			v, ok := parseInt(args[j+1])
			if !ok {
				c.errReply(errNotInt)
				return o, false
			}
			if v < 1 {
				c.errReply(errSyntax)
				return o, false
			}
			o.count = int(min(v, 1<<30))
		case eqFold(args[j], "match"):
			o.pat = args[j+1]
			if len(o.pat) == 1 && o.pat[0] == '*' {
				o.pat = nil
			}
		default:
			c.errReply(errSyntax)
			return o, false
		}
	}
	return o, true
}

// match reports whether an element's key is returned.
func (o *scanOpts) match(k string) bool {
	return o.pat == nil || globMatch(o.pat, []byte(k))
}

// scanReply writes a SCAN page header: the cursor, then an array of n.
func scanReply(c *client, cursor uint64, n int) {
	c.array(2)
	c.bulk(strconv.AppendUint(nil, cursor, 10))
	c.array(n)
}

// emptyScan is the reply to a SCAN of a missing key.
func emptyScan(c *client) { scanReply(c, 0, 0) }
