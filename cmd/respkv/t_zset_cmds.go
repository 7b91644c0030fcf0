package main

import (
	"math"
	"slices"
	"strconv"
)

// Sorted set commands, as Redis 7.0's t_zset.c answers them.

func init() {
	w, r := flagWrite, flagReadonly
	registerCommands(
		&command{name: "zadd", arity: -4, flags: w | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Add one or more members to a sorted set, or update its score if it already exists", fn: cmdZadd},
		&command{name: "zincrby", arity: 4, flags: w | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Increment the score of a member in a sorted set", fn: cmdZincrby},
		&command{name: "zrem", arity: -3, flags: w | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Remove one or more members from a sorted set", fn: cmdZrem},
		&command{name: "zcard", arity: 2, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Get the number of members in a sorted set", fn: cmdZcard},
		&command{name: "zscore", arity: 3, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Get the score associated with the given member in a sorted set", fn: cmdZscore},
		&command{name: "zmscore", arity: -3, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "6.2.0", summary: "Get the score associated with the given members in a sorted set", fn: cmdZmscore},
		&command{name: "zrank", arity: 3, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Determine the index of a member in a sorted set", fn: cmdZrank},
		&command{name: "zrevrank", arity: 3, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Determine the index of a member in a sorted set, with scores ordered from high to low", fn: cmdZrevrank},
		&command{name: "zcount", arity: 4, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Count the members in a sorted set with scores within the given values", fn: cmdZcount},
		&command{name: "zlexcount", arity: 4, flags: r | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.8.9", summary: "Count the number of members in a sorted set between a given lexicographical range", fn: cmdZlexcount},
		&command{name: "zrange", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Return a range of members in a sorted set", fn: cmdZrange},
		&command{name: "zrangestore", arity: -5, flags: w | flagDenyOOM, first: 1, last: 2, step: 1, group: "sorted_set", since: "6.2.0", summary: "Store a range of members from sorted set into another key", fn: cmdZrangestore},
		&command{name: "zrevrange", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low", fn: cmdZrevrange},
		&command{name: "zrangebyscore", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.0.5", summary: "Return a range of members in a sorted set, by score", fn: cmdZrangebyscore},
		&command{name: "zrevrangebyscore", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.2.0", summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low", fn: cmdZrevrangebyscore},
		&command{name: "zrangebylex", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.8.9", summary: "Return a range of members in a sorted set, by lexicographical range", fn: cmdZrangebylex},
		&command{name: "zrevrangebylex", arity: -4, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.8.9", summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", fn: cmdZrevrangebylex},
		&command{name: "zremrangebyrank", arity: 4, flags: w, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Remove all members in a sorted set within the given indexes", fn: cmdZremrangebyrank},
		&command{name: "zremrangebyscore", arity: 4, flags: w, first: 1, last: 1, step: 1, group: "sorted_set", since: "1.2.0", summary: "Remove all members in a sorted set within the given scores", fn: cmdZremrangebyscore},
		&command{name: "zremrangebylex", arity: 4, flags: w, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.8.9", summary: "Remove all members in a sorted set between the given lexicographical range", fn: cmdZremrangebylex},
		&command{name: "zpopmin", arity: -2, flags: w | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "5.0.0", summary: "Remove and return members with the lowest scores in a sorted set", fn: cmdZpopmin},
		&command{name: "zpopmax", arity: -2, flags: w | flagFast, first: 1, last: 1, step: 1, group: "sorted_set", since: "5.0.0", summary: "Remove and return members with the highest scores in a sorted set", fn: cmdZpopmax},
		&command{name: "zmpop", arity: -4, flags: w, group: "sorted_set", since: "7.0.0", summary: "Remove and return members with scores in a sorted set", fn: cmdZmpop},
		&command{name: "zrandmember", arity: -2, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "6.2.0", summary: "Get one or multiple random elements from a sorted set", fn: cmdZrandmember},
		&command{name: "zunion", arity: -3, flags: r, group: "sorted_set", since: "6.2.0", summary: "Add multiple sorted sets", fn: cmdZunion},
		&command{name: "zinter", arity: -3, flags: r, group: "sorted_set", since: "6.2.0", summary: "Intersect multiple sorted sets", fn: cmdZinter},
		&command{name: "zdiff", arity: -3, flags: r, group: "sorted_set", since: "6.2.0", summary: "Subtract multiple sorted sets", fn: cmdZdiff},
		&command{name: "zunionstore", arity: -4, flags: w | flagDenyOOM, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Add multiple sorted sets and store the resulting sorted set in a new key", fn: cmdZunionstore},
		&command{name: "zinterstore", arity: -4, flags: w | flagDenyOOM, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.0.0", summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key", fn: cmdZinterstore},
		&command{name: "zdiffstore", arity: -4, flags: w | flagDenyOOM, first: 1, last: 1, step: 1, group: "sorted_set", since: "6.2.0", summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key", fn: cmdZdiffstore},
		&command{name: "zintercard", arity: -3, flags: r, group: "sorted_set", since: "7.0.0", summary: "Intersect multiple sorted sets and return the cardinality of the result", fn: cmdZintercard},
		&command{name: "zscan", arity: -3, flags: r, first: 1, last: 1, step: 1, group: "sorted_set", since: "2.8.0", summary: "Incrementally iterate sorted sets elements and associated scores", fn: cmdZscan},
		&command{name: "bzpopmin", arity: -3, flags: w | flagNoScript | flagBlocking | flagFast, first: 1, last: -2, step: 1, group: "sorted_set", since: "5.0.0", summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", fn: cmdBzpopmin},
		&command{name: "bzpopmax", arity: -3, flags: w | flagNoScript | flagBlocking | flagFast, first: 1, last: -2, step: 1, group: "sorted_set", since: "5.0.0", summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", fn: cmdBzpopmax},
		&command{name: "bzmpop", arity: -5, flags: w | flagBlocking, group: "sorted_set", since: "7.0.0", summary: "Remove and return members with scores in a sorted set or block until one is available", fn: cmdBzmpop},
	)
}

// ---- ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK ----

func cmdZadd(s *server, c *client, args [][]byte)    { zaddGeneric(s, c, args, false) }
func cmdZincrby(s *server, c *client, args [][]byte) { zaddGeneric(s, c, args, true) }

func zaddGeneric(s *server, c *client, args [][]byte, incr bool) {
	var nx, xx, gt, lt, ch bool
	i := 2
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case eqFold(a, "nx"):
			nx = true
		case eqFold(a, "xx"):
			xx = true
		case eqFold(a, "gt"):
			gt = true
		case eqFold(a, "lt"):
			lt = true
		case eqFold(a, "ch"):
			ch = true
		case eqFold(a, "incr"):
			incr = true
		default:
			goto done
		}
	}
done:
	pairs := len(args) - i
	if pairs == 0 || pairs%2 != 0 {
		c.errReply(errSyntax)
		return
	}
	pairs /= 2
	if nx && xx {
		c.errReply("ERR XX and NX options at the same time are not compatible")
		return
	}
	if gt && nx || lt && nx || gt && lt {
		c.errReply("ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	}
	if incr && pairs > 1 {
		c.errReply("ERR INCR option supports a single increment-element pair")
		return
	}
	var buf [8]float64
	var scores []float64
	if pairs <= len(buf) {
		scores = buf[:pairs]
	} else {
		scores = make([]float64, pairs)
	}
	for j := range scores {
		v, ok := zparseScore(args[i+2*j])
		if !ok {
			c.errReply(errNotFloat)
			return
		}
		scores[j] = v
	}
	key := args[1]
	z, ok := writeValue[zsetObj](s, c, key, typeZSet)
	if !ok {
		return
	}
	if z == nil {
		if xx {
			if incr {
				c.null()
			} else {
				c.int(0)
			}
			return
		}
		// Redis 7.0 chooses by the first member only.
		z = newZset(1, len(args[i+1]))
		addObject(s.dbs[c.db], key, typeZSet, z)
		s.signalKeyAsReady(c.db, key)
	}
	var added, updated int64
	processed := false
	var last float64
	for j, score := range scores {
		member := args[i+2*j+1]
		cur, exists := z.score(member)
		if !exists {
			if xx {
				continue
			}
			z.insert(member, score)
			added++
			processed, last = true, score
			continue
		}
		if nx {
			continue
		}
		if incr {
			score += cur
			if math.IsNaN(score) {
				if added+updated > 0 {
					s.written(c.db, key)
				}
				c.errReply("ERR resulting score is not a number (NaN)")
				return
			}
		}
		if lt && score >= cur || gt && score <= cur {
			continue
		}
		if score != cur {
			z.update(member, cur, score)
			updated++
		}
		processed, last = true, score
	}
	if added+updated > 0 || z.length() == 0 {
		s.written(c.db, key)
	}
	if incr {
		if processed {
			c.bulkScore(last)
		} else {
			c.null()
		}
		return
	}
	if ch {
		c.int(added + updated)
	} else {
		c.int(added)
	}
}

func cmdZrem(s *server, c *client, args [][]byte) {
	z, ok := writeValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	var n int64
	if z != nil {
		for _, m := range args[2:] {
			if z.remove(m) {
				n++
				if z.length() == 0 {
					break
				}
			}
		}
		if n > 0 {
			s.written(c.db, args[1])
		}
	}
	c.int(n)
}

func cmdZcard(s *server, c *client, args [][]byte) {
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.int(0)
		return
	}
	c.int(int64(z.length()))
}

func cmdZscore(s *server, c *client, args [][]byte) {
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.null()
		return
	}
	if v, ok := z.score(args[2]); ok {
		c.bulkScore(v)
		return
	}
	c.null()
}

func cmdZmscore(s *server, c *client, args [][]byte) {
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	c.array(len(args) - 2)
	for _, m := range args[2:] {
		if z != nil {
			if v, ok := z.score(m); ok {
				c.bulkScore(v)
				continue
			}
		}
		c.null()
	}
}

func cmdZrank(s *server, c *client, args [][]byte)    { zrankGeneric(s, c, args, false) }
func cmdZrevrank(s *server, c *client, args [][]byte) { zrankGeneric(s, c, args, true) }

func zrankGeneric(s *server, c *client, args [][]byte, rev bool) {
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.null()
		return
	}
	r := z.rank(args[2])
	if r < 0 {
		c.null()
		return
	}
	if rev {
		r = z.length() - 1 - r
	}
	c.int(int64(r))
}

func cmdZcount(s *server, c *client, args [][]byte) {
	rng, ok := zparseRange(args[2], args[3])
	if !ok {
		c.errReply("ERR min or max is not a float")
		return
	}
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.int(0)
		return
	}
	lo, hi := z.scoreBounds(&rng)
	c.int(int64(hi - lo))
}

func cmdZlexcount(s *server, c *client, args [][]byte) {
	rng, ok := zparseLexRange(args[2], args[3])
	if !ok {
		c.errReply("ERR min or max not valid string range item")
		return
	}
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.int(0)
		return
	}
	lo, hi := z.lexBounds(&rng)
	c.int(int64(hi - lo))
}

// ---- ZRANGE and its forms ----

const (
	zrangeAuto = iota
	zrangeRank
	zrangeScore
	zrangeLex
)

func cmdZrange(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeAuto, 0)
}
func cmdZrangestore(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 2, args[1], zrangeAuto, 0)
}
func cmdZrevrange(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeRank, -1)
}
func cmdZrangebyscore(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeScore, 1)
}
func cmdZrevrangebyscore(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeScore, -1)
}
func cmdZrangebylex(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeLex, 1)
}
func cmdZrevrangebylex(s *server, c *client, args [][]byte) {
	zrangeGeneric(s, c, args, 1, nil, zrangeLex, -1)
}

// zrangeGeneric is Redis's zrangeGenericCommand: args[keyIdx] is the
// source, then min and max, then options; dst is ZRANGESTORE's
// destination; kind and dir (1 forward, -1 reverse, 0 not given) are
// preset by the older commands.
func zrangeGeneric(s *server, c *client, args [][]byte, keyIdx int, dst []byte, kind int, dir int) {
	minIdx, maxIdx := keyIdx+1, keyIdx+2
	withScores := false
	offset, limit := int64(0), int64(-1)
	for j := keyIdx + 3; j < len(args); j++ {
		left := len(args) - j - 1
		a := args[j]
		switch {
		case dst == nil && eqFold(a, "withscores"):
			withScores = true
		case eqFold(a, "limit") && left >= 2:
			var ok bool
			if offset, ok = parseInt(args[j+1]); !ok {
				c.errReply(errNotInt)
				return
			}
			if limit, ok = parseInt(args[j+2]); !ok {
				c.errReply(errNotInt)
				return
			}
			j += 2
		case dir == 0 && eqFold(a, "rev"):
			dir = -1
		case kind == zrangeAuto && eqFold(a, "bylex"):
			kind = zrangeLex
		case kind == zrangeAuto && eqFold(a, "byscore"):
			kind = zrangeScore
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if dir == 0 {
		dir = 1
	}
	if kind == zrangeAuto {
		kind = zrangeRank
	}
	if limit != -1 && kind == zrangeRank {
		c.errReply("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return
	}
	if withScores && kind == zrangeLex {
		c.errReply("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return
	}
	if dir < 0 && kind != zrangeRank {
		minIdx, maxIdx = maxIdx, minIdx
	}
	var start, end int64
	var srng zrangeSpec
	var lrng zlexRange
	switch kind {
	case zrangeRank:
		var ok bool
		if start, ok = parseInt(args[minIdx]); !ok {
			c.errReply(errNotInt)
			return
		}
		if end, ok = parseInt(args[maxIdx]); !ok {
			c.errReply(errNotInt)
			return
		}
	case zrangeScore:
		var ok bool
		if srng, ok = zparseRange(args[minIdx], args[maxIdx]); !ok {
			c.errReply("ERR min or max is not a float")
			return
		}
	case zrangeLex:
		var ok bool
		if lrng, ok = zparseLexRange(args[minIdx], args[maxIdx]); !ok {
			c.errReply("ERR min or max not valid string range item")
			return
		}
	}
	z, ok := readValue[zsetObj](s, c, args[keyIdx], typeZSet)
	if !ok {
		return
	}
	var out zrangeOut
	if dst != nil {
		out.store = true
	} else {
		out.withScores = withScores
	}
	if z != nil {
		switch kind {
		case zrangeRank:
			zrangeByRank(z, start, end, dir, &out)
		case zrangeScore:
			lo, hi := z.scoreBounds(&srng)
			zrangeLimit(z, lo, hi, dir, offset, limit, &out)
		case zrangeLex:
			lo, hi := z.lexBounds(&lrng)
			zrangeLimit(z, lo, hi, dir, offset, limit, &out)
		}
	}
	if dst != nil {
		s.zstore(c, dst, zsetFromSorted(out.items, dir < 0))
		c.int(int64(len(out.items)))
		return
	}
	out.reply(c)
}

// zrangeOut collects a range's members for a reply or a store.
type zrangeOut struct {
	items      []zitem
	withScores bool
	store      bool
}

func (o *zrangeOut) add(it zitem) { o.items = append(o.items, it) }

func (o *zrangeOut) reply(c *client) {
	if o.withScores {
		c.array(2 * len(o.items))
	} else {
		c.array(len(o.items))
	}
	for _, it := range o.items {
		c.bulkStr(it.member)
		if o.withScores {
			c.bulkScore(it.score)
		}
	}
}

// zrangeByRank is the rank form: start and end as ZRANGE takes them
// (negative from the end), dir -1 counting from the highest.
func zrangeByRank(z *zsetObj, start, end int64, dir int, out *zrangeOut) {
	n := int64(z.length())
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= n {
		return
	}
	if end >= n {
		end = n - 1
	}
	cnt := int(end - start + 1)
	out.items = make([]zitem, 0, cnt)
	if dir > 0 {
		z.ascend(int(start), func(it zitem) bool {
			out.add(it)
			return len(out.items) < cnt
		})
		return
	}
	z.descend(int(n-1-start), func(it zitem) bool {
		out.add(it)
		return len(out.items) < cnt
	})
}

// zrangeLimit emits the members at positions [lo, hi), from lo up or from
// hi-1 down, skipping offset and stopping after limit (negative: no
// limit), as Redis's LIMIT: a negative offset gives nothing.
func zrangeLimit(z *zsetObj, lo, hi, dir int, offset, limit int64, out *zrangeOut) {
	if offset < 0 || offset >= int64(hi-lo) || limit == 0 {
		return
	}
	n := int64(hi-lo) - offset
	if limit > 0 && limit < n {
		n = limit
	}
	out.items = make([]zitem, 0, min(n, 1<<16))
	if dir > 0 {
		z.ascend(lo+int(offset), func(it zitem) bool {
			out.add(it)
			return int64(len(out.items)) < n
		})
		return
	}
	z.descend(hi-1-int(offset), func(it zitem) bool {
		out.add(it)
		return int64(len(out.items)) < n
	})
}

// zsetFromSorted builds a set of items in order (reversed if rev), small
// when it fits; it takes items over.
func zsetFromSorted(items []zitem, rev bool) *zsetObj {
	if len(items) == 0 {
		return nil
	}
	if rev {
		slices.Reverse(items)
	}
	maxLen := 0
	var bytes int64
	for _, it := range items {
		maxLen = max(maxLen, len(it.member))
		bytes += int64(len(it.member))
	}
	if len(items) <= zsetMaxListpackEntries && maxLen <= zsetMaxListpackValue {
		for i := range items {
			items[i].score = zlpScore(items[i].score)
		}
		return &zsetObj{lp: items, bytes: bytes}
	}
	z := &zsetObj{tree: newZtree(), bytes: bytes}
	z.dict.ents = make([]zentry, 0, len(items))
	for _, it := range items {
		z.tree.insert(it)
		z.dict.add(zentry(it))
	}
	return z
}

// zsortItems sorts items in the sorted set order.
func zsortItems(items []zitem) {
	slices.SortFunc(items, func(a, b zitem) int {
		if zless(a, b) {
			return -1
		}
		if zless(b, a) {
			return 1
		}
		return 0
	})
}

// zstore replaces key dst (of any type, its TTL dropped) with z, or
// deletes it when z is nil or empty, as Redis's STORE commands.
func (s *server) zstore(c *client, dst []byte, z *zsetObj) {
	d := s.dbs[c.db]
	existed := false
	if i := s.lookupKey(c.db, dst); i >= 0 {
		d.remove(i)
		existed = true
	}
	if z != nil && z.length() > 0 {
		addObject(d, dst, typeZSet, z)
		s.signalKeyAsReady(c.db, dst)
		s.written(c.db, dst)
	} else if existed {
		s.modified(c.db, dst)
	}
}

// ---- ZREMRANGEBY* ----

func cmdZremrangebyrank(s *server, c *client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.errReply(errNotInt)
		return
	}
	zremrangeGeneric(s, c, args, func(z *zsetObj) (int, int) {
		n := int64(z.length())
		if start < 0 {
			start += n
		}
		if end < 0 {
			end += n
		}
		if start < 0 {
			start = 0
		}
		if start > end || start >= n {
			return 0, 0
		}
		if end >= n {
			end = n - 1
		}
		return int(start), int(end + 1)
	})
}

func cmdZremrangebyscore(s *server, c *client, args [][]byte) {
	rng, ok := zparseRange(args[2], args[3])
	if !ok {
		c.errReply("ERR min or max is not a float")
		return
	}
	zremrangeGeneric(s, c, args, func(z *zsetObj) (int, int) { return z.scoreBounds(&rng) })
}

func cmdZremrangebylex(s *server, c *client, args [][]byte) {
	rng, ok := zparseLexRange(args[2], args[3])
	if !ok {
		c.errReply("ERR min or max not valid string range item")
		return
	}
	zremrangeGeneric(s, c, args, func(z *zsetObj) (int, int) { return z.lexBounds(&rng) })
}

func zremrangeGeneric(s *server, c *client, args [][]byte, bounds func(z *zsetObj) (int, int)) {
	z, ok := writeValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		c.int(0)
		return
	}
	lo, hi := bounds(z)
	z.removeRange(lo, hi, false)
	if hi > lo {
		s.written(c.db, args[1])
	}
	c.int(int64(hi - lo))
}

// ---- pops ----

func cmdZpopmin(s *server, c *client, args [][]byte) { zpopCommand(s, c, args, false) }
func cmdZpopmax(s *server, c *client, args [][]byte) { zpopCommand(s, c, args, true) }

func zpopCommand(s *server, c *client, args [][]byte, maxSide bool) {
	if len(args) > 3 {
		c.errReply(errSyntax)
		return
	}
	count := int64(-1)
	if len(args) == 3 {
		v, ok := parseInt(args[2])
		if !ok || v < 0 {
			c.errReply("ERR value is out of range, must be positive")
			return
		}
		count = v
	}
	z, ok := writeValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil || count == 0 {
		c.array(0)
		return
	}
	if count < 0 {
		count = 1
	}
	items := z.pop(maxSide, count)
	s.written(c.db, args[1])
	c.array(2 * len(items))
	for _, it := range items {
		c.bulkStr(it.member)
		c.bulkScore(it.score)
	}
}

// pop removes and returns up to count members from the low end (or the
// high end), in the order popped.
func (z *zsetObj) pop(maxSide bool, count int64) []zitem {
	n := z.length()
	k := int(min(count, int64(n)))
	if maxSide {
		items := z.removeRange(n-k, n, true)
		slices.Reverse(items)
		return items
	}
	return z.removeRange(0, k, true)
}

// zmpopArgs parses ZMPOP/BZMPOP from args[numIdx]: the keys, the side and
// the count (1 unless given).
func zmpopArgs(c *client, args [][]byte, numIdx int) (keys [][]byte, maxSide bool, count int64, ok bool) {
	numkeys, ok := parseInt(args[numIdx])
	if !ok || numkeys < 1 {
		c.errReply("ERR numkeys should be greater than 0")
		return nil, false, 0, false
	}
	whereIdx := int64(numIdx) + 1 + numkeys
	if numkeys >= int64(len(args)) || whereIdx >= int64(len(args)) {
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	switch w := args[whereIdx]; {
	case eqFold(w, "min"):
	case eqFold(w, "max"):
		maxSide = true
	default:
		c.errReply(errSyntax)
		return nil, false, 0, false
	}
	count = -1
	for j := int(whereIdx) + 1; j < len(args); j++ {
		if count == -1 && eqFold(args[j], "count") && j+1 < len(args) {
			j++
			v, ok := parseInt(args[j])
			if !ok || v < 1 {
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
	return args[numIdx+1 : whereIdx], maxSide, count, true
}

func cmdZmpop(s *server, c *client, args [][]byte) {
	keys, maxSide, count, ok := zmpopArgs(c, args, 1)
	if !ok {
		return
	}
	for _, k := range keys {
		z, ok := writeValue[zsetObj](s, c, k, typeZSet)
		if !ok {
			return
		}
		if z == nil {
			continue
		}
		s.zpopReply(c, k, z, maxSide, count, true)
		return
	}
	c.out = append(c.out, "*-1\r\n"...)
}

// zpopReply pops from z at key for (B)ZMPOP (nested) or BZPOPMIN/MAX,
// replies, propagates the pop as ZPOPMIN/ZPOPMAX and records the change.
func (s *server) zpopReply(c *client, key []byte, z *zsetObj, maxSide bool, count int64, nested bool) {
	items := z.pop(maxSide, count)
	name := "ZPOPMIN"
	if maxSide {
		name = "ZPOPMAX"
	}
	if nested {
		s.propagate(c.db, []byte(name), key, strconv.AppendInt(nil, count, 10))
		c.array(2)
		c.bulk(key)
		c.array(len(items))
		for _, it := range items {
			c.array(2)
			c.bulkStr(it.member)
			c.bulkScore(it.score)
		}
	} else {
		s.propagate(c.db, []byte(name), key)
		c.array(3)
		c.bulk(key)
		c.bulkStr(items[0].member)
		c.bulkScore(items[0].score)
	}
	s.written(c.db, key)
}
