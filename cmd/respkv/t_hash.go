package main

import (
	"math"
	"math/big"
	"slices"
	"strconv"
)

// Hashes: a denseDict of fields, each field and its value in one string
// (one allocation a field). OBJECT ENCODING says "listpack" while Redis 7.0
// would keep one (at most hashMaxListpackEntries fields, no field or value
// longer than hashMaxListpackValue bytes), and fields then keep their
// insertion order as in a listpack (HGETALL answers as Redis does);
// past that it is a "hashtable", for good, and a removal moves the last
// field into the hole.

const (
	hashMaxListpackEntries = 512 // hash-max-listpack-entries (512 in 7.0.15)
	hashMaxListpackValue   = 64  // hash-max-listpack-value
)

// hashField is a field and its value: kv[:flen] and kv[flen:].
type hashField struct {
	kv   string
	flen uint32
}

func (f hashField) dictKey() string { return f.kv[:f.flen] }
func (f hashField) field() string   { return f.kv[:f.flen] }
func (f hashField) value() string   { return f.kv[f.flen:] }

func mkField(field, value []byte) hashField {
	b := make([]byte, 0, len(field)+len(value))
	b = append(append(b, field...), value...)
	return hashField{kv: string(b), flen: uint32(len(field))}
}

type hashObj struct {
	d  denseDict[hashField]
	ht bool
	sz int64
}

const (
	hashFieldOverhead = 40
	hashBaseSize      = 64
)

func init() { registerType[hashObj](typeHash, "hash") }

func (o *hashObj) encoding() string {
	if o.ht {
		return "hashtable"
	}
	return "listpack"
}

func (o *hashObj) size() int64   { return hashBaseSize + o.sz }
func (o *hashObj) length() int   { return o.d.len() }
func (o *hashObj) clone() object { return &hashObj{d: o.d.clone(), ht: o.ht, sz: o.sz} }

func (o *hashObj) rewrite(key []byte, emit func(args ...[]byte) error) error {
	n := o.d.len()
	args := make([][]byte, 0, 2+2*rewriteBatch)
	for i := 0; i < n; i += rewriteBatch {
		args = append(args[:0], []byte("HSET"), key)
		for _, f := range o.d.ents[i:min(i+rewriteBatch, n)] {
			args = append(args, sbytes(f.field()), sbytes(f.value()))
		}
		if err := emit(args...); err != nil {
			return err
		}
	}
	return nil
}

func newHash() *hashObj { return &hashObj{} }

// tryConvert is Redis's hashTypeTryConversion: a listpack hash becomes a
// hashtable when one of args is longer than hashMaxListpackValue (or all
// together would make a listpack past 1 GiB).
func (o *hashObj) tryConvert(args [][]byte) {
	if o.ht {
		return
	}
	sum := 0
	for _, a := range args {
		if len(a) > hashMaxListpackValue {
			o.ht = true
			return
		}
		sum += len(a)
	}
	if sum > 1<<30 {
		o.ht = true
	}
}

func (o *hashObj) get(field []byte) (string, bool) {
	i := o.d.find(bstr(field))
	if i < 0 {
		return "", false
	}
	return o.d.ents[i].value(), true
}

// set sets field to value and reports whether the field is new.
func (o *hashObj) set(field, value []byte) bool {
	if !o.ht && (len(field) > hashMaxListpackValue || len(value) > hashMaxListpackValue) {
		o.ht = true
	}
	f := mkField(field, value)
	if i := o.d.find(bstr(field)); i >= 0 {
		o.sz += int64(len(f.kv)) - int64(len(o.d.ents[i].kv))
		o.d.ents[i] = f
		return false
	}
	o.d.add(f)
	o.sz += int64(len(f.kv)) + hashFieldOverhead
	if !o.ht && o.d.len() > hashMaxListpackEntries {
		o.ht = true
	}
	return true
}

// del removes field and reports whether it was there.
func (o *hashObj) del(field []byte) bool {
	i := o.d.find(bstr(field))
	if i < 0 {
		return false
	}
	o.sz -= int64(len(o.d.ents[i].kv)) + hashFieldOverhead
	if o.ht {
		o.d.removeAt(i)
	} else {
		o.d.removeOrdered(i)
	}
	return true
}

