package main

import (
	"math"
	"strconv"
	"strings"
)

// Sorted sets. A small set (at most zsetMaxListpackEntries members of at
// most zsetMaxListpackValue bytes, Redis 7.0's zset-max-listpack-entries
// and zset-max-listpack-value defaults) is one sorted slice searched
// linearly by member, as Redis's listpack; a larger one is an
// order-statistic B+ tree (t_zset_tree.go) with a member -> score map, as
// Redis's skiplist + dict. As in Redis, a set becomes large when it
// outgrows the limits and never becomes small again, except that the
// results of ZRANGESTORE, ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE are
// created small when they fit.

const (
	zsetMaxListpackEntries = 128
	zsetMaxListpackValue   = 64
)

// Bytes counted per member (maxmemory, MEMORY USAGE) on top of its length.
const (
	zsetSmallOverhead = 24 + 16
	zsetLargeOverhead = 24 + 56 + 16
	zsetBaseSize      = 64
)

type zsetObj struct {
	lp    []zitem           // small: sorted by (score, member)
	tree  *ztree            // large
	dict  denseDict[zentry] // large: member -> score (dict.go)
	bytes int64             // sum of member lengths
}

// zentry is a large set's member and score in its dict; the member string
// is shared with the tree.
type zentry struct {
	member string
	score  float64
}

func (e zentry) dictKey() string { return e.member }

func init() { registerType[zsetObj](typeZSet, "zset") }

// newZset returns an empty set, small if sizeHint members of at most
// maxLen bytes fit (Redis's zsetTypeCreate).
func newZset(sizeHint, maxLen int) *zsetObj {
	if sizeHint <= zsetMaxListpackEntries && maxLen <= zsetMaxListpackValue {
		return &zsetObj{}
	}
	z := &zsetObj{tree: newZtree()}
	z.dict.ents = make([]zentry, 0, min(sizeHint, 1<<16))
	return z
}

func (z *zsetObj) large() bool { return z.tree != nil }

func (z *zsetObj) encoding() string {
	if z.large() {
		return "skiplist"
	}
	return "listpack"
}

func (z *zsetObj) length() int {
	if z.large() {
		return z.tree.len()
	}
	return len(z.lp)
}

func (z *zsetObj) size() int64 {
	per := int64(zsetSmallOverhead)
	if z.large() {
		per = zsetLargeOverhead
	}
	return zsetBaseSize + z.bytes + per*int64(z.length())
}

func (z *zsetObj) clone() object {
	y := &zsetObj{bytes: z.bytes}
	if z.large() {
		y.tree = z.tree.clone()
		y.dict = z.dict.clone()
	} else {
		y.lp = append([]zitem(nil), z.lp...)
	}
	return y
}

func (z *zsetObj) rewrite(key []byte, emit func(args ...[]byte) error) error {
	args := make([][]byte, 0, 2+2*rewriteBatch)
	var err error
	flush := func() {
		if len(args) > 2 && err == nil {
			err = emit(args...)
		}
		args = args[:2]
	}
	args = append(args, []byte("ZADD"), key)
	z.ascend(0, func(it zitem) bool {
		args = append(args, zfmtScore(nil, it.score), []byte(it.member))
		if len(args) == 2+2*rewriteBatch {
			flush()
		}
		return err == nil
	})
	flush()
	return err
}

// convert turns a small set into a large one.
func (z *zsetObj) convert() {
	if z.large() {
		return
	}
	t := newZtree()
	z.dict.ents = make([]zentry, 0, len(z.lp)+1)
	for _, it := range z.lp {
		t.insert(it)
		z.dict.add(zentry(it))
	}
	z.tree, z.lp = t, nil
}

// zlpScore is a score as a small set keeps it: Redis's listpack stores
// scores as text (d2string), which writes -0 as "0".
func zlpScore(f float64) float64 {
	if f == 0 {
		return 0
	}
	return f
}

// lpFind is the position of member in a small set, or -1.
func (z *zsetObj) lpFind(member []byte) int {
	for i := range z.lp {
		if z.lp[i].member == string(member) {
			return i
		}
	}
	return -1
}

