package main

import (
	"bytes"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// getString returns the position of a live string key, -1 when missing, or
// -2 (after replying WRONGTYPE) when it holds another type.
func (s *server) getString(c *client, key []byte) int {
	i := s.lookupRead(c.db, key)
	if i >= 0 && s.dbs[c.db].ents[i].typ != typeString {
		c.errReply(errWrongType)
		return -2
	}
	return i
}

func cmdGet(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	switch {
	case i >= 0:
		c.bulkEntry(&s.dbs[c.db].ents[i])
	case i == -1:
		c.null()
	}
}

// setKey stores val at key (a new string, or over any old value), dropping
// the expiry unless keepTTL. It returns the position.
func (s *server) setKey(dbi int, key, val []byte, keepTTL bool) int {
	return s.setKeyAt(dbi, s.dbs[dbi].find(key), key, val, keepTTL)
}

// setKeyAt is setKey when the key's position (or -1) is known.
func (s *server) setKeyAt(dbi, i int, key, val []byte, keepTTL bool) int {
	d := s.dbs[dbi]
	if i < 0 {
		i = s.addVal(d, key, val)
	} else {
		e := &d.ents[i]
		if e.typ != typeString {
			e.typ = typeString
			e.val = nil
		}
		s.setValKeep(d, i, val)
		if !keepTTL && e.exp != 0 {
			d.persist(i)
		}
	}
	s.modified(dbi, key)
	return i
}

const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setEX
	setPX
	setEXAT
	setPXAT
	setPersist // GETEX
)

