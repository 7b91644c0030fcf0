package main

import (
	"math"
	"strconv"
)

func cmdDel(s *server, c *client, args [][]byte) {
	var n int64
	d := s.dbs[c.db]
	for _, k := range args[1:] {
		i := s.lookupKey(c.db, k)
		if i >= 0 {
			d.remove(i)
			s.modified(c.db, k)
			n++
		}
	}
	c.int(n)
}

func cmdExists(s *server, c *client, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if s.lookupKey(c.db, k) >= 0 {
			n++
		}
	}
	c.int(n)
}

func cmdType(s *server, c *client, args [][]byte) {
	i := s.lookupKey(c.db, args[1])
	if i < 0 {
		c.simple("none")
		return
	}
	c.simple(typeName(s.dbs[c.db].ents[i].typ))
}

func (s *server) expired(e *entry) bool { return e.exp != 0 && e.exp <= s.now }

func cmdKeys(s *server, c *client, args [][]byte) {
	d := s.dbs[c.db]
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	var keys []string
	for i := range d.ents {
		e := &d.ents[i]
		if s.expired(e) {
			continue
		}
		if all || globMatch(pat, []byte(e.key)) {
			keys = append(keys, e.key)
		}
	}
	c.array(len(keys))
	for _, k := range keys {
		c.bulkStr(k)
	}
}

func cmdScan(s *server, c *client, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		c.errReply("ERR invalid cursor")
		return
	}
	count := int64(10)
	var pat []byte
	var typ []byte
	for j := 2; j < len(args); j += 2 {
		if j+1 >= len(args) {
			c.errReply(errSyntax)
			return
		}
		switch {
		case eqFold(args[j], "count"):
			v, ok := parseInt(args[j+1])
			if !ok {
				c.errReply(errNotInt)
				return
			}
			if v < 1 {
				c.errReply(errSyntax)
				return
			}
			count = v
		case eqFold(args[j], "match"):
			pat = args[j+1]
			if len(pat) == 1 && pat[0] == '*' {
				pat = nil
			}
		case eqFold(args[j], "type"):
			typ = args[j+1]
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if count > math.MaxInt32 {
		count = math.MaxInt32
	}
	d := s.dbs[c.db]
	var keys []string
	var expired []string
	// Redis's order: the pattern first; only keys that match it are
	// checked for expiry (and deleted if expired), then the type.
	next := d.scan(cursor, int(count), func(e *entry) {
		if pat != nil && !globMatch(pat, []byte(e.key)) {
			return
		}
		if s.expired(e) {
			expired = append(expired, e.key)
			return
		}
		if typ != nil && !eqFold(typ, typeName(e.typ)) {
			return
		}
		keys = append(keys, e.key)
	})
	for _, k := range expired {
		s.lookupKey(c.db, []byte(k)) // deletes it
	}
	c.array(2)
	c.bulk(strconv.AppendUint(nil, next, 10))
	c.array(len(keys))
	for _, k := range keys {
		c.bulkStr(k)
	}
}

func cmdRandomkey(s *server, c *client, args [][]byte) {
	d := s.dbs[c.db]
	for tries := 0; ; tries++ {
		i := d.randomIndex()
		if i < 0 {
			c.null()
			return
		}
		e := &d.ents[i]
		if !s.expired(e) {
			c.bulkStr(e.key)
			return
		}
		if tries > 100 && len(d.vol) == len(d.ents) {
			// All keys have an expiry: return an expired one rather than
			// loop for long (Redis does the same on replicas).
			c.bulkStr(e.key)
			return
		}
		s.lookupKey(c.db, []byte(e.key))
	}
}

func (s *server) renameGeneric(c *client, args [][]byte, nx bool) {
	src, dst := args[1], args[2]
	d := s.dbs[c.db]
	i := s.lookupKey(c.db, src)
	if i < 0 {
		c.errReply(errNoSuchKey)
		return
	}
	if string(src) == string(dst) {
		if nx {
			c.int(0)
		} else {
			c.ok()
		}
		return
	}
	// Looking dst up may delete it (expired), moving src: find src again.
	j := s.lookupKey(c.db, dst)
	if j >= 0 {
		if nx {
			c.int(0)
			return
		}
		d.remove(j)
	}
	i = d.find(src)
	e := d.ents[i]
	d.remove(i)
	k := d.addOwned(string(dst), e.val, e.typ)
	d.ents[k].shared = e.shared
	d.ents[k].enc = e.enc
	if e.exp != 0 {
		d.setExpire(k, e.exp)
	}
	s.modified(c.db, src)
	s.modified(c.db, dst)
	s.signalKeyAsReady(c.db, dst)
	if nx {
		c.int(1)
	} else {
		c.ok()
	}
}

func cmdRename(s *server, c *client, args [][]byte)   { s.renameGeneric(c, args, false) }
func cmdRenamenx(s *server, c *client, args [][]byte) { s.renameGeneric(c, args, true) }

// dbIndex parses a database number.
func dbIndex(b []byte) (int, string) {
	v, ok := parseInt(b)
	if !ok {
		return 0, errNotInt
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, "ERR value is out of range, value must between -2147483648 and 2147483647"
	}
	if v < 0 || v >= numDBs {
		return 0, errDBRange
	}
	return int(v), ""
}

func cmdCopy(s *server, c *client, args [][]byte) {
	src, dst := args[1], args[2]
	dstDB := c.db
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			n, msg := dbIndex(args[j+1])
			if msg != "" {
				c.errReply(msg)
				return
			}
			dstDB = n
			j++
		default:
			c.errReply(errSyntax)
			return
		}
	}
	if dstDB == c.db && string(src) == string(dst) {
		c.errReply(errSameObject)
		return
	}
	i := s.lookupKey(c.db, src)
	if i < 0 {
		c.int(0)
		return
	}
	dd := s.dbs[dstDB]
	j := s.lookupKey(dstDB, dst)
	if j >= 0 {
		if !replace {
			c.int(0)
			return
		}
		dd.remove(j)
	}
	// Looking dst up or removing it may have moved src (same db).
	i = s.dbs[c.db].find(src)
	e := s.dbs[c.db].ents[i]
	k := dd.addOwned(string(dst), copyValue(&e), e.typ)
	dd.ents[k].enc = e.enc
	if e.exp != 0 {
		dd.setExpire(k, e.exp)
	}
	s.modified(dstDB, dst)
	s.signalKeyAsReady(dstDB, dst)
	c.int(1)
}

