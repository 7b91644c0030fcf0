package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// typeTest is a type registered by the tests only: it checks that the key
// commands treat every type through the object contract.
const typeTest = numTypes - 1

type testObj struct{ items []string }

func (o *testObj) encoding() string { return "testenc" }
func (o *testObj) size() int64      { return int64(1000 * len(o.items)) }
func (o *testObj) length() int      { return len(o.items) }
func (o *testObj) clone() object    { return &testObj{items: slices.Clone(o.items)} }
func (o *testObj) rewrite(key []byte, emit func(args ...[]byte) error) error {
	for i := 0; i < len(o.items); i += rewriteBatch {
		args := [][]byte{[]byte("TPUSH"), key}
		for _, it := range o.items[i:min(i+rewriteBatch, len(o.items))] {
			args = append(args, []byte(it))
		}
		if err := emit(args...); err != nil {
			return err
		}
	}
	return nil
}

func init() { registerType[testObj](typeTest, "testtype") }

// addTest stores a test object at key in the client's database.
func (k *core) addTest(key string, items ...string) *testObj {
	o := &testObj{items: items}
	addObject(k.s.dbs[k.c.db], []byte(key), typeTest, o)
	return o
}

func (k *core) testObj(dbi int, key string) *testObj {
	i := k.s.dbs[dbi].find([]byte(key))
	if i < 0 || k.s.dbs[dbi].ents[i].typ != typeTest {
		return nil
	}
	return valueOf[testObj](&k.s.dbs[dbi].ents[i])
}

func TestTypeKeyCommands(t *testing.T) {
	k := newCore(t)
	k.addTest("t", "a", "b")
	k.do("SET s 1")
	for _, step := range []struct{ cmd, want string }{
		{"TYPE t", "testtype"},
		{"TYPE s", "string"},
		{"EXISTS t s nope", "(integer) 2"},
		{"GET t", "(error) WRONGTYPE Operation against a key holding the wrong kind of value"},
		{"APPEND t x", "(error) WRONGTYPE Operation against a key holding the wrong kind of value"},
		{"OBJECT ENCODING t", `"testenc"`},
		{"OBJECT REFCOUNT t", "(integer) 1"},
		{"SCAN 0 TYPE testtype COUNT 100", `["0", ["t"]]`},
		{"SCAN 0 TYPE string COUNT 100", `["0", ["s"]]`},
		{"EXPIRE t 100", "(integer) 1"},
		{"RENAME t u", "OK"},
		{"TYPE t", "none"},
		{"TYPE u", "testtype"},
		{"TTL u", "(integer) 100"},
		{"COPY u v", "(integer) 1"},
		{"TTL v", "(integer) 100"},
		{"MOVE v 1", "(integer) 1"},
		{"SELECT 1", "OK"},
		{"TYPE v", "testtype"},
		{"SELECT 0", "OK"},
		{"SET u x", "OK"}, // SET replaces any type
		{"TYPE u", "string"},
		{"GET u", `"x"`},
	} {
		if got := k.do(step.cmd); got != step.want {
			t.Fatalf("%s: got %s, want %s", step.cmd, got, step.want)
		}
	}
	// COPY is deep: changing the copy leaves the moved original alone.
	if o := k.testObj(1, "v"); o == nil || !slices.Equal(o.items, []string{"a", "b"}) {
		t.Fatalf("moved object: %+v", o)
	}
	k.addTest("w", "x")
	k.do("COPY w w2")
	k.testObj(0, "w2").items[0] = "changed"
	if got := k.testObj(0, "w").items[0]; got != "x" {
		t.Fatalf("COPY shares the object: original now %q", got)
	}
	if got := k.do("SWAPDB 0 1"); got != "OK" {
		t.Fatal(got)
	}
	if k.testObj(0, "v") == nil || k.testObj(1, "w") == nil {
		t.Fatal("SWAPDB lost an object")
	}
	k.do("FLUSHALL")
	if got := k.do("DBSIZE"); got != "(integer) 0" {
		t.Fatal(got)
	}
}

// TestWrittenDeletesEmpty: a key whose object a command left empty is
// deleted, and the change counted.
func TestWrittenDeletesEmpty(t *testing.T) {
	k := newCore(t)
	o := k.addTest("t", "a")
	v, ok := writeValue[testObj](k.s, k.c, []byte("t"), typeTest)
	if !ok || v != o {
		t.Fatalf("writeValue: %v %v", v, ok)
	}
	if r, ok := readValue[testObj](k.s, k.c, []byte("t"), typeTest); !ok || r != o {
		t.Fatalf("readValue: %v %v", r, ok)
	}
	if r, ok := readValue[testObj](k.s, k.c, []byte("missing"), typeTest); !ok || r != nil {
		t.Fatalf("readValue of a missing key: %v %v", r, ok)
	}
	dirty := k.s.dirty
	o.items = nil
	k.s.written(0, []byte("t"))
	if got := k.do("EXISTS t"); got != "(integer) 0" {
		t.Fatalf("empty object kept: %s", got)
	}
	if k.s.dirty != dirty+1 {
		t.Fatalf("dirty %d, want %d", k.s.dirty, dirty+1)
	}
	// A wrong type is refused with Redis's text.
	k.do("SET s 1")
	k.c.out = k.c.out[:0]
	if v, ok := writeValue[testObj](k.s, k.c, []byte("s"), typeTest); ok || v != nil {
		t.Fatal("writeValue accepted a string")
	}
	if got := string(k.c.out); got != "-"+errWrongType+"\r\n" {
		t.Fatalf("reply %q", got)
	}
	// createValue creates a missing key.
	k.c.out = k.c.out[:0]
	n, ok := createValue(k.s, k.c, []byte("new"), typeTest, func() *testObj { return &testObj{items: []string{"z"}} })
	if !ok || n == nil || k.do("TYPE new") != "testtype" {
		t.Fatal("createValue")
	}
}

