package main

import (
	"math"
	"strconv"
)

// List commands, with Redis 7.0's replies, errors and argument order.

func init() {
	registerCommands(
		&command{name: "lpush", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Prepend one or multiple elements to a list", fn: cmdLpush},
		&command{name: "rpush", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Append one or multiple elements to a list", fn: cmdRpush},
		&command{name: "lpushx", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "list", since: "2.2.0", summary: "Prepend an element to a list, only if the list exists", fn: cmdLpushx},
		&command{name: "rpushx", arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "list", since: "2.2.0", summary: "Append an element to a list, only if the list exists", fn: cmdRpushx},
		&command{name: "lpop", arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Remove and get the first elements in a list", fn: cmdLpop},
		&command{name: "rpop", arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Remove and get the last elements in a list", fn: cmdRpop},
		&command{name: "llen", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Get the length of a list", fn: cmdLlen},
		&command{name: "lrange", arity: 4, flags: flagReadonly, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Get a range of elements from a list", fn: cmdLrange},
		&command{name: "lindex", arity: 3, flags: flagReadonly, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Get an element from a list by its index", fn: cmdLindex},
		&command{name: "lset", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Set the value of an element in a list by its index", fn: cmdLset},
		&command{name: "linsert", arity: 5, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "list", since: "2.2.0", summary: "Insert an element before or after another element in a list", fn: cmdLinsert},
		&command{name: "lrem", arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Remove elements from a list", fn: cmdLrem},
		&command{name: "ltrim", arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: "list", since: "1.0.0", summary: "Trim a list to the specified range", fn: cmdLtrim},
		&command{name: "lpos", arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: "list", since: "6.0.6", summary: "Return the index of matching elements on a list", fn: cmdLpos},
		&command{name: "lmove", arity: 5, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: "list", since: "6.2.0", summary: "Pop an element from a list, push it to another list and return it", fn: cmdLmove},
		&command{name: "rpoplpush", arity: 3, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: "list", since: "1.2.0", summary: "Remove the last element in a list, prepend it to another list and return it", fn: cmdRpoplpush},
		&command{name: "lmpop", arity: -4, flags: flagWrite, group: "list", since: "7.0.0", summary: "Pop elements from a list", fn: cmdLmpop},
		&command{name: "blpop", arity: -3, flags: flagWrite | flagNoScript | flagBlocking, first: 1, last: -2, step: 1, group: "list", since: "2.0.0", summary: "Remove and get the first element in a list, or block until one is available", fn: cmdBlpop},
		&command{name: "brpop", arity: -3, flags: flagWrite | flagNoScript | flagBlocking, first: 1, last: -2, step: 1, group: "list", since: "2.0.0", summary: "Remove and get the last element in a list, or block until one is available", fn: cmdBrpop},
		&command{name: "blmove", arity: 6, flags: flagWrite | flagDenyOOM | flagNoScript | flagBlocking, first: 1, last: 2, step: 1, group: "list", since: "6.2.0", summary: "Pop an element from a list, push it to another list and return it; or block until one is available", fn: cmdBlmove},
		&command{name: "brpoplpush", arity: 4, flags: flagWrite | flagDenyOOM | flagNoScript | flagBlocking, first: 1, last: 2, step: 1, group: "list", since: "2.2.0", summary: "Pop an element from a list, push it to another list and return it; or block until one is available", fn: cmdBrpoplpush},
		&command{name: "blmpop", arity: -5, flags: flagWrite | flagBlocking, group: "list", since: "7.0.0", summary: "Pop elements from a list, or block until one is available", fn: cmdBlmpop},
	)
}

func readList(s *server, c *client, key []byte) (*list, bool) {
	return readValue[list](s, c, key, typeList)
}

func writeList(s *server, c *client, key []byte) (*list, bool) {
	return writeValue[list](s, c, key, typeList)
}

func (s *server) pushGeneric(c *client, args [][]byte, front, xx bool) {
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		if xx {
			c.int(0)
			return
		}
		l, _ = createValue(s, c, args[1], typeList, newList)
	}
	for _, v := range args[2:] {
		l.push(v, front)
	}
	s.written(c.db, args[1])
	s.signalKeyAsReady(c.db, args[1])
	c.int(int64(l.n))
}

func cmdLpush(s *server, c *client, args [][]byte)  { s.pushGeneric(c, args, true, false) }
func cmdRpush(s *server, c *client, args [][]byte)  { s.pushGeneric(c, args, false, false) }
func cmdLpushx(s *server, c *client, args [][]byte) { s.pushGeneric(c, args, true, true) }
func cmdRpushx(s *server, c *client, args [][]byte) { s.pushGeneric(c, args, false, true) }

// positiveArg parses a count that must be >= 0 (Redis's
// getPositiveLongFromObjectOrReply): anything else gets msg.
func positiveArg(b []byte) (int64, bool) {
	v, ok := parseInt(b)
	return v, ok && v >= 0
}

const errMustBePositive = "ERR value is out of range, must be positive"

func (s *server) popGeneric(c *client, args [][]byte, front bool) {
	if len(args) > 3 {
		c.errReply(errArity(lowerString(args[0])))
		return
	}
	hasCount := len(args) == 3
	var count int64
	if hasCount {
		var ok bool
		if count, ok = positiveArg(args[2]); !ok {
			c.errReply(errMustBePositive)
			return
		}
	}
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		if hasCount {
			c.out = append(c.out, "*-1\r\n"...)
		} else {
			c.null()
		}
		return
	}
	if hasCount && count == 0 {
		c.array(0)
		return
	}
	if !hasCount {
		c.bulk(l.pop(front))
	} else {
		n := int(min(count, int64(l.n)))
		c.array(n)
		for range n {
			c.bulk(l.pop(front))
		}
	}
	s.written(c.db, args[1])
}

func cmdLpop(s *server, c *client, args [][]byte) { s.popGeneric(c, args, true) }
func cmdRpop(s *server, c *client, args [][]byte) { s.popGeneric(c, args, false) }

func cmdLlen(s *server, c *client, args [][]byte) {
	l, ok := readList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.int(0)
		return
	}
	c.int(int64(l.n))
}

// listRange normalizes start..end (Redis's negative indexes) over a list
// of n elements; empty reports an empty range.
func listRange(start, end int64, n int) (int, int, bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if end < 0 {
		end += ln
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= ln {
		return 0, 0, false
	}
	if end >= ln {
		end = ln - 1
	}
	return int(start), int(end), true
}

func cmdLrange(s *server, c *client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.errReply(errNotInt)
		return
	}
	l, ok := readList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.array(0)
		return
	}
	from, to, ok := listRange(start, end, l.n)
	if !ok {
		c.array(0)
		return
	}
	c.array(to - from + 1)
	l.each(from, to, func(v []byte) bool {
		c.bulk(v)
		return true
	})
}

// listIndex converts a Redis index (negative from the tail) over n
// elements; false when out of range.
func listIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

func cmdLindex(s *server, c *client, args [][]byte) {
	l, ok := readList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.null()
		return
	}
	idx, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	i, ok := listIndex(idx, l.n)
	if !ok {
		c.null()
		return
	}
	c.bulk(l.index(i))
}

func cmdLset(s *server, c *client, args [][]byte) {
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.errReply(errNoSuchKey)
		return
	}
	idx, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	i, ok := listIndex(idx, l.n)
	if !ok {
		c.errReply("ERR index out of range")
		return
	}
	l.set(i, args[3])
	s.written(c.db, args[1])
	c.ok()
}

func cmdLinsert(s *server, c *client, args [][]byte) {
	var after bool
	switch {
	case eqFold(args[2], "after"):
		after = true
	case eqFold(args[2], "before"):
	default:
		c.errReply(errSyntax)
		return
	}
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.int(0)
		return
	}
	at := -1
	i := 0
	l.each(0, l.n-1, func(v []byte) bool {
		if string(v) == string(args[3]) {
			at = i
			return false
		}
		i++
		return true
	})
	if at < 0 {
		c.int(-1)
		return
	}
	if after {
		at++
	}
	l.insertAt(at, args[4])
	s.written(c.db, args[1])
	c.int(int64(l.n))
}

func cmdLrem(s *server, c *client, args [][]byte) {
	count, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.int(0)
		return
	}
	n := count
	if n < 0 {
		if n == math.MinInt64 {
			n = 0 // all of them: more than any list holds
		} else {
			n = -n
		}
	}
	if n > int64(l.n) {
		n = 0
	}
	removed := l.removeMatching(args[3], int(n), count < 0)
	if removed > 0 {
		s.written(c.db, args[1])
	}
	c.int(int64(removed))
}

func cmdLtrim(s *server, c *client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.errReply(errNotInt)
		return
	}
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.ok()
		return
	}
	from, to, ok := listRange(start, end, l.n)
	if !ok {
		l.nodes, l.head, l.n, l.mem = nil, 0, 0, 0
	} else if from > 0 || to < l.n-1 {
		l.trim(from, to)
	}
	s.written(c.db, args[1])
	c.ok()
}