func cmdMove(s *server, c *client, args [][]byte) {
	to, msg := dbIndex(args[2])
	if msg != "" {
		c.errReply(msg)
		return
	}
	if to == c.db {
		c.errReply(errSameObject)
		return
	}
	i := s.lookupKey(c.db, args[1])
	if i < 0 {
		c.int(0)
		return
	}
	if s.lookupKey(to, args[1]) >= 0 {
		c.int(0)
		return
	}
	d := s.dbs[c.db]
	e := d.ents[i]
	d.remove(i)
	dd := s.dbs[to]
	k := dd.addOwned(e.key, e.val, e.typ)
	dd.ents[k].shared = e.shared
	dd.ents[k].enc = e.enc
	if e.exp != 0 {
		dd.setExpire(k, e.exp)
	}
	s.modified(c.db, args[1])
	s.modified(to, args[1])
	s.signalKeyAsReady(to, args[1])
	c.int(1)
}

func cmdDbsize(s *server, c *client, args [][]byte) {
	c.int(int64(s.dbs[c.db].size()))
}

func flushArgs(c *client, args [][]byte) bool {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync")) {
		c.errReply(errSyntax)
		return false
	}
	return true
}

func cmdFlushdb(s *server, c *client, args [][]byte) {
	if !flushArgs(c, args) {
		return
	}
	s.touchAll(c.db, -1)
	s.dirty += uint64(s.dbs[c.db].size()) + 1
	s.dbs[c.db].flush()
	c.ok()
}

func cmdFlushall(s *server, c *client, args [][]byte) {
	if !flushArgs(c, args) {
		return
	}
	for i := range s.dbs {
		s.touchAll(i, -1)
		s.dbs[i].flush()
	}
	s.dirty++
	c.ok()
}

func cmdSelect(s *server, c *client, args [][]byte) {
	n, msg := dbIndex(args[1])
	if msg != "" {
		c.errReply(msg)
		return
	}
	c.db = n
	c.ok()
}

func cmdSwapdb(s *server, c *client, args [][]byte) {
	a, ok := parseInt(args[1])
	if !ok || a < math.MinInt32 || a > math.MaxInt32 {
		c.errReply("ERR invalid first DB index")
		return
	}
	b, ok := parseInt(args[2])
	if !ok || b < math.MinInt32 || b > math.MaxInt32 {
		c.errReply("ERR invalid second DB index")
		return
	}
	if a < 0 || a >= numDBs || b < 0 || b >= numDBs {
		c.errReply(errDBRange)
		return
	}
	if a != b {
		s.touchAll(int(a), int(b))
		s.touchAll(int(b), int(a))
		s.dbs[a], s.dbs[b] = s.dbs[b], s.dbs[a]
		s.signalDBAsReady(int(a))
		s.signalDBAsReady(int(b))
	}
	s.dirty++
	c.ok()
}