// score returns member's score.
func (z *zsetObj) score(member []byte) (float64, bool) {
	if z.large() {
		if i := z.dict.find(bstr(member)); i >= 0 {
			return z.dict.ents[i].score, true
		}
		return 0, false
	}
	if i := z.lpFind(member); i >= 0 {
		return z.lp[i].score, true
	}
	return 0, false
}

// lpSearch is the position where it goes in a small set.
func (z *zsetObj) lpSearch(it zitem) int {
	lo, hi := 0, len(z.lp)
	for lo < hi {
		m := (lo + hi) / 2
		if zless(z.lp[m], it) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// insert adds member, which is not in the set, with score.
func (z *zsetObj) insert(member []byte, score float64) {
	if !z.large() && (len(z.lp)+1 > zsetMaxListpackEntries || len(member) > zsetMaxListpackValue) {
		z.convert()
	}
	it := zitem{member: string(member), score: score}
	z.bytes += int64(len(member))
	if z.large() {
		z.tree.insert(it)
		z.dict.add(zentry(it))
		return
	}
	it.score = zlpScore(score)
	i := z.lpSearch(it)
	z.lp = append(z.lp, zitem{})
	copy(z.lp[i+1:], z.lp[i:])
	z.lp[i] = it
}

// update changes the score of member, which is in the set with score old.
func (z *zsetObj) update(member []byte, old, score float64) {
	if z.large() {
		m := z.tree.remove(zitem{member: string(member), score: old}).member
		z.tree.insert(zitem{member: m, score: score})
		z.dict.ents[z.dict.find(m)].score = score
		return
	}
	i := z.lpFind(member)
	it := z.lp[i]
	copy(z.lp[i:], z.lp[i+1:])
	z.lp = z.lp[:len(z.lp)-1]
	it.score = zlpScore(score)
	j := z.lpSearch(it)
	z.lp = append(z.lp, zitem{})
	copy(z.lp[j+1:], z.lp[j:])
	z.lp[j] = it
}

// remove deletes member; it reports whether it was there.
func (z *zsetObj) remove(member []byte) bool {
	if z.large() {
		i := z.dict.find(bstr(member))
		if i < 0 {
			return false
		}
		z.tree.remove(zitem(z.dict.ents[i]))
		z.dict.removeAt(i)
		z.bytes -= int64(len(member))
		return true
	}
	i := z.lpFind(member)
	if i < 0 {
		return false
	}
	z.bytes -= int64(len(member))
	copy(z.lp[i:], z.lp[i+1:])
	z.lp[len(z.lp)-1] = zitem{}
	z.lp = z.lp[:len(z.lp)-1]
	return true
}

// count is the number of members satisfying pred, which holds for a
// prefix of the order.
func (z *zsetObj) count(pred func(zitem) bool) int {
	if z.large() {
		return z.tree.count(pred)
	}
	lo, hi := 0, len(z.lp)
	for lo < hi {
		m := (lo + hi) / 2
		if pred(z.lp[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// rank is member's position (0: lowest), or -1.
func (z *zsetObj) rank(member []byte) int {
	s, ok := z.score(member)
	if !ok {
		return -1
	}
	it := zitem{member: string(member), score: s}
	return z.count(func(x zitem) bool { return zless(x, it) })
}

// atPos is the member at position p of the set's unordered storage (the
// dict of a large set: O(1)), 0 <= p < length.
func (z *zsetObj) atPos(p int) zitem {
	if z.large() {
		return zitem(z.dict.ents[p])
	}
	return z.lp[p]
}

// random is a uniformly random member.
func (z *zsetObj) random() zitem { return z.atPos(randIntN(z.length())) }

// ascend calls fn for the members from position from on until it returns
// false.
func (z *zsetObj) ascend(from int, fn func(zitem) bool) {
	if z.large() {
		z.tree.ascend(from, fn)
		return
	}
	for _, it := range z.lp[max(min(from, len(z.lp)), 0):] {
		if !fn(it) {
			return
		}
	}
}

// descend calls fn for the members from position from down to 0 until it
// returns false.
func (z *zsetObj) descend(from int, fn func(zitem) bool) {
	if z.large() {
		z.tree.descend(from, fn)
		return
	}
	for i := min(from, len(z.lp)-1); i >= 0; i-- {
		if !fn(z.lp[i]) {
			return
		}
	}
}

// removeRange deletes the members at positions [from, to) and returns
// them (in order) if keep.
func (z *zsetObj) removeRange(from, to int, keep bool) []zitem {
	if from >= to {
		return nil
	}
	if !z.large() {
		var out []zitem
		if keep {
			out = append(out, z.lp[from:to]...)
		}
		for _, it := range z.lp[from:to] {
			z.bytes -= int64(len(it.member))
		}
		n := copy(z.lp[from:], z.lp[to:])
		clear(z.lp[from+n:])
		z.lp = z.lp[:from+n]
		return out
	}
	out := make([]zitem, 0, to-from)
	z.tree.ascend(from, func(it zitem) bool {
		out = append(out, it)
		return len(out) < to-from
	})
	for _, it := range out {
		z.tree.remove(it)
		z.dict.removeAt(z.dict.find(it.member))
		z.bytes -= int64(len(it.member))
	}
	if !keep {
		return nil
	}
	return out
}

// zfmtScore appends a score as Redis 7.0 replies it (%.17g; inf, -inf).
func zfmtScore(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}

// bulkScore replies a score as a bulk string.
func (c *client) bulkScore(f float64) {
	var buf [32]byte
	c.bulk(zfmtScore(buf[:0], f))
}

// zstrtod parses b as C's strtod, requiring it to consume all of b. It
// reports the value, whether b is a number, and whether the value was out
// of range (strtod's ERANGE: overflow to ±inf, or a non-zero number that
// underflowed to 0). Leading white space is accepted (strtod skips it);
// the callers that refuse it check for it.
func zstrtod(b []byte) (v float64, ok, erange bool) {
	s := string(b)
	i := 0
	for i < len(s) && zisspace(s[i]) {
		i++
	}
	s = s[i:]
	if s == "" {
		return 0, false, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if body == "" {
		return 0, false, false
	}
	hex := len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	for j := 0; j < len(body); j++ {
		ch := body[j]
		// strconv accepts digit separators and a few spellings strtod
		// does not; strtod accepts what remains.
		if ch == '_' {
			return 0, false, false
		}
	}
	// strconv wants "0x1p0"; strtod takes "0x1" too.
	if hex {
		hasP := false
		for j := 2; j < len(body); j++ {
			if body[j] == 'p' || body[j] == 'P' {
				hasP = true
			}
		}
		if !hasP {
			s += "p0"
		}
	} else if !zdecimalOrWord(body) {
		return 0, false, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, isNE := err.(*strconv.NumError); isNE && ne.Err == strconv.ErrRange {
			return v, true, true
		}
		return 0, false, false
	}
	if v == 0 && zmantissaNonZero(body, hex) {
		return 0, true, true
	}
	return v, true, false
}

func zisspace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// zdecimalOrWord reports whether body (no sign) is a decimal number or one
// of the words strtod knows (inf, infinity, nan: any case); strconv alone
// would also take forms such as "0b1" or "0o7" in some versions.
func zdecimalOrWord(body string) bool {
	if strings.EqualFold(body, "inf") || strings.EqualFold(body, "infinity") || strings.EqualFold(body, "nan") {
		return true
	}
	digits, dot, exp := 0, false, false
	for j := 0; j < len(body); j++ {
		ch := body[j]
		switch {
		case ch >= '0' && ch <= '9':
			digits++
		case ch == '.' && !dot && !exp:
			dot = true
		case (ch == 'e' || ch == 'E') && !exp && digits > 0:
			exp = true
			if j+1 < len(body) && (body[j+1] == '+' || body[j+1] == '-') {
				j++
			}
			if j+1 >= len(body) {
				return false
			}
			digits = 0
		default:
			return false
		}
	}
	return digits > 0
}

// zmantissaNonZero reports whether the digits before the exponent include
// a non-zero one.
func zmantissaNonZero(body string, hex bool) bool {
	start := 0
	if hex {
		start = 2
	}
	for j := start; j < len(body); j++ {
		ch := body[j]
		if hex && (ch == 'p' || ch == 'P') || !hex && (ch == 'e' || ch == 'E') {
			break
		}
		if ch >= '1' && ch <= '9' || hex && (ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F') {
			return true
		}
	}
	return false
}

// zparseScore parses a score or increment as Redis's string2d: the whole
// argument, no leading space, no NaN, no overflow or underflow to zero.
func zparseScore(b []byte) (float64, bool) {
	if len(b) == 0 || zisspace(b[0]) {
		return 0, false
	}
	// The common case, an integer that a double holds exactly.
	if len(b) <= 15 {
		if v, ok := parseInt(b); ok {
			return float64(v), true
		}
	}
	v, ok, erange := zstrtod(b)
	if !ok || erange && (math.IsInf(v, 0) || v == 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// zrangeSpec is a score interval (Redis's zrangespec).
type zrangeSpec struct {
	min, max     float64
	minex, maxex bool
}

// zparseRangeItem parses one end of a score range as Redis's zslParseRange:
// "(" makes it exclusive; strtod must reach the end of the argument or a
// NUL byte; overflow gives ±inf; NaN is refused.
func zparseRangeItem(b []byte) (v float64, ex, ok bool) {
	if len(b) > 0 && b[0] == '(' {
		ex = true
		b = b[1:]
	}
	for i, ch := range b {
		if ch == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return 0, ex, true // strtod of "" converts nothing and stops at the end
	}
	v, ok, _ = zstrtod(b)
	if !ok || math.IsNaN(v) {
		return 0, false, false
	}
	return v, ex, true
}

func zparseRange(min, max []byte) (r zrangeSpec, ok bool) {
	var ok1, ok2 bool
	r.min, r.minex, ok1 = zparseRangeItem(min)
	r.max, r.maxex, ok2 = zparseRangeItem(max)
	return r, ok1 && ok2
}

// below is the predicate "score is below the range".
func (r *zrangeSpec) below(it zitem) bool {
	if r.minex {
		return it.score <= r.min
	}
	return it.score < r.min
}

// notAbove is the predicate "score is not above the range".
func (r *zrangeSpec) notAbove(it zitem) bool {
	if r.maxex {
		return it.score < r.max
	}
	return it.score <= r.max
}

// bounds returns the positions [lo, hi) of the members in the range.
func (z *zsetObj) scoreBounds(r *zrangeSpec) (lo, hi int) {
	lo = z.count(r.below)
	hi = z.count(r.notAbove)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// zlexBound is one end of a lex range: "-" (minimum), "+" (maximum), or a
// string, inclusive or not.
type zlexBound struct {
	inf int8 // -1: "-", 1: "+", 0: s
	s   string
	ex  bool
}

type zlexRange struct{ min, max zlexBound }

// zparseLexItem parses one end of a lex range as Redis's
// zslParseLexRangeItem ("+"/"-" alone, "(x" or "[x").
func zparseLexItem(b []byte) (zlexBound, bool) {
	if len(b) == 0 {
		return zlexBound{}, false
	}
	switch b[0] {
	case '+', '-':
		// Redis checks the byte after the sign against the C string's end.
		if len(b) > 1 && b[1] != 0 {
			return zlexBound{}, false
		}
		if b[0] == '+' {
			return zlexBound{inf: 1, ex: true}, true
		}
		return zlexBound{inf: -1, ex: true}, true
	case '(':
		return zlexBound{s: string(b[1:]), ex: true}, true
	case '[':
		return zlexBound{s: string(b[1:])}, true
	}
	return zlexBound{}, false
}

func zparseLexRange(min, max []byte) (r zlexRange, ok bool) {
	var ok1, ok2 bool
	r.min, ok1 = zparseLexItem(min)
	r.max, ok2 = zparseLexItem(max)
	return r, ok1 && ok2
}

// below: member is below the range's minimum.
func (r *zlexRange) below(it zitem) bool {
	switch r.min.inf {
	case -1:
		return false
	case 1:
		return true
	}
	if r.min.ex {
		return it.member <= r.min.s
	}
	return it.member < r.min.s
}

// notAbove: member is not above the range's maximum.
func (r *zlexRange) notAbove(it zitem) bool {
	switch r.max.inf {
	case -1:
		return false
	case 1:
		return true
	}
	if r.max.ex {
		return it.member < r.max.s
	}
	return it.member <= r.max.s
}

func (z *zsetObj) lexBounds(r *zlexRange) (lo, hi int) {
	lo = z.count(r.below)
	hi = z.count(r.notAbove)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}