func cmdLpos(s *server, c *client, args [][]byte) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "rank") && more > 0:
			j++
			v, ok := parseInt(args[j])
			if !ok {
				c.errReply(errNotInt)
				return
			}
			if v == 0 {
				c.errReply("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			rank = v
		case eqFold(args[j], "count") && more > 0:
			j++
			v, ok := positiveArg(args[j])
			if !ok {
				c.errReply("ERR COUNT can't be negative")
				return
			}
			count = v
		case eqFold(args[j], "maxlen") && more > 0:
			j++
			v, ok := positiveArg(args[j])
			if !ok {
				c.errReply("ERR MAXLEN can't be negative")
				return
			}
			maxlen = v
		default:
			c.errReply(errSyntax)
			return
		}
	}
	l, ok := readList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		if count != -1 {
			c.array(0)
		} else {
			c.null()
		}
		return
	}
	skip := rank - 1
	if rank < 0 {
		// Redis negates the rank: MinInt64 stays negative, and every
		// match is at least that rank (the first from the tail).
		skip = 0
		if rank != math.MinInt64 {
			skip = -rank - 1
		}
	}
	want := count
	if want <= 0 { // no COUNT: the first match; COUNT 0: all
		want = math.MaxInt64
		if count == -1 {
			want = 1
		}
	}
	var found []int64
	seen := int64(0)
	match := func(i int, v []byte) bool {
		if maxlen != 0 && seen >= maxlen {
			return false
		}
		seen++
		if string(v) == string(args[2]) {
			if skip > 0 {
				skip--
			} else {
				found = append(found, int64(i))
				if int64(len(found)) >= want {
					return false
				}
			}
		}
		return true
	}
	if rank > 0 {
		i := 0
		l.each(0, l.n-1, func(v []byte) bool {
			r := match(i, v)
			i++
			return r
		})
	} else {
		l.eachBack(match)
	}
	if count == -1 {
		if len(found) == 0 {
			c.null()
		} else {
			c.int(found[0])
		}
		return
	}
	c.array(len(found))
	for _, i := range found {
		c.int(i)
	}
}

