package main

import (
	"math"
	"slices"
)

// ZUNION, ZINTER, ZDIFF (and STORE forms), ZINTERCARD, ZRANDMEMBER, ZSCAN
// and the blocking pops.

// zsetSetMembers lists the members of a set (typeSet) value, for the set
// operations, which take sets as sorted sets of score 1 as Redis does. The
// set type's file sets it; while it is nil a set input is refused as of
// the wrong type.
var zsetSetMembers func(e *entry) (members func(fn func(m string) bool), has func(m string) bool, n int)

// zopSrc is one input of a set operation.
type zopSrc struct {
	z      *zsetObj
	each   func(fn func(m string) bool) // a set's members
	has    func(m string) bool
	n      int
	weight float64
	id     int // the same key twice is the same input
}

func (o *zopSrc) length() int {
	if o.z != nil {
		return o.z.length()
	}
	return o.n
}

func (o *zopSrc) iterate(fn func(it zitem) bool) {
	if o.z != nil {
		o.z.ascend(0, fn)
		return
	}
	if o.each != nil {
		o.each(func(m string) bool { return fn(zitem{member: m, score: 1}) })
	}
}

func (o *zopSrc) find(m string) (float64, bool) {
	if o.z != nil {
		return o.z.score([]byte(m))
	}
	if o.has != nil && o.has(m) {
		return 1, true
	}
	return 0, false
}

const (
	zopUnion = iota
	zopInter
	zopDiff
)

const (
	zaggSum = iota
	zaggMin
	zaggMax
)

// zaggregate is Redis's zunionInterAggregate (a NaN sum is 0).
func zaggregate(target *float64, v float64, agg int) {
	switch agg {
	case zaggSum:
		*target += v
		if math.IsNaN(*target) {
			*target = 0
		}
	case zaggMin:
		if v < *target {
			*target = v
		}
	case zaggMax:
		if v > *target {
			*target = v
		}
	}
}

func cmdZunion(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, nil, 1, zopUnion, false)
}
func cmdZinter(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, nil, 1, zopInter, false)
}
func cmdZdiff(s *server, c *client, args [][]byte) { zsetOpGeneric(s, c, args, nil, 1, zopDiff, false) }
func cmdZintercard(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, nil, 1, zopInter, true)
}
func cmdZunionstore(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, args[1], 2, zopUnion, false)
}
func cmdZinterstore(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, args[1], 2, zopInter, false)
}
func cmdZdiffstore(s *server, c *client, args [][]byte) {
	zsetOpGeneric(s, c, args, args[1], 2, zopDiff, false)
}