// Expiry.

const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

func (s *server) expireGeneric(c *client, args [][]byte, base int64, seconds bool, name string) {
	flags := 0
	for _, a := range args[3:] {
		switch {
		case eqFold(a, "nx"):
			flags |= expNX
		case eqFold(a, "xx"):
			flags |= expXX
		case eqFold(a, "gt"):
			flags |= expGT
		case eqFold(a, "lt"):
			flags |= expLT
		default:
			c.errReply("ERR Unsupported option " + string(a))
			return
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		c.errReply("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		c.errReply("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	bad := "ERR invalid expire time in '" + name + "' command"
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.errReply(bad)
			return
		}
		when *= 1000
	}
	if when > math.MaxInt64-base {
		c.errReply(bad)
		return
	}
	when += base
	i := s.lookupKey(c.db, args[1])
	if i < 0 {
		c.int(0)
		return
	}
	d := s.dbs[c.db]
	cur := d.ents[i].exp
	if flags != 0 {
		if flags&expNX != 0 && cur != 0 ||
			flags&expXX != 0 && cur == 0 ||
			flags&expGT != 0 && (cur == 0 || when <= cur) ||
			flags&expLT != 0 && cur != 0 && when >= cur {
			c.int(0)
			return
		}
	}
	if when <= s.now && !s.loading {
		d.remove(i)
		s.modified(c.db, args[1])
		s.propagate(c.db, []byte("DEL"), args[1])
		c.int(1)
		return
	}
	d.setExpire(i, when)
	s.modified(c.db, args[1])
	s.propagate(c.db, []byte("PEXPIREAT"), args[1], strconv.AppendInt(nil, when, 10))
	c.int(1)
}

func cmdExpire(s *server, c *client, args [][]byte) {
	s.expireGeneric(c, args, s.now, true, "expire")
}
func cmdPexpire(s *server, c *client, args [][]byte) {
	s.expireGeneric(c, args, s.now, false, "pexpire")
}
func cmdExpireat(s *server, c *client, args [][]byte) {
	s.expireGeneric(c, args, 0, true, "expireat")
}
func cmdPexpireat(s *server, c *client, args [][]byte) {
	s.expireGeneric(c, args, 0, false, "pexpireat")
}

func (s *server) ttlGeneric(c *client, key []byte, ms, abs bool) {
	i := s.lookupRead(c.db, key)
	if i < 0 {
		c.int(-2)
		return
	}
	exp := s.dbs[c.db].ents[i].exp
	if exp == 0 {
		c.int(-1)
		return
	}
	if abs {
		if ms {
			c.int(exp)
		} else {
			c.int(roundSeconds(exp)) // Redis rounds, as for TTL
		}
		return
	}
	left := max(exp-s.now, 0)
	if ms {
		c.int(left)
	} else {
		c.int(roundSeconds(left))
	}
}

func cmdTTL(s *server, c *client, args [][]byte)         { s.ttlGeneric(c, args[1], false, false) }
func cmdPTTL(s *server, c *client, args [][]byte)        { s.ttlGeneric(c, args[1], true, false) }
func cmdExpiretime(s *server, c *client, args [][]byte)  { s.ttlGeneric(c, args[1], false, true) }
func cmdPexpiretime(s *server, c *client, args [][]byte) { s.ttlGeneric(c, args[1], true, true) }

func cmdPersist(s *server, c *client, args [][]byte) {
	i := s.lookupKey(c.db, args[1])
	if i < 0 || s.dbs[c.db].ents[i].exp == 0 {
		c.int(0)
		return
	}
	s.dbs[c.db].persist(i)
	s.modified(c.db, args[1])
	c.int(1)
}

// parseCursor parses a SCAN cursor as Redis's strtoul does: an optional
// sign ("-1" wraps around), decimal digits, no spaces, no overflow.
// roundSeconds converts ms >= 0 to the nearest second without overflowing
// near MaxInt64 (Redis's (ttl+500)/1000 gives 9223372036854776 there).
func roundSeconds(ms int64) int64 {
	return int64((uint64(ms) + 500) / 1000)
}

func parseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, true // strtoul of "" is 0, with nothing left over
	}
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}