// parseExpireArgs parses SET's (or GETEX's) options from args. It returns
// the flags and the absolute expiry in ms, or an error text.
func (s *server) parseSetArgs(args [][]byte, getex bool, cmdName string) (flags int, at int64, errMsg string) {
	var expArg []byte
	for j := 0; j < len(args); j++ {
		a := args[j]
		hasNext := j+1 < len(args)
		switch {
		case !getex && eqFold(a, "nx") && flags&(setXX) == 0:
			flags |= setNX
		case !getex && eqFold(a, "xx") && flags&(setNX) == 0:
			flags |= setXX
		case !getex && eqFold(a, "get"):
			flags |= setGet
		case !getex && eqFold(a, "keepttl") && flags&(setEX|setPX|setEXAT|setPXAT|setPersist) == 0:
			flags |= setKeepTTL
		case getex && eqFold(a, "persist") && flags&(setEX|setPX|setEXAT|setPXAT|setKeepTTL) == 0:
			flags |= setPersist
		case eqFold(a, "ex") && flags&(setKeepTTL|setPersist|setPX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setEX
			j++
			expArg = args[j]
		case eqFold(a, "px") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setPX
			j++
			expArg = args[j]
		case eqFold(a, "exat") && flags&(setKeepTTL|setPersist|setEX|setPX|setPXAT) == 0 && hasNext:
			flags |= setEXAT
			j++
			expArg = args[j]
		case eqFold(a, "pxat") && flags&(setKeepTTL|setPersist|setEX|setPX|setEXAT) == 0 && hasNext:
			flags |= setPXAT
			j++
			expArg = args[j]
		default:
			return 0, 0, errSyntax
		}
	}
	if expArg != nil {
		v, ok := parseInt(expArg)
		if !ok {
			return 0, 0, errNotInt
		}
		if v <= 0 {
			return 0, 0, "ERR invalid expire time in '" + cmdName + "' command"
		}
		if flags&(setEX|setEXAT) != 0 {
			if v > math.MaxInt64/1000 {
				return 0, 0, "ERR invalid expire time in '" + cmdName + "' command"
			}
			v *= 1000
		}
		if flags&(setEX|setPX) != 0 {
			if v > math.MaxInt64-s.now {
				return 0, 0, "ERR invalid expire time in '" + cmdName + "' command"
			}
			v += s.now
		}
		at = v
	}
	return flags, at, ""
}

func cmdSet(s *server, c *client, args [][]byte) {
	flags, at, msg := s.parseSetArgs(args[3:], false, "set")
	if msg != "" {
		c.errReply(msg)
		return
	}
	s.setGeneric(c, args, flags, at)
}

func (s *server) setGeneric(c *client, args [][]byte, flags int, at int64) {
	key, val := args[1], args[2]
	d := s.dbs[c.db]
	i := s.lookupKey(c.db, key)
	if flags&setGet != 0 {
		if i >= 0 && d.ents[i].typ != typeString {
			c.errReply(errWrongType)
			return
		}
		if i >= 0 {
			c.bulkEntry(&d.ents[i])
		} else {
			c.null()
		}
	}
	if (flags&setNX != 0 && i >= 0) || (flags&setXX != 0 && i < 0) {
		if flags&setGet == 0 {
			c.null()
		}
		return
	}
	i = s.setKeyAt(c.db, i, key, val, flags&setKeepTTL != 0)
	if at != 0 {
		d.setExpire(i, at)
		if flags&setPXAT == 0 {
			s.propagate(c.db, []byte("SET"), key, val, []byte("PXAT"), strconv.AppendInt(nil, at, 10))
		}
	}
	if flags&setGet == 0 {
		c.ok()
	}
}

func cmdSetnx(s *server, c *client, args [][]byte) {
	if s.lookupKey(c.db, args[1]) >= 0 {
		c.int(0)
		return
	}
	s.setKey(c.db, args[1], args[2], false)
	c.int(1)
}

func (s *server) setexGeneric(c *client, key, ttl, val []byte, ms bool, name string) {
	v, ok := parseInt(ttl)
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if v <= 0 || (!ms && v > math.MaxInt64/1000) {
		c.errReply("ERR invalid expire time in '" + name + "' command")
		return
	}
	if !ms {
		v *= 1000
	}
	if v > math.MaxInt64-s.now {
		c.errReply("ERR invalid expire time in '" + name + "' command")
		return
	}
	at := s.now + v
	i := s.setKey(c.db, key, val, false)
	s.dbs[c.db].setExpire(i, at)
	s.propagate(c.db, []byte("SET"), key, val, []byte("PXAT"), strconv.AppendInt(nil, at, 10))
	c.ok()
}

func cmdSetex(s *server, c *client, args [][]byte) {
	s.setexGeneric(c, args[1], args[2], args[3], false, "setex")
}

func cmdPsetex(s *server, c *client, args [][]byte) {
	s.setexGeneric(c, args[1], args[2], args[3], true, "psetex")
}

func cmdGetset(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	if i >= 0 {
		c.bulkEntry(&s.dbs[c.db].ents[i])
	} else {
		c.null()
	}
	s.setKey(c.db, args[1], args[2], false)
}

func cmdGetdel(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	if i < 0 {
		if i == -1 {
			c.null()
		}
		return
	}
	d := s.dbs[c.db]
	c.bulkEntry(&d.ents[i])
	d.remove(i)
	s.modified(c.db, args[1])
	s.propagate(c.db, []byte("DEL"), args[1])
}

func cmdGetex(s *server, c *client, args [][]byte) {
	// Redis checks the option syntax, then looks the key up, then checks
	// the expire time: a missing key answers nil even with a bad time.
	if _, _, msg := s.parseSetArgs(args[2:], true, "getex"); msg == errSyntax {
		c.errReply(msg)
		return
	}
	i := s.getString(c, args[1])
	if i < 0 {
		if i == -1 {
			c.null()
		}
		return
	}
	flags, at, msg := s.parseSetArgs(args[2:], true, "getex")
	if msg != "" {
		c.errReply(msg)
		return
	}
	d := s.dbs[c.db]
	c.bulkEntry(&d.ents[i])
	switch {
	case at != 0 && at <= s.now:
		d.remove(i)
		s.modified(c.db, args[1])
		s.propagate(c.db, []byte("DEL"), args[1])
	case at != 0:
		d.setExpire(i, at)
		s.modified(c.db, args[1])
		s.propagate(c.db, []byte("PEXPIREAT"), args[1], strconv.AppendInt(nil, at, 10))
	case flags&setPersist != 0 && d.ents[i].exp != 0:
		d.persist(i)
		s.modified(c.db, args[1])
		s.propagate(c.db, []byte("PERSIST"), args[1])
	}
}

func cmdMget(s *server, c *client, args [][]byte) {
	c.array(len(args) - 1)
	d := s.dbs[c.db]
	for _, k := range args[1:] {
		i := s.lookupRead(c.db, k)
		if i < 0 || d.ents[i].typ != typeString {
			c.null()
		} else {
			c.bulkEntry(&d.ents[i])
		}
	}
}

func cmdMset(s *server, c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.errReply(errArity("mset"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		s.setKey(c.db, args[j], args[j+1], false)
	}
	c.ok()
}

func cmdMsetnx(s *server, c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.errReply(errArity("msetnx"))
		return
	}
	for j := 1; j < len(args); j += 2 {
		if s.lookupKey(c.db, args[j]) >= 0 {
			c.int(0)
			return
		}
	}
	for j := 1; j < len(args); j += 2 {
		s.setKey(c.db, args[j], args[j+1], false)
	}
	c.int(1)
}

const errTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

// fits reports whether a string of size bytes grown by add bytes stays
// within proto-max-bulk-len (Redis's checkStringLength). Both are >= 0; the
// comparison cannot overflow.
func (s *server) fits(size, add int64) bool {
	return size <= s.cfg.MaxReq && add <= s.cfg.MaxReq-size
}

// grow returns v extended to n bytes (if shorter), the new bytes zero: the
// capacity beyond len(v) may hold an older, longer value's bytes.
func grow(v []byte, n int) []byte {
	if len(v) >= n {
		return v
	}
	if cap(v) >= n {
		old := len(v)
		v = v[:n]
		clear(v[old:])
		return v
	}
	nv := make([]byte, n, n+n/4)
	copy(nv, v)
	return nv
}

func cmdAppend(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	d := s.dbs[c.db]
	if i == -1 {
		d.add(args[1], args[2])
		s.modified(c.db, args[1])
		c.int(int64(len(args[2])))
		return
	}
	e := &d.ents[i]
	if !s.fits(int64(len(e.val)), int64(len(args[2]))) {
		c.errReply(errTooLong)
		return
	}
	e.val = append(e.val, args[2]...)
	e.enc = encRaw
	s.modified(c.db, args[1])
	c.int(int64(len(e.val)))
}

func cmdStrlen(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	switch {
	case i >= 0:
		c.int(int64(len(s.dbs[c.db].ents[i].val)))
	case i == -1:
		c.int(0)
	}
}

func cmdGetrange(s *server, c *client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.errReply(errNotInt)
		return
	}
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	if i == -1 {
		c.bulk(nil)
		return
	}
	str := s.dbs[c.db].ents[i].val
	n := int64(len(str))
	if start < 0 && end < 0 && start > end {
		c.bulk(nil)
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 0
	}
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		c.bulk(nil)
		return
	}
	c.bulk(str[start : end+1])
}