// zsetOpGeneric is Redis's zunionInterDiffGenericCommand.
func zsetOpGeneric(s *server, c *client, args [][]byte, dst []byte, numIdx int, op int, cardOnly bool) {
	setnum, ok := parseInt(args[numIdx])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if setnum < 1 {
		c.errReply("ERR at least 1 input key is needed for '" + lowerString(args[0]) + "' command")
		return
	}
	if setnum > int64(len(args)-(numIdx+1)) {
		c.errReply(errSyntax)
		return
	}
	src := make([]zopSrc, setnum)
	// A key named twice is one source (its id is its first position).
	// Past a few keys a map keeps this linear: a scan per key was
	// quadratic, seconds of a stalled loop for one command of 60,000 keys.
	var first map[string]int
	if setnum > 8 {
		first = make(map[string]int, setnum)
	}
	j := numIdx + 1
	for i := range src {
		src[i] = zopSrc{weight: 1, id: i}
		k := args[j]
		if first != nil {
			if p, ok := first[string(k)]; ok {
				src[i].id = src[p].id
			} else {
				first[string(k)] = i
			}
		} else {
			for p := 0; p < i; p++ {
				if string(args[numIdx+1+p]) == string(k) {
					src[i].id = src[p].id
					break
				}
			}
		}
		j++
		pos := s.lookupRead(c.db, k)
		if pos < 0 {
			continue
		}
		e := &s.dbs[c.db].ents[pos]
		switch {
		case e.typ == typeZSet:
			src[i].z = valueOf[zsetObj](e)
		case e.typ == typeSet && zsetSetMembers != nil:
			src[i].each, src[i].has, src[i].n = zsetSetMembers(e)
		default:
			c.errReply(errWrongType)
			return
		}
	}
	agg := zaggSum
	withScores := false
	limit := int64(0)
	for j < len(args) {
		remaining := len(args) - j
		a := args[j]
		switch {
		case op != zopDiff && !cardOnly && remaining >= int(setnum)+1 && eqFold(a, "weights"):
			j++
			for i := range src {
				w, ok := zparseScore(args[j])
				if !ok {
					c.errReply("ERR weight value is not a float")
					return
				}
				src[i].weight = w
				j++
			}
		case op != zopDiff && !cardOnly && remaining >= 2 && eqFold(a, "aggregate"):
			switch v := args[j+1]; {
			case eqFold(v, "sum"):
				agg = zaggSum
			case eqFold(v, "min"):
				agg = zaggMin
			case eqFold(v, "max"):
				agg = zaggMax
			default:
				c.errReply(errSyntax)
				return
			}
			j += 2
		case dst == nil && !cardOnly && eqFold(a, "withscores"):
			withScores = true
			j++
		case cardOnly && remaining >= 2 && eqFold(a, "limit"):
			v, ok := parseInt(args[j+1])
			if !ok {
				c.errReply("ERR LIMIT can't be negative")
				return
			}
			if v < 0 {
				c.errReply("ERR LIMIT can't be negative")
				return
			}
			limit = v
			j += 2
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if op != zopDiff {
		slices.SortStableFunc(src, func(a, b zopSrc) int { return a.length() - b.length() })
	}
	var items []zitem
	var card int64
	switch op {
	case zopInter:
		if src[0].length() == 0 {
			break
		}
		src[0].iterate(func(it zitem) bool {
			score := src[0].weight * it.score
			if math.IsNaN(score) {
				score = 0
			}
			for k := 1; k < len(src); k++ {
				var v float64
				if src[k].id == src[0].id {
					v = it.score * src[k].weight
				} else if f, ok := src[k].find(it.member); ok {
					v = f * src[k].weight
				} else {
					return true
				}
				zaggregate(&score, v, agg)
			}
			if cardOnly {
				card++
				return limit == 0 || card < limit
			}
			items = append(items, zitem{member: it.member, score: score})
			return true
		})
	case zopUnion:
		acc := make(map[string]float64, src[len(src)-1].length())
		var order []string
		for i := range src {
			src[i].iterate(func(it zitem) bool {
				score := src[i].weight * it.score
				if math.IsNaN(score) {
					score = 0
				}
				if cur, ok := acc[it.member]; ok {
					zaggregate(&cur, score, agg)
					acc[it.member] = cur
				} else {
					acc[it.member] = score
					order = append(order, it.member)
				}
				return true
			})
		}
		items = make([]zitem, 0, len(order))
		for _, m := range order {
			items = append(items, zitem{member: m, score: acc[m]})
		}
	case zopDiff:
		src[0].iterate(func(it zitem) bool {
			for k := 1; k < len(src); k++ {
				if src[k].id == src[0].id {
					return true
				}
				if _, ok := src[k].find(it.member); ok {
					return true
				}
			}
			items = append(items, it)
			return true
		})
	}
	if cardOnly {
		c.int(card)
		return
	}
	zsortItems(items)
	if dst != nil {
		n := len(items)
		s.zstore(c, dst, zsetFromSorted(items, false))
		c.int(int64(n))
		return
	}
	out := zrangeOut{items: items, withScores: withScores}
	out.reply(c)
}

// ---- ZRANDMEMBER ----

func cmdZrandmember(s *server, c *client, args [][]byte) {
	if len(args) == 2 {
		z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
		if !ok {
			return
		}
		if z == nil {
			c.null()
			return
		}
		c.bulkStr(z.random().member)
		return
	}
	l, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if l == math.MinInt64 {
		c.errReply("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return
	}
	withScores := false
	if len(args) > 4 || len(args) == 4 && !eqFold(args[3], "withscores") {
		c.errReply(errSyntax)
		return
	} else if len(args) == 4 {
		withScores = true
		if l < -math.MaxInt64/2 || l > math.MaxInt64/2 {
			c.errReply("ERR value is out of range")
			return
		}
	}
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil || l == 0 {
		c.array(0)
		return
	}
	n := z.length()
	var items []zitem
	switch {
	case l < 0:
		if -l > maxRandomCount {
			c.errReply(errRandomCount)
			return
		}
		items = make([]zitem, -l)
		for i := range items {
			items[i] = z.random()
		}
	case l >= int64(n):
		// the whole set, from the highest as Redis
		items = make([]zitem, 0, n)
		z.descend(n-1, func(it zitem) bool { items = append(items, it); return true })
	default:
		items = make([]zitem, 0, l)
		for _, p := range sampleDistinct(n, int(l)) {
			items = append(items, z.atPos(p))
		}
	}
	out := zrangeOut{items: items, withScores: withScores}
	out.reply(c)
}

// ---- ZSCAN ----

// A small set is returned whole (cursor 0), as Redis does for a listpack;
// a large one is scanned through its dict (dict.go), with Redis's
// guarantee.
func cmdZscan(s *server, c *client, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		c.errReply("ERR invalid cursor")
		return
	}
	z, ok := readValue[zsetObj](s, c, args[1], typeZSet)
	if !ok {
		return
	}
	if z == nil {
		emptyScan(c)
		return
	}
	opts, ok := parseScanOpts(c, args[3:])
	if !ok {
		return
	}
	var items []zitem
	var next uint64
	if !z.large() {
		for _, it := range z.lp {
			if opts.match(it.member) {
				items = append(items, it)
			}
		}
	} else {
		next = z.dict.scan(cursor, opts.count, func(e *zentry) {
			if opts.match(e.member) {
				items = append(items, zitem(*e))
			}
		})
	}
	scanReply(c, next, 2*len(items))
	for _, it := range items {
		c.bulkStr(it.member)
		c.bulkScore(it.score)
	}
}

// ---- blocking pops ----

func cmdBzpopmin(s *server, c *client, args [][]byte) { bzpopGeneric(s, c, args, false) }
func cmdBzpopmax(s *server, c *client, args [][]byte) { bzpopGeneric(s, c, args, true) }

func bzpopGeneric(s *server, c *client, args [][]byte, maxSide bool) {
	deadline, ok := s.parseTimeout(c, args[len(args)-1])
	if !ok {
		return
	}
	zblockGeneric(s, c, args[1:len(args)-1], maxSide, 1, false, deadline)
}

func cmdBzmpop(s *server, c *client, args [][]byte) {
	keys, maxSide, count, ok := zmpopArgs(c, args, 2)
	if !ok {
		return
	}
	deadline, ok := s.parseTimeout(c, args[1])
	if !ok {
		return
	}
	zblockGeneric(s, c, keys, maxSide, count, true, deadline)
}

// zblockGeneric pops from the first non-empty sorted set of keys, or blocks
// (Redis's blockingGenericZpopCommand).
func zblockGeneric(s *server, c *client, keys [][]byte, maxSide bool, count int64, nested bool, deadline int64) {
	for _, k := range keys {
		z, ok := writeValue[zsetObj](s, c, k, typeZSet)
		if !ok {
			return
		}
		if z != nil && z.length() > 0 {
			s.zpopReply(c, k, z, maxSide, count, nested)
			return
		}
	}
	if !s.mayBlock(c) {
		c.out = append(c.out, "*-1\r\n"...)
		return
	}
	s.blockClient(c, keys, deadline, func(s *server, c *client, key []byte) bool {
		i := s.lookupKey(c.db, key)
		if i < 0 || s.dbs[c.db].ents[i].typ != typeZSet {
			return false
		}
		z, _ := writeValue[zsetObj](s, c, key, typeZSet)
		if z == nil || z.length() == 0 {
			return false
		}
		s.zpopReply(c, key, z, maxSide, count, nested)
		return true
	}, nil)
}
