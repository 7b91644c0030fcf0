package main

import (
	"unsafe"
)

// Value types. A string is an entry's bytes; every other type is an object
// (below), registered with registerType by the file that implements it.
const (
	typeString uint8 = iota
	typeList
	typeSet
	typeZSet
	typeHash
	numTypes = 8 // room for more (tests register one at numTypes-1)
)

// object is the value of a key of any type but string. Every method but
// rewrite runs on the loop. The contract:
//
//   - encoding: OBJECT ENCODING's answer, Redis's name where the
//     representation corresponds ("listpack", "quicklist", "hashtable"...).
//   - size: the bytes the value is counted for (maxmemory, MEMORY USAGE);
//     O(1), kept up to date by the type's commands.
//   - length: the number of elements. A command that leaves an object
//     empty deletes its key (s.written does).
//   - clone: a deep copy (COPY, and copy-on-write during an AOF rewrite).
//   - rewrite: emits commands that rebuild the value at key (AOF rewrite),
//     at most rewriteBatch elements per command as Redis does. It runs on
//     the rewriter's goroutine while the loop may read the object, so it
//     must not change anything (no caches filled on read); writes never
//     reach an object a rewrite reads (writeValue copies it first).
type object interface {
	encoding() string
	size() int64
	length() int
	clone() object
	rewrite(key []byte, emit func(args ...[]byte) error) error
}

// rewriteBatch is the most elements one rewritten command carries (Redis's
// AOF_REWRITE_ITEMS_PER_CMD).
const rewriteBatch = 64

// valueType is what the keyspace knows of a type.
type valueType struct {
	name string                      // TYPE, SCAN TYPE
	wrap func(unsafe.Pointer) object // the object behind an entry's pointer
	ptr  func(object) unsafe.Pointer // and back
}

var valueTypes [numTypes]valueType

func init() { valueTypes[typeString].name = "string" }

// registerType declares type typ, named name, whose values are *T. Call it
// from an init function of the type's file.
func registerType[T any, P interface {
	*T
	object
}](typ uint8, name string) {
	if valueTypes[typ].name != "" {
		panic("respkv: type registered twice: " + name)
	}
	valueTypes[typ] = valueType{
		name: name,
		wrap: func(p unsafe.Pointer) object { return P((*T)(p)) },
		ptr:  func(o object) unsafe.Pointer { return unsafe.Pointer(o.(P)) },
	}
}

func typeName(t uint8) string {
	if t < numTypes && valueTypes[t].name != "" {
		return valueTypes[t].name
	}
	return "none"
}

// objVal is how an entry carries an object: a zero-length slice whose data
// pointer is the object. The garbage collector follows it like any pointer
// (it points at the start of the object's allocation), and the entry stays
// 64 bytes. Only objPtr reads it back, with the type tag saying what it is.
func objVal[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), 0)
}

// objPtr is the object of a non-string entry.
func (e *entry) objPtr() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(e.val)) }

// object returns the value of a non-string entry as an object.
func (e *entry) object() object { return valueTypes[e.typ].wrap(e.objPtr()) }

// valueOf returns the value of e, which must hold type T.
func valueOf[T any](e *entry) *T { return (*T)(e.objPtr()) }

// addObject adds a new key (which must not exist) holding object p.
func addObject[T any](d *db, key []byte, typ uint8, p *T) int {
	return d.addOwned(string(key), objVal(p), typ)
}

// readValue looks key up for reading (counting a hit or a miss): the
// value, nil when the key is missing, or ok false after replying WRONGTYPE
// when it holds another type. T must be typ's type.
func readValue[T any](s *server, c *client, key []byte, typ uint8) (v *T, ok bool) {
	i := s.lookupRead(c.db, key)
	if i < 0 {
		return nil, true
	}
	e := &s.dbs[c.db].ents[i]
	if e.typ != typ {
		c.errReply(errWrongType)
		return nil, false
	}
	return valueOf[T](e), true
}

// writeValue is readValue for a command that will change the value (no
// hit/miss counted, as Redis's lookupKeyWrite). The value returned may be
// changed in place: if an AOF rewrite may still be reading it, it is
// replaced by a copy first. After changing it, call s.written.
func writeValue[T any](s *server, c *client, key []byte, typ uint8) (v *T, ok bool) {
	return writeValueDB[T](s, c, c.db, key, typ)
}

// writeValueDB is writeValue in database dbi.
func writeValueDB[T any](s *server, c *client, dbi int, key []byte, typ uint8) (v *T, ok bool) {
	i := s.lookupKey(dbi, key)
	if i < 0 {
		return nil, true
	}
	e := &s.dbs[dbi].ents[i]
	if e.typ != typ {
		c.errReply(errWrongType)
		return nil, false
	}
	s.ownObject(e)
	return valueOf[T](e), true
}

// createValue is writeValue that creates the key, holding mk(), when it is
// missing.
func createValue[T any](s *server, c *client, key []byte, typ uint8, mk func() *T) (v *T, ok bool) {
	v, ok = writeValue[T](s, c, key, typ)
	if !ok || v != nil {
		return v, ok
	}
	v = mk()
	addObject(s.dbs[c.db], key, typ, v)
	s.signalKeyAsReady(c.db, key)
	return v, true
}

// ownObject makes the object of e safe to change in place: while an AOF
// rewrite may read it (flagged shared by the snapshot), it is replaced by a
// clone; once the rewrite is over the flag is merely cleared.
func (s *server) ownObject(e *entry) {
	if !e.shared {
		return
	}
	e.shared = false
	if s.rw.inProgress {
		e.val = e.objectVal(e.object().clone())
	}
}

// objectVal is the val of an entry of e's type holding o.
func (e *entry) objectVal(o object) []byte {
	return unsafe.Slice((*byte)(valueTypes[e.typ].ptr(o)), 0)
}

// written is called after a command changed the value of key in db dbi
// (or tried to and left it empty): a key whose object is empty is deleted,
// then the change is recorded (dirty count, WATCH, maxmemory accounting).
// It does not signal blocked clients: a command that may serve them (a
// push, ZADD...) calls signalKeyAsReady too.
func (s *server) written(dbi int, key []byte) {
	d := s.dbs[dbi]
	if i := d.find(key); i >= 0 {
		if e := &d.ents[i]; e.typ != typeString && e.object().length() == 0 {
			d.remove(i)
		}
	}
	s.modified(dbi, key)
}

// copyValue returns a copy of e's value for a new entry (COPY).
func copyValue(e *entry) []byte {
	if e.typ == typeString {
		v := make([]byte, len(e.val))
		copy(v, e.val)
		return v
	}
	return e.objectVal(e.object().clone())
}