func cmdSetrange(s *server, c *client, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if off < 0 {
		c.errReply("ERR offset is out of range")
		return
	}
	val := args[3]
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	d := s.dbs[c.db]
	if i == -1 {
		if len(val) == 0 {
			c.int(0)
			return
		}
		if !s.fits(off, int64(len(val))) {
			c.errReply(errTooLong)
			return
		}
		i = d.add(args[1], nil)
	} else {
		if len(val) == 0 {
			c.int(int64(len(d.ents[i].val)))
			return
		}
		if !s.fits(off, int64(len(val))) {
			c.errReply(errTooLong)
			return
		}
	}
	d.own(i)
	e := &d.ents[i]
	e.val = grow(e.val, int(off)+len(val))
	copy(e.val[off:], val)
	e.enc = encRaw
	s.modified(c.db, args[1])
	c.int(int64(len(e.val)))
}

func (s *server) incrGeneric(c *client, key []byte, by int64) {
	i := s.getString(c, key)
	if i == -2 {
		return
	}
	d := s.dbs[c.db]
	var cur int64
	if i >= 0 {
		v, ok := parseInt(d.ents[i].val)
		if !ok {
			c.errReply(errNotInt)
			return
		}
		cur = v
	}
	if (by < 0 && cur < 0 && by < math.MinInt64-cur) || (by > 0 && cur > 0 && by > math.MaxInt64-cur) {
		c.errReply(errOverflow)
		return
	}
	cur += by
	var buf [24]byte
	num := strconv.AppendInt(buf[:0], cur, 10)
	if i >= 0 {
		d.own(i)
		d.ents[i].val = append(d.ents[i].val[:0], num...)
		d.ents[i].enc = encInt // Redis makes a new integer object
	} else {
		d.add(key, num)
	}
	s.modified(c.db, key)
	c.int(cur)
}