func init() {
	registerCommands(
		&command{name: "hset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Set the string value of a hash field", fn: cmdHset},
		&command{name: "hsetnx", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Set the value of a hash field, only if the field does not exist", fn: cmdHsetnx},
		&command{name: "hget", arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get the value of a hash field", fn: cmdHget},
		&command{name: "hmset", arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Set multiple hash fields to multiple values", fn: cmdHset},
		&command{name: "hmget", arity: -3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get the values of all the given hash fields", fn: cmdHmget},
		&command{name: "hincrby", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Increment the integer value of a hash field by the given number", fn: cmdHincrby},
		&command{name: "hincrbyfloat", arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.6.0", summary: "Increment the float value of a hash field by the given amount", fn: cmdHincrbyfloat},
		&command{name: "hdel", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Delete one or more hash fields", fn: cmdHdel},
		&command{name: "hlen", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get the number of fields in a hash", fn: cmdHlen},
		&command{name: "hstrlen", arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "3.2.0", summary: "Get the length of the value of a hash field", fn: cmdHstrlen},
		&command{name: "hkeys", arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get all the fields in a hash", fn: cmdHkeys},
		&command{name: "hvals", arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get all the values in a hash", fn: cmdHvals},
		&command{name: "hgetall", arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Get all the fields and values in a hash", fn: cmdHgetall},
		&command{name: "hexists", arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "hash", since: "2.0.0", summary: "Determine if a hash field exists", fn: cmdHexists},
		&command{name: "hrandfield", arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "hash", since: "6.2.0", summary: "Get one or multiple random fields from a hash", fn: cmdHrandfield},
		&command{name: "hscan", arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: "hash", since: "2.8.0", summary: "Incrementally iterate hash fields and associated values", fn: cmdHscan},
	)
}

// cmdHset is HSET and HMSET (which answers OK).
func cmdHset(s *server, c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.errReply(errArity(lowerString(args[0])))
		return
	}
	o, ok := createValue(s, c, args[1], typeHash, newHash)
	if !ok {
		return
	}
	if o.d.ents == nil {
		// A new hash: room for exactly these fields (most small hashes
		// are written once).
		o.d.ents = make([]hashField, 0, (len(args)-2)/2)
	}
	o.tryConvert(args[2:])
	created := 0
	for j := 2; j < len(args); j += 2 {
		if o.set(args[j], args[j+1]) {
			created++
		}
	}
	s.written(c.db, args[1])
	if len(args[0]) == 5 { // HMSET
		c.ok()
		return
	}
	c.int(int64(created))
}

func cmdHsetnx(s *server, c *client, args [][]byte) {
	o, ok := createValue(s, c, args[1], typeHash, newHash)
	if !ok {
		return
	}
	if _, found := o.get(args[2]); found {
		c.int(0)
		return
	}
	o.tryConvert(args[2:4])
	o.set(args[2], args[3])
	s.written(c.db, args[1])
	c.int(1)
}

func cmdHget(s *server, c *client, args [][]byte) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil {
		c.null()
		return
	}
	if v, found := o.get(args[2]); found {
		c.bulkStr(v)
	} else {
		c.null()
	}
}

func cmdHmget(s *server, c *client, args [][]byte) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	c.array(len(args) - 2)
	for _, f := range args[2:] {
		if o == nil {
			c.null()
		} else if v, found := o.get(f); found {
			c.bulkStr(v)
		} else {
			c.null()
		}
	}
}

func cmdHincrby(s *server, c *client, args [][]byte) {
	by, ok := parseInt(args[3])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	o, ok := createValue(s, c, args[1], typeHash, newHash)
	if !ok {
		return
	}
	var cur int64
	if v, found := o.get(args[2]); found {
		if cur, ok = parseInt(sbytes(v)); !ok {
			c.errReply("ERR hash value is not an integer")
			return
		}
	}
	if by < 0 && cur < 0 && by < math.MinInt64-cur || by > 0 && cur > 0 && by > math.MaxInt64-cur {
		c.errReply(errOverflow)
		return
	}
	num := strconv.AppendInt(nil, cur+by, 10)
	o.set(args[2], num)
	s.written(c.db, args[1])
	c.int(cur + by)
}

func cmdHincrbyfloat(s *server, c *client, args [][]byte) {
	by, byInf, ok := longDouble(args[3])
	if !ok {
		c.errReply(errNotFloat)
		return
	}
	if byInf {
		c.errReply("ERR value is NaN or Infinity")
		return
	}
	o, ok := createValue(s, c, args[1], typeHash, newHash)
	if !ok {
		return
	}
	cur := new(big.Float).SetPrec(64)
	if v, found := o.get(args[2]); found {
		x, inf, ok := longDouble(sbytes(v))
		if !ok {
			c.errReply("ERR hash value is not a float")
			return
		}
		if inf {
			c.errReply("ERR increment would produce NaN or Infinity")
			return
		}
		cur = x
	}
	cur.Add(cur, by)
	if cur.Sign() != 0 && cur.MantExp(nil) > ldblMaxExp {
		c.errReply("ERR increment would produce NaN or Infinity")
		return
	}
	num := formatLongDouble(cur)
	o.set(args[2], num)
	s.written(c.db, args[1])
	s.propagate(c.db, []byte("HSET"), args[1], args[2], num)
	c.bulk(num)
}

func cmdHdel(s *server, c *client, args [][]byte) {
	o, ok := writeValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil {
		c.int(0)
		return
	}
	n := 0
	for _, f := range args[2:] {
		if o.del(f) {
			n++
			if o.length() == 0 {
				break
			}
		}
	}
	if n > 0 {
		s.written(c.db, args[1])
	}
	c.int(int64(n))
}

func cmdHlen(s *server, c *client, args [][]byte) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil {
		c.int(0)
		return
	}
	c.int(int64(o.length()))
}

func cmdHstrlen(s *server, c *client, args [][]byte) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil {
		c.int(0)
		return
	}
	v, _ := o.get(args[2])
	c.int(int64(len(v)))
}

func cmdHexists(s *server, c *client, args [][]byte) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o != nil {
		if _, found := o.get(args[2]); found {
			c.int(1)
			return
		}
	}
	c.int(0)
}

// hashGetAll replies fields (keys), values (vals) or both.
func hashGetAll(s *server, c *client, args [][]byte, keys, vals bool) {
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil {
		c.array(0)
		return
	}
	n := o.length()
	if keys && vals {
		c.array(2 * n)
	} else {
		c.array(n)
	}
	for _, f := range o.d.ents {
		if keys {
			c.bulkStr(f.field())
		}
		if vals {
			c.bulkStr(f.value())
		}
	}
}

func cmdHkeys(s *server, c *client, args [][]byte)   { hashGetAll(s, c, args, true, false) }
func cmdHvals(s *server, c *client, args [][]byte)   { hashGetAll(s, c, args, false, true) }
func cmdHgetall(s *server, c *client, args [][]byte) { hashGetAll(s, c, args, true, true) }

func cmdHrandfield(s *server, c *client, args [][]byte) {
	if len(args) == 2 {
		o, ok := readValue[hashObj](s, c, args[1], typeHash)
		if !ok {
			return
		}
		if o == nil {
			c.null()
			return
		}
		c.bulkStr(o.d.ents[o.d.random()].field())
		return
	}
	n, ok := parseRandCount(c, args[2])
	if !ok {
		return
	}
	withValues := false
	if len(args) > 4 || len(args) == 4 && !eqFold(args[3], "withvalues") {
		c.errReply(errSyntax)
		return
	}
	if len(args) == 4 {
		withValues = true
		if n < -math.MaxInt64/2 || n > math.MaxInt64/2 {
			c.errReply("ERR value is out of range")
			return
		}
	}
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
	if !ok {
		return
	}
	if o == nil || n == 0 {
		c.array(0)
		return
	}
	reply := func(f hashField) {
		c.bulkStr(f.field())
		if withValues {
			c.bulkStr(f.value())
		}
	}
	per := 1
	if withValues {
		per = 2
	}
	size := o.length()
	if n < 0 || n == 1 {
		count := -n
		if n == 1 {
			count = 1
		}
		if count > maxRandomCount {
			c.errReply(errRandomCount)
			return
		}
		c.array(int(count) * per)
		for range count {
			reply(o.d.ents[o.d.random()])
		}
		return
	}
	if n >= int64(size) {
		c.array(size * per)
		for _, f := range o.d.ents {
			reply(f)
		}
		return
	}
	pos := sampleDistinct(size, int(n))
	if !o.ht {
		slices.Sort(pos) // Redis's listpack sampling keeps the hash's order
	}
	c.array(len(pos) * per)
	for _, i := range pos {
		reply(o.d.ents[i])
	}
}

func cmdHscan(s *server, c *client, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		c.errReply("ERR invalid cursor")
		return
	}
	o, ok := readValue[hashObj](s, c, args[1], typeHash)
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
	var found []hashField
	var next uint64
	if !o.ht {
		// Redis returns a listpack whole, with cursor 0.
		for _, f := range o.d.ents {
			if opts.match(f.field()) {
				found = append(found, f)
			}
		}
	} else {
		next = o.d.scan(cursor, opts.count, func(f *hashField) {
			if opts.match(f.field()) {
				found = append(found, *f)
			}
		})
	}
	scanReply(c, next, 2*len(found))
	for _, f := range found {
		c.bulkStr(f.field())
		c.bulkStr(f.value())
	}
}
