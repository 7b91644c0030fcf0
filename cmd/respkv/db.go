package main

import (
	"math/rand/v2"
)

// entry is one key. Entries live in a dense slice: the index maps a key to
// its position, deletion moves the last entry into the hole. That gives O(1)
// RANDOMKEY and a SCAN cursor that is a position (see db.scan).
//
// A string's bytes are val. Any other type's value is an object (types.go)
// whose pointer val carries, as a zero-length slice: strings pay nothing
// for the other types.
type entry struct {
	key  string
	val  []byte // a string's bytes, or an object's pointer (types.go)
	exp  int64  // unix milliseconds; 0 = no expiry
	vpos int32  // position in db.vol, or -1
	typ  uint8
	enc  uint8 // OBJECT ENCODING: encInt, encEmbstr or encRaw
	// shared: an AOF rewrite's snapshot may be reading val; change it in
	// place only after own (aof_rewrite.go).
	shared bool
	lru    uint32 // last access, lruClock (maxmemory LRU policies)
	acct   uint32 // bytes counted for this key in db.used (maxmemory)
}

// db is one of the numbered databases.
type db struct {
	index map[string]int32
	ents  []entry
	vol   []int32 // positions in ents of the keys with an expiry
	used  int64   // bytes counted for the keys (maxmemory)
}

func newDB() *db {
	return &db{index: make(map[string]int32)}
}

func (d *db) size() int { return len(d.ents) }

// find returns the position of key, or -1. It does not look at expiry.
func (d *db) find(key []byte) int {
	i, ok := d.index[string(key)]
	if !ok {
		return -1
	}
	return int(i)
}

// add appends a new key (which must not exist) and returns its position.
func (d *db) add(key []byte, val []byte) int {
	k := string(key)
	v := make([]byte, len(val))
	copy(v, val)
	i := d.addOwned(k, v, typeString)
	d.ents[i].enc = encodingOf(val)
	return i
}

// String encodings, as OBJECT ENCODING reports Redis's: a value SET as an
// integer is "int", other values up to 44 bytes "embstr", longer ones and
// values changed in place (APPEND, SETRANGE, SETBIT) "raw".
const (
	encEmbstr uint8 = iota
	encInt
	encRaw
)

// encodingOf is Redis's tryObjectEncoding for a string value.
func encodingOf(val []byte) uint8 {
	if len(val) <= 20 {
		if _, ok := parseInt(val); ok {
			return encInt
		}
	}
	return embstrOrRaw(len(val))
}

// embstrOrRaw is the encoding of a newly created string object.
func embstrOrRaw(n int) uint8 {
	if n <= 44 {
		return encEmbstr
	}
	return encRaw
}

// addOwned appends a new key with a value the db may keep (for a type
// other than string, val carries the object: see objVal).
func (d *db) addOwned(key string, val []byte, typ uint8) int {
	i := len(d.ents)
	d.ents = append(d.ents, entry{key: key, val: val, vpos: -1, typ: typ})
	d.index[key] = int32(i)
	return i
}

// setVal replaces the value of entry i by a copy of val, reusing its memory
// when that does not waste much.
func (d *db) setVal(i int, val []byte) {
	e := &d.ents[i]
	e.enc = encodingOf(val)
	if !e.shared && cap(e.val) >= len(val) && cap(e.val) <= 2*len(val)+64 {
		e.val = append(e.val[:0], val...)
		return
	}
	v := make([]byte, len(val))
	copy(v, val)
	e.val = v
	e.shared = false
}

// remove deletes the entry at position i.
func (d *db) remove(i int) {
	e := &d.ents[i]
	if e.vpos >= 0 {
		d.unvol(i)
	}
	delete(d.index, e.key)
	d.used -= int64(e.acct)
	last := len(d.ents) - 1
	if i != last {
		d.ents[i] = d.ents[last]
		moved := &d.ents[i]
		d.index[moved.key] = int32(i)
		if moved.vpos >= 0 {
			d.vol[moved.vpos] = int32(i)
		}
	}
	d.ents[last] = entry{}
	d.ents = d.ents[:last]
	if cap(d.ents) > 1024 && len(d.ents) < cap(d.ents)/4 {
		d.ents = append([]entry(nil), d.ents...)
	}
}

// setExpire sets the expiry of entry i (unix ms, > 0).
func (d *db) setExpire(i int, at int64) {
	e := &d.ents[i]
	e.exp = at
	if e.vpos < 0 {
		e.vpos = int32(len(d.vol))
		d.vol = append(d.vol, int32(i))
	}
}

// persist removes the expiry of entry i.
func (d *db) persist(i int) {
	if d.ents[i].vpos >= 0 {
		d.unvol(i)
	}
	d.ents[i].exp = 0
}

func (d *db) unvol(i int) {
	p := d.ents[i].vpos
	last := int32(len(d.vol) - 1)
	if p != last {
		mv := d.vol[last]
		d.vol[p] = mv
		d.ents[mv].vpos = p
	}
	d.vol = d.vol[:last]
	d.ents[i].vpos = -1
	if cap(d.vol) > 1024 && len(d.vol) < cap(d.vol)/4 {
		d.vol = append([]int32(nil), d.vol...)
	}
}

// randomIndex returns a random entry position, or -1.
func (d *db) randomIndex() int {
	if len(d.ents) == 0 {
		return -1
	}
	return rand.IntN(len(d.ents))
}

// flush empties the db.
func (d *db) flush() {
	*d = db{index: make(map[string]int32)}
}

// scan visits up to count positions going down from cursor and returns the
// next cursor (0 when done). Cursor c > 0 means "next position c-1"; 0
// starts at the end. Positions are visited from high to low because
// deletion moves the last entry (already visited, or also not visited)
// into the hole: an entry present for the whole iteration is always
// returned, possibly twice, as Redis promises.
func (d *db) scan(cursor uint64, count int, fn func(e *entry)) uint64 {
	n := uint64(len(d.ents))
	var next uint64 // position to visit + 1
	if cursor == 0 || cursor > n {
		next = n
	} else {
		next = cursor
	}
	for ; next > 0 && count > 0; count-- {
		next--
		fn(&d.ents[next])
	}
	return next
}
