package main

import (
	"slices"
	"sort"
	"strconv"
	"unsafe"
)

// Sets, as Redis 7.0 keeps them: an "intset" (a sorted array of integers)
// while every member is an integer in string2ll's canonical form and there
// are at most setMaxIntsetEntries of them, else a "hashtable" (here a
// denseDict of members), never converted back. Redis 7.0 has no set
// listpack. An intset's members come out in ascending order, as Redis's.

const setMaxIntsetEntries = 512 // set-max-intset-entries

type setMember string

func (m setMember) dictKey() string { return string(m) }

type setObj struct {
	ints []int64 // intset: sorted
	d    denseDict[setMember]
	ht   bool
	sz   int64 // size(): the members' bytes and their overhead
}

// Per-member overhead counted by size(): the slice entry, its share of
// the index, the allocation's header.
const (
	setMemberOverhead = 32
	setBaseSize       = 64
)

func init() { registerType[setObj](typeSet, "set") }

func (o *setObj) encoding() string {
	if o.ht {
		return "hashtable"
	}
	return "intset"
}

func (o *setObj) size() int64 { return setBaseSize + o.sz }

func (o *setObj) length() int {
	if o.ht {
		return o.d.len()
	}
	return len(o.ints)
}

func (o *setObj) clone() object {
	return &setObj{ints: slices.Clone(o.ints), d: o.d.clone(), ht: o.ht, sz: o.sz}
}

func (o *setObj) rewrite(key []byte, emit func(args ...[]byte) error) error {
	n := o.length()
	args := make([][]byte, 0, 2+rewriteBatch)
	for i := 0; i < n; i += rewriteBatch {
		args = append(args[:0], []byte("SADD"), key)
		for j := i; j < min(i+rewriteBatch, n); j++ {
			args = append(args, o.memberAt(j, nil))
		}
		if err := emit(args...); err != nil {
			return err
		}
	}
	return nil
}

// bstr views b as a string for a lookup that does not keep it.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// sbytes views s as bytes that must not be changed.
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// memberAt returns the member at position i (an intset's are formatted
// into buf's memory when it has room, else a new slice; a hashtable's
// share the member's memory and must not be changed).
func (o *setObj) memberAt(i int, buf []byte) []byte {
	if o.ht {
		return sbytes(string(o.d.ents[i]))
	}
	return strconv.AppendInt(buf[:0], o.ints[i], 10)
}

// intPos returns where v is (or would be) in the intset.
func (o *setObj) intPos(v int64) (int, bool) {
	return slices.BinarySearch(o.ints, v)
}

func (o *setObj) has(m []byte) bool {
	if o.ht {
		return o.d.find(bstr(m)) >= 0
	}
	v, ok := parseInt(m)
	if !ok {
		return false
	}
	_, found := o.intPos(v)
	return found
}

// convert turns an intset into a hashtable.
func (o *setObj) convert() {
	o.d.ents = make([]setMember, 0, len(o.ints)+1)
	o.sz = 0
	for _, v := range o.ints {
		m := strconv.FormatInt(v, 10)
		o.d.add(setMember(m))
		o.sz += int64(len(m)) + setMemberOverhead
	}
	o.ints = nil
	o.ht = true
}

// add adds member m and reports whether it was new.
func (o *setObj) add(m []byte) bool {
	if !o.ht {
		if v, ok := parseInt(m); ok {
			i, found := o.intPos(v)
			if found {
				return false
			}
			o.ints = slices.Insert(o.ints, i, v)
			o.sz += 8
			if len(o.ints) > setMaxIntsetEntries {
				o.convert()
			}
			return true
		}
		o.convert()
	}
	if o.d.find(bstr(m)) >= 0 {
		return false
	}
	o.d.add(setMember(m))
	o.sz += int64(len(m)) + setMemberOverhead
	return true
}

// remove removes member m and reports whether it was there.
func (o *setObj) remove(m []byte) bool {
	if !o.ht {
		v, ok := parseInt(m)
		if !ok {
			return false
		}
		i, found := o.intPos(v)
		if !found {
			return false
		}
		o.removeAt(i)
		return true
	}
	i := o.d.find(bstr(m))
	if i < 0 {
		return false
	}
	o.removeAt(i)
	return true
}