func cmdIncr(s *server, c *client, args [][]byte) { s.incrGeneric(c, args[1], 1) }
func cmdDecr(s *server, c *client, args [][]byte) { s.incrGeneric(c, args[1], -1) }

func cmdIncrby(s *server, c *client, args [][]byte) {
	by, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	s.incrGeneric(c, args[1], by)
}

func cmdDecrby(s *server, c *client, args [][]byte) {
	by, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if by == math.MinInt64 {
		c.errReply("ERR decrement would overflow")
		return
	}
	s.incrGeneric(c, args[1], -by)
}

// longDouble parses a float argument as Redis's string2ld does (strtold,
// then refusing leading spaces, trailing bytes, NaN, overflow and underflow
// to zero) into a big.Float with the 64-bit mantissa of an x87 long
// double. inf reports an infinite value (accepted by string2ld; the sum is
// then refused).
func longDouble(b []byte) (x *big.Float, inf, ok bool) {
	kind, ok := strtoldSyntax(b)
	if !ok {
		return nil, false, false
	}
	switch kind {
	case numNaN:
		return nil, false, false
	case numInf:
		return nil, true, true
	}
	str := string(b)
	if kind == numHex && !strings.ContainsAny(str, "pP") {
		str += "p0"
	}
	x = new(big.Float).SetPrec(64)
	if _, ok := x.SetString(str); !ok {
		return nil, false, false
	}
	if x.Sign() != 0 {
		if exp := x.MantExp(nil); exp > ldblMaxExp || exp < ldblMinExp {
			return nil, false, false // ERANGE: HUGE_VAL or zero
		}
	}
	return x, false, true
}

// The binary exponent range of an x87 long double, as big.Float.MantExp
// reports it (0.5 <= mantissa < 1): LDBL_MAX < 2^16384, the smallest
// denormal is 2^-16445.
const (
	ldblMaxExp = 16384
	ldblMinExp = -16444
)

const (
	numDecimal = iota
	numHex
	numInf
	numNaN
)