// TestTypeMaxmemorySize: maxmemory counts an object's size().
func TestTypeMaxmemorySize(t *testing.T) {
	k := newCore(t)
	k.addTest("t", "a", "b", "c")
	if err := k.s.setMaxMemory(1<<30, "allkeys-random"); err != nil {
		t.Fatal(err)
	}
	if got, want := k.s.usedMemory(), int64(3000+1+entryOverhead); got != want {
		t.Fatalf("counted %d, want %d", got, want)
	}
}

// TestTypeRewrite: an AOF rewrite writes an object with its rewrite method
// and its expiry as PEXPIREAT; a write during the rewrite changes a copy,
// never the object being written.
func TestTypeRewrite(t *testing.T) {
	k := newCore(t)
	o := k.addTest("t", "a", "b")
	k.do("PEXPIREAT t 99999999999999")
	k.do("SET s v")
	snap := k.s.snapshot()
	k.s.rw.inProgress = true
	v, _ := writeValue[testObj](k.s, k.c, []byte("t"), typeTest)
	if v == o {
		t.Fatal("a write during a rewrite got the snapshot's object")
	}
	v.items = append(v.items[:0], "changed")
	k.s.rw.inProgress = false
	f, err := os.Create(filepath.Join(t.TempDir(), "aof"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := writeSnapshot(f, snap, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.Name())
	want := "*4\r\n$5\r\nTPUSH\r\n$1\r\nt\r\n$1\r\na\r\n$1\r\nb\r\n*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nt\r\n$14\r\n99999999999999\r\n"
	if !bytes.Contains(b, []byte(want)) || !strings.Contains(string(b), "SET") {
		t.Fatalf("rewritten file %q lacks %q", b, want)
	}
	// After the rewrite, a write only clears the flag.
	k.s.snapshot()
	v2, _ := writeValue[testObj](k.s, k.c, []byte("t"), typeTest)
	if v2 != v {
		t.Fatal("a write after the rewrite copied the object")
	}
}

func TestRegisterCommandsTwice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a duplicate command")
		}
	}()
	registerCommands(&command{name: "get"})
}

// TestSignalKeyAsReady: a client blocked on a key is offered it when a
// write signals it (here COPY, RENAME and MOVE into the key), first
// blocked first served, and unblocked from all its keys once served.
func TestSignalKeyAsReady(t *testing.T) {
	k := newCore(t)
	var order []uint64
	serve := func(s *server, c *client, key []byte) bool {
		i := s.lookupKey(c.db, key)
		e := &s.dbs[c.db].ents[i]
		if e.typ != typeTest {
			return false
		}
		o := valueOf[testObj](e)
		order = append(order, c.id)
		c.bulkStr(o.items[0])
		o.items = o.items[1:]
		s.written(c.db, key)
		return true
	}
	c1, c2 := k.s.newClient(nil), k.s.newClient(nil)
	if !k.s.mayBlock(c1) {
		t.Fatal("mayBlock false outside a transaction")
	}
	c1.multi = true
	if k.s.mayBlock(c1) {
		t.Fatal("mayBlock true inside MULTI")
	}
	c1.multi = false
	k.s.blockClient(c1, [][]byte{[]byte("q"), []byte("other")}, 0, serve, nil)
	k.s.blockClient(c2, [][]byte{[]byte("q")}, 0, serve, nil)
	k.do("SET q string") // another type: nobody is served
	if len(order) != 0 || k.s.blockedClients() != 2 {
		t.Fatalf("served %v from a string", order)
	}
	k.do("DEL q")
	k.addTest("src", "one")
	k.do("RENAME src q")
	if !slices.Equal(order, []uint64{c1.id}) || c1.block != nil || c2.block == nil {
		t.Fatalf("after RENAME: served %v", order)
	}
	if k.s.bl.byKey[0]["other"] != nil {
		t.Fatal("the served client is still waiting for its other key")
	}
	k.addTest("src", "two", "three")
	k.do("COPY src q")
	if !slices.Equal(order, []uint64{c1.id, c2.id}) || k.s.blockedClients() != 0 {
		t.Fatalf("after COPY: served %v", order)
	}
	if got := k.do("TYPE q"); got != "testtype" {
		t.Fatalf("the rest of the value: %s", got)
	}
	if string(c1.out) != "$3\r\none\r\n" || string(c2.out) != "$3\r\ntwo\r\n" {
		t.Fatalf("replies %q %q", c1.out, c2.out)
	}
	// A client blocked in db 1, served by MOVE.
	c3 := k.s.newClient(nil)
	c3.db = 1
	k.s.blockClient(c3, [][]byte{[]byte("q")}, 0, serve, nil)
	k.do("MOVE q 1")
	if c3.block != nil || string(c3.out) != "$5\r\nthree\r\n" {
		t.Fatalf("MOVE: %q", c3.out)
	}
}