// removeAt removes the member at position i.
func (o *setObj) removeAt(i int) {
	if !o.ht {
		o.ints = slices.Delete(o.ints, i, i+1)
		o.sz -= 8
		return
	}
	o.sz -= int64(len(o.d.ents[i])) + setMemberOverhead
	o.d.removeAt(i)
}

// random returns a random position (the set must not be empty).
func (o *setObj) random() int { return randIntN(o.length()) }

// replyAll writes the whole set as an array.
func (o *setObj) replyAll(c *client) {
	n := o.length()
	c.array(n)
	var buf [24]byte
	for i := 0; i < n; i++ {
		c.bulk(o.memberAt(i, buf[:]))
	}
}

func newSet() *setObj { return &setObj{} }

func init() {
	registerCommands(
		&command{name: "sadd", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Add one or more members to a set", fn: cmdSadd},
		&command{name: "srem", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Remove one or more members from a set", fn: cmdSrem},
		&command{name: "scard", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Get the number of members in a set", fn: cmdScard},
		&command{name: "sismember", arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Determine if a given value is a member of a set", fn: cmdSismember},
		&command{name: "smismember", arity: -3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "set", since: "6.2.0", summary: "Returns the membership associated with the given elements for a set", fn: cmdSmismember},
		&command{name: "smembers", arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Get all the members in a set", fn: cmdSmembers},
		&command{name: "spop", arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Remove and return one or multiple random members from a set", fn: cmdSpop},
		&command{name: "srandmember", arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "set", since: "1.0.0", summary: "Get one or multiple random members from a set", fn: cmdSrandmember},
		&command{name: "smove", arity: 4, flags: flagWrite | flagFast, first: 1, last: 2, step: 1, group: "set", since: "1.0.0", summary: "Move a member from one set to another", fn: cmdSmove},
		&command{name: "sinter", arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Intersect multiple sets", fn: cmdSinter},
		&command{name: "sintercard", arity: -3, flags: flagReadonly, group: "set", since: "7.0.0", summary: "Intersect multiple sets and return the cardinality of the result", fn: cmdSintercard},
		&command{name: "sinterstore", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Intersect multiple sets and store the resulting set in a key", fn: cmdSinterstore},
		&command{name: "sunion", arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Add multiple sets", fn: cmdSunion},
		&command{name: "sunionstore", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Add multiple sets and store the resulting set in a key", fn: cmdSunionstore},
		&command{name: "sdiff", arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Subtract multiple sets", fn: cmdSdiff},
		&command{name: "sdiffstore", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: "set", since: "1.0.0", summary: "Subtract multiple sets and store the resulting set in a key", fn: cmdSdiffstore},
		&command{name: "sscan", arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: "set", since: "2.8.0", summary: "Incrementally iterate Set elements", fn: cmdSscan},
	)
}

func cmdSadd(s *server, c *client, args [][]byte) {
	o, ok := createValue(s, c, args[1], typeSet, newSet)
	if !ok {
		return
	}
	added := 0
	for _, m := range args[2:] {
		if o.add(m) {
			added++
		}
	}
	if added > 0 {
		s.written(c.db, args[1])
	}
	c.int(int64(added))
}

func cmdSrem(s *server, c *client, args [][]byte) {
	o, ok := writeValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil {
		c.int(0)
		return
	}
	removed := 0
	for _, m := range args[2:] {
		if o.remove(m) {
			removed++
			if o.length() == 0 {
				break
			}
		}
	}
	if removed > 0 {
		s.written(c.db, args[1])
	}
	c.int(int64(removed))
}

func cmdScard(s *server, c *client, args [][]byte) {
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil {
		c.int(0)
		return
	}
	c.int(int64(o.length()))
}

func cmdSismember(s *server, c *client, args [][]byte) {
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o != nil && o.has(args[2]) {
		c.int(1)
	} else {
		c.int(0)
	}
}

func cmdSmismember(s *server, c *client, args [][]byte) {
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	c.array(len(args) - 2)
	for _, m := range args[2:] {
		if o != nil && o.has(m) {
			c.int(1)
		} else {
			c.int(0)
		}
	}
}

func cmdSmembers(s *server, c *client, args [][]byte) {
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil {
		c.array(0)
		return
	}
	o.replyAll(c)
}

// propagateSrem logs the removal of members from key as SREM commands
// (what SPOP is logged as: replaying SPOP would pop other members).
func (s *server) propagateSrem(dbi int, key []byte, members [][]byte) {
	for i := 0; i < len(members); i += 1024 {
		args := append([][]byte{[]byte("SREM"), key}, members[i:min(i+1024, len(members))]...)
		s.propagate(dbi, args...)
	}
}

func cmdSpop(s *server, c *client, args [][]byte) {
	if len(args) > 3 {
		c.errReply(errSyntax)
		return
	}
	if len(args) == 3 {
		spopCount(s, c, args)
		return
	}
	o, ok := writeValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil {
		c.null()
		return
	}
	i := o.random()
	m := append([]byte(nil), o.memberAt(i, nil)...)
	o.removeAt(i)
	c.bulk(m)
	s.propagateSrem(c.db, args[1], [][]byte{m})
	s.written(c.db, args[1])
}

const errNotPositive = "ERR value is out of range, must be positive"

func spopCount(s *server, c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok || n < 0 {
		c.errReply(errNotPositive)
		return
	}
	o, ok := writeValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil || n == 0 {
		c.array(0)
		return
	}
	if n >= int64(o.length()) {
		// The whole set: Redis replies it (as SMEMBERS) and logs a DEL.
		o.replyAll(c)
		s.dbs[c.db].remove(s.dbs[c.db].find(args[1]))
		s.propagate(c.db, []byte("DEL"), args[1])
		s.written(c.db, args[1])
		return
	}
	remaining := int64(o.length()) - n
	popped := make([][]byte, 0, n)
	if remaining*spopMoveStrategyMul > n {
		// Pop n random members one by one.
		for range n {
			i := o.random()
			popped = append(popped, append([]byte(nil), o.memberAt(i, nil)...))
			o.removeAt(i)
		}
	} else {
		// Few remain: as Redis, move them (chosen at random) to a new set
		// that replaces the key (so it may become an intset again), and
		// pop all the others in the old set's order.
		keep := newSet()
		for range remaining {
			i := o.random()
			keep.add(o.memberAt(i, nil))
			o.removeAt(i)
		}
		for i := 0; i < o.length(); i++ {
			popped = append(popped, o.memberAt(i, nil))
		}
		d := s.dbs[c.db]
		d.ents[d.find(args[1])].val = objVal(keep)
	}
	c.array(len(popped))
	for _, m := range popped {
		c.bulk(m)
	}
	s.propagateSrem(c.db, args[1], popped)
	s.written(c.db, args[1])
}

// spopMoveStrategyMul is Redis's SPOP_MOVE_STRATEGY_MUL: SPOP with a count
// builds a new set of the members that remain when they are at most 1/5
// of those popped.
const spopMoveStrategyMul = 5

// parseRandCount parses the count of SRANDMEMBER and HRANDFIELD as Redis
// 7.0 does (-2^63+1 .. 2^63-1). It replies the error and returns ok false.
func parseRandCount(c *client, arg []byte) (int64, bool) {
	n, ok := parseInt(arg)
	if !ok {
		c.errReply(errNotInt)
		return 0, false
	}
	if n == -1<<63 {
		c.errReply("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return 0, false
	}
	return n, true
}

func cmdSrandmember(s *server, c *client, args [][]byte) {
	if len(args) > 3 {
		c.errReply(errSyntax)
		return
	}
	if len(args) == 2 {
		o, ok := readValue[setObj](s, c, args[1], typeSet)
		if !ok {
			return
		}
		if o == nil {
			c.null()
			return
		}
		c.bulk(o.memberAt(o.random(), nil))
		return
	}
	n, ok := parseRandCount(c, args[2])
	if !ok {
		return
	}
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil || n == 0 {
		c.array(0)
		return
	}
	size := o.length()
	var buf [24]byte
	if n < 0 || n == 1 {
		count := -n
		if n == 1 {
			count = 1
		}
		if count > maxRandomCount {
			c.errReply(errRandomCount)
			return
		}
		c.array(int(count))
		for range count {
			c.bulk(o.memberAt(o.random(), buf[:]))
		}
		return
	}
	if n >= int64(size) {
		o.replyAll(c)
		return
	}
	pos := sampleDistinct(size, int(n))
	c.array(len(pos))
	for _, i := range pos {
		c.bulk(o.memberAt(i, buf[:]))
	}
}

func cmdSmove(s *server, c *client, args [][]byte) {
	src, dst, m := args[1], args[2], args[3]
	so, ok := writeValue[setObj](s, c, src, typeSet)
	if !ok {
		return
	}
	if so == nil {
		c.int(0)
		return
	}
	do, ok := writeValue[setObj](s, c, dst, typeSet)
	if !ok {
		return
	}
	if string(src) == string(dst) {
		if so.has(m) {
			c.int(1)
		} else {
			c.int(0)
		}
		return
	}
	if !so.remove(m) {
		c.int(0)
		return
	}
	s.written(c.db, src)
	if do == nil {
		do, _ = createValue(s, c, dst, typeSet, newSet)
	}
	do.add(m)
	s.written(c.db, dst)
	c.int(1)
}

// Set operations.
const (
	setOpUnion = iota
	setOpDiff
	setOpInter
)

// lookupSets finds the sets at keys: nil for a missing key. It replies
// WRONGTYPE (ok false) if one holds another type, after looking every key
// up as Redis does. store: the lookups are a write command's (no hit/miss
// counted).
func (s *server) lookupSets(c *client, keys [][]byte, store bool) ([]*setObj, bool) {
	sets := make([]*setObj, len(keys))
	for j, k := range keys {
		var i int
		if store {
			i = s.lookupKey(c.db, k)
		} else {
			i = s.lookupRead(c.db, k)
		}
		if i < 0 {
			continue
		}
		e := &s.dbs[c.db].ents[i]
		if e.typ != typeSet {
			c.errReply(errWrongType)
			return nil, false
		}
		sets[j] = valueOf[setObj](e)
	}
	return sets, true
}

// storeSet stores res at key dst (over any value and expiry), or deletes
// dst if res is empty, and returns res's size.
func (s *server) storeSet(c *client, dst []byte, res *setObj) int64 {
	d := s.dbs[c.db]
	existed := false
	if i := s.lookupKey(c.db, dst); i >= 0 {
		d.remove(i)
		existed = true
	}
	n := res.length()
	if n > 0 {
		addObject(d, dst, typeSet, res)
		s.signalKeyAsReady(c.db, dst)
	}
	if n > 0 || existed {
		s.modified(c.db, dst)
	}
	return int64(n)
}

// sinter computes the intersection of keys. limit > 0 stops counting
// there (SINTERCARD). It replies the members (dst nil, !card), the
// cardinality (card) or the stored size (dst).
func (s *server) sinter(c *client, keys [][]byte, dst []byte, card bool, limit int64) {
	sets, ok := s.lookupSets(c, keys, dst != nil)
	if !ok {
		return
	}
	empty := false
	for _, o := range sets {
		if o == nil {
			empty = true
		}
	}
	if empty {
		switch {
		case dst != nil:
			c.int(s.storeSet(c, dst, newSet()))
		case card:
			c.int(0)
		default:
			c.array(0)
		}
		return
	}
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].length() < sets[j].length() })
	first := sets[0]
	var res *setObj
	var found [][]byte
	var n int64
	var buf [24]byte
	for i := 0; i < first.length(); i++ {
		m := first.memberAt(i, buf[:])
		in := true
		for _, o := range sets[1:] {
			if o != first && !o.has(m) {
				in = false
				break
			}
		}
		if !in {
			continue
		}
		n++
		switch {
		case dst != nil:
			if res == nil {
				res = newSet()
			}
			res.add(m)
		case !card:
			found = append(found, append([]byte(nil), m...))
		}
		if card && limit > 0 && n >= limit {
			break
		}
	}
	switch {
	case dst != nil:
		if res == nil {
			res = newSet()
		}
		c.int(s.storeSet(c, dst, res))
	case card:
		c.int(n)
	default:
		c.array(len(found))
		for _, m := range found {
			c.bulk(m)
		}
	}
}

// sunionDiff computes the union or difference of keys into a new set and
// replies it, or stores it at dst.
func (s *server) sunionDiff(c *client, keys [][]byte, dst []byte, op int) {
	sets, ok := s.lookupSets(c, keys, dst != nil)
	if !ok {
		return
	}
	res := newSet()
	var buf [24]byte
	switch op {
	case setOpUnion:
		for _, o := range sets {
			if o == nil {
				continue
			}
			for i := 0; i < o.length(); i++ {
				res.add(o.memberAt(i, buf[:]))
			}
		}
	case setOpDiff:
		first := sets[0]
		if first == nil {
			break
		}
	members:
		for i := 0; i < first.length(); i++ {
			m := first.memberAt(i, buf[:])
			for _, o := range sets[1:] {
				if o == first || o != nil && o.has(m) {
					continue members
				}
			}
			res.add(m)
		}
	}
	if dst != nil {
		c.int(s.storeSet(c, dst, res))
		return
	}
	res.replyAll(c)
}

func cmdSinter(s *server, c *client, args [][]byte) { s.sinter(c, args[1:], nil, false, 0) }

func cmdSinterstore(s *server, c *client, args [][]byte) {
	s.sinter(c, args[2:], args[1], false, 0)
}

func cmdSintercard(s *server, c *client, args [][]byte) {
	numkeys, ok := parseInt(args[1])
	if !ok || numkeys < 1 {
		c.errReply("ERR numkeys should be greater than 0")
		return
	}
	if numkeys > int64(len(args)-2) {
		c.errReply("ERR Number of keys can't be greater than number of args")
		return
	}
	var limit int64
	for j := 2 + int(numkeys); j < len(args); j++ {
		if eqFold(args[j], "limit") && j+1 < len(args) {
			j++
			v, ok := parseInt(args[j])
			if !ok || v < 0 {
				c.errReply("ERR LIMIT can't be negative")
				return
			}
			limit = v
		} else {
			c.errReply(errSyntax)
			return
		}
	}
	s.sinter(c, args[2:2+numkeys], nil, true, limit)
}

func cmdSunion(s *server, c *client, args [][]byte) { s.sunionDiff(c, args[1:], nil, setOpUnion) }

func cmdSunionstore(s *server, c *client, args [][]byte) {
	s.sunionDiff(c, args[2:], args[1], setOpUnion)
}

func cmdSdiff(s *server, c *client, args [][]byte) { s.sunionDiff(c, args[1:], nil, setOpDiff) }

func cmdSdiffstore(s *server, c *client, args [][]byte) {
	s.sunionDiff(c, args[2:], args[1], setOpDiff)
}

func cmdSscan(s *server, c *client, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		c.errReply("ERR invalid cursor")
		return
	}
	o, ok := readValue[setObj](s, c, args[1], typeSet)
	if !ok {
		return
	}
	if o == nil {
		emptyScan(c)
		return
	}
	opts, ok := parseScanOpts(c, args[3:])
	if !ok {
		return
	}
	var found [][]byte
	var next uint64
	if !o.ht {
		// Redis returns a small encoding whole, with cursor 0.
		for i := range o.ints {
			m := o.memberAt(i, nil)
			if opts.match(bstr(m)) {
				found = append(found, m)
			}
		}
	} else {
		next = o.d.scan(cursor, opts.count, func(m *setMember) {
			if opts.match(string(*m)) {
				found = append(found, sbytes(string(*m)))
			}
		})
	}
	scanReply(c, next, len(found))
	for _, m := range found {
		c.bulk(m)
	}
}