// listWhere parses LEFT or RIGHT (true: LEFT, the head).
func listWhere(b []byte) (front, ok bool) {
	switch {
	case eqFold(b, "left"):
		return true, true
	case eqFold(b, "right"):
		return false, true
	}
	return false, false
}

func whereName(front bool) []byte {
	if front {
		return []byte("LEFT")
	}
	return []byte("RIGHT")
}

// lmove pops from src (an existing, non-empty list at key args src) and
// pushes to dst, replying with the element; false (after replying
// WRONGTYPE) when dst holds another type, nothing done.
func (s *server) lmove(c *client, dbi int, src, dst []byte, from, to bool) bool {
	sl, _ := writeValueDB[list](s, c, dbi, src, typeList)
	dl, ok := writeValueDB[list](s, c, dbi, dst, typeList)
	if !ok {
		return false
	}
	v := append([]byte(nil), sl.pop(from)...)
	if dl == nil {
		dl = newList()
		addObject(s.dbs[dbi], dst, typeList, dl)
	}
	dl.push(v, to)
	s.signalKeyAsReady(dbi, dst)
	s.written(dbi, dst)
	s.written(dbi, src)
	c.bulk(v)
	return true
}

func (s *server) lmoveGeneric(c *client, args [][]byte, from, to bool) {
	l, ok := writeList(s, c, args[1])
	if !ok {
		return
	}
	if l == nil {
		c.null()
		return
	}
	s.lmove(c, c.db, args[1], args[2], from, to)
}

func cmdLmove(s *server, c *client, args [][]byte) {
	from, ok1 := listWhere(args[3])
	to, ok2 := listWhere(args[4])
	if !ok1 || !ok2 {
		c.errReply(errSyntax)
		return
	}
	s.lmoveGeneric(c, args, from, to)
}

func cmdRpoplpush(s *server, c *client, args [][]byte) { s.lmoveGeneric(c, args, false, true) }

// mpopArgs parses LMPOP's and BLMPOP's numkeys key... LEFT|RIGHT [COUNT n]
// from args[at] on.
func mpopArgs(c *client, args [][]byte, at int) (keys [][]byte, front bool, count int64, ok bool) {
	numkeys, ok := parseInt(args[at])
	if !ok || numkeys <= 0 {
		c.errReply("ERR numkeys should be greater than 0")
		return nil, false, 0, false
	}
	if numkeys >= int64(len(args)-at-1) {
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	whereAt := int64(at) + numkeys + 1
	if whereAt >= int64(len(args)) {
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	front, ok = listWhere(args[whereAt])
	if !ok {
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	count = -1
	for j := int(whereAt) + 1; j < len(args); j++ {
		if count == -1 && eqFold(args[j], "count") && j+1 < len(args) {
			j++
			v, ok := parseInt(args[j])
			if !ok || v <= 0 {
				c.errReply("ERR count should be greater than 0")
				return nil, false, 0, false
			}
			count = v
			continue
		}
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	if count == -1 {
		count = 1
	}
	return args[at+1 : whereAt], front, count, true
}

// popRangeReply pops up to count elements of the list at key and replies
// [key, [elements]], propagated as LPOP/RPOP key n.
func (s *server) popRangeReply(c *client, dbi int, key []byte, l *list, front bool, count int64) {
	n := int(min(count, int64(l.n)))
	c.array(2)
	c.bulk(key)
	c.array(n)
	for range n {
		c.bulk(l.pop(front))
	}
	s.written(dbi, key)
	op := []byte("RPOP")
	if front {
		op = []byte("LPOP")
	}
	s.propagate(dbi, op, key, strconv.AppendInt(nil, int64(n), 10))
}

func cmdLmpop(s *server, c *client, args [][]byte) {
	keys, front, count, ok := mpopArgs(c, args, 1)
	if !ok {
		return
	}
	for _, k := range keys {
		l, ok := writeList(s, c, k)
		if !ok {
			return
		}
		if l != nil {
			s.popRangeReply(c, c.db, k, l, front, count)
			return
		}
	}
	c.out = append(c.out, "*-1\r\n"...)
}