// strtoldSyntax reports whether all of b is one number as C's strtold
// reads it: [sign] then decimal digits with optional '.' and e-exponent,
// 0x and hex digits with optional '.' and p-exponent, inf, infinity, nan
// or nan(chars). Leading spaces are refused (Redis checks isspace first);
// so is anything after the number, and anything of 5120 bytes or more.
func strtoldSyntax(b []byte) (kind int, ok bool) {
	if len(b) == 0 || len(b) >= 5*1024 {
		return 0, false
	}
	i := 0
	if b[0] == '+' || b[0] == '-' {
		i++
	}
	rest := strings.ToLower(string(b[i:]))
	switch {
	case rest == "inf" || rest == "infinity":
		return numInf, true
	case rest == "nan":
		return numNaN, true
	case strings.HasPrefix(rest, "nan(") && strings.HasSuffix(rest, ")"):
		for _, ch := range rest[4 : len(rest)-1] {
			if !(ch == '_' || '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z') {
				return 0, false
			}
		}
		return numNaN, true
	}
	isDigit := func(ch byte) bool { return '0' <= ch && ch <= '9' }
	isHexDigit := func(ch byte) bool { return isDigit(ch) || 'a' <= ch && ch <= 'f' }
	digit, expCh, kind := isDigit, byte('e'), numDecimal
	if len(rest) > 2 && rest[0] == '0' && rest[1] == 'x' && (isHexDigit(rest[2]) || rest[2] == '.' && len(rest) > 3 && isHexDigit(rest[3])) {
		digit, expCh, kind = isHexDigit, 'p', numHex
		rest = rest[2:]
	}
	j, n := 0, 0
	for j < len(rest) && digit(rest[j]) {
		j++
		n++
	}
	if j < len(rest) && rest[j] == '.' {
		j++
		for j < len(rest) && digit(rest[j]) {
			j++
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	if j < len(rest) && rest[j] == expCh {
		j++
		if j < len(rest) && (rest[j] == '+' || rest[j] == '-') {
			j++
		}
		e := 0
		for j < len(rest) && isDigit(rest[j]) {
			j++
			e++
		}
		if e == 0 {
			return 0, false
		}
	}
	return kind, j == len(rest)
}

// formatLongDouble formats x as Redis's ld2string(LD_STR_HUMAN) does:
// "%.17Lf" without trailing zeros.
func formatLongDouble(x *big.Float) []byte {
	out := []byte(x.Text('f', 17))
	if bytes.IndexByte(out, '.') >= 0 {
		out = bytes.TrimRight(out, "0")
		out = bytes.TrimSuffix(out, []byte("."))
	}
	if string(out) == "-0" {
		out = []byte("0")
	}
	return out
}

func cmdIncrbyfloat(s *server, c *client, args [][]byte) {
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	d := s.dbs[c.db]
	cur, curInf := new(big.Float).SetPrec(64), false
	if i >= 0 {
		v, inf, ok := longDouble(d.ents[i].val)
		if !ok {
			c.errReply(errNotFloat)
			return
		}
		cur, curInf = v, inf
	}
	by, byInf, ok := longDouble(args[2])
	if !ok {
		c.errReply(errNotFloat)
		return
	}
	if curInf || byInf {
		c.errReply("ERR increment would produce NaN or Infinity")
		return
	}
	cur.Add(cur, by)
	if cur.Sign() != 0 && cur.MantExp(nil) > ldblMaxExp {
		c.errReply("ERR increment would produce NaN or Infinity")
		return
	}
	num := formatLongDouble(cur)
	if i < 0 {
		i = d.add(args[1], num)
	} else {
		d.setVal(i, num)
	}
	d.ents[i].enc = embstrOrRaw(len(num))
	s.modified(c.db, args[1])
	s.propagate(c.db, []byte("SET"), args[1], num, []byte("KEEPTTL"))
	c.bulk(num)
}

func (s *server) bitOffset(c *client, arg []byte) (int64, bool) {
	off, ok := parseInt(arg)
	if !ok || off < 0 || off>>3 >= s.cfg.MaxReq {
		c.errReply("ERR bit offset is not an integer or out of range")
		return 0, false
	}
	return off, true
}

func cmdSetbit(s *server, c *client, args [][]byte) {
	off, ok := s.bitOffset(c, args[2])
	if !ok {
		return
	}
	on, ok := parseInt(args[3])
	if !ok || on&^1 != 0 {
		c.errReply("ERR bit is not an integer or out of range")
		return
	}
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	d := s.dbs[c.db]
	if i == -1 {
		i = d.add(args[1], nil)
	}
	d.own(i)
	e := &d.ents[i]
	byteIdx := int(off >> 3)
	e.val = grow(e.val, byteIdx+1)
	e.enc = encRaw
	bit := byte(7 - off&7)
	old := (e.val[byteIdx] >> bit) & 1
	e.val[byteIdx] &^= 1 << bit
	e.val[byteIdx] |= byte(on) << bit
	s.modified(c.db, args[1])
	c.int(int64(old))
}

func cmdGetbit(s *server, c *client, args [][]byte) {
	off, ok := s.bitOffset(c, args[2])
	if !ok {
		return
	}
	i := s.getString(c, args[1])
	if i == -2 {
		return
	}
	if i == -1 {
		c.int(0)
		return
	}
	v := s.dbs[c.db].ents[i].val
	byteIdx := off >> 3
	if byteIdx >= int64(len(v)) {
		c.int(0)
		return
	}
	c.int(int64(v[byteIdx]>>(7-off&7)) & 1)
}
