package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// check verifies the list's invariants: node counts, entries that decode
// forwards and backwards to the same elements, the byte count, no empty
// node; and that it holds want.
func (l *list) check(t testing.TB, want [][]byte) {
	t.Helper()
	n, mem := 0, int64(0)
	var fwd [][]byte
	for _, nd := range l.live() {
		if nd.n == 0 {
			t.Fatal("empty node")
		}
		items := nodeItems(nd)
		if len(items) != nd.n {
			t.Fatalf("node says %d entries, has %d", nd.n, len(items))
		}
		var back [][]byte
		for end := nd.hi; end > nd.lo; {
			var v []byte
			v, end = entryBefore(nd.b, end)
			back = append(back, v)
		}
		slices.Reverse(back)
		for i := range items {
			if !bytes.Equal(items[i], back[i]) {
				t.Fatalf("entry %d reads %q forwards, %q backwards", i, items[i], back[i])
			}
		}
		n += nd.n
		mem += int64(len(nd.b))
		fwd = append(fwd, items...)
	}
	if n != l.n {
		t.Fatalf("n %d, nodes hold %d", l.n, n)
	}
	if mem != l.mem {
		t.Fatalf("mem %d, buffers %d", l.mem, mem)
	}
	if len(fwd) != len(want) {
		t.Fatalf("list has %d elements, want %d", len(fwd), len(want))
	}
	for i := range fwd {
		if !bytes.Equal(fwd[i], want[i]) {
			t.Fatalf("element %d: %q, want %q", i, fwd[i], want[i])
		}
	}
}

func randElem(r *rand.Rand) []byte {
	switch r.IntN(10) {
	case 0:
		return bytes.Repeat([]byte{'L'}, r.IntN(3*listNodeMax)) // up to several nodes' worth
	case 1:
		return bytes.Repeat([]byte{'m'}, 100+r.IntN(300)) // two-byte lengths
	case 2:
		return nil
	}
	return []byte(fmt.Sprint(r.IntN(20)))
}

// TestListModel runs random operations on a list and on a slice model.
func TestListModel(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		l := newList()
		var m [][]byte
		for step := range 3000 {
			switch op := r.IntN(12); op {
			case 0, 1:
				v := randElem(r)
				l.pushFront(v)
				m = slices.Insert(m, 0, v)
			case 2, 3:
				v := randElem(r)
				l.pushBack(v)
				m = append(m, v)
			case 4:
				if len(m) > 0 {
					got := l.popFront()
					if !bytes.Equal(got, m[0]) {
						t.Fatalf("seed %d step %d: popFront %q, want %q", seed, step, got, m[0])
					}
					m = m[1:]
				}
			case 5:
				if len(m) > 0 {
					got := l.popBack()
					if !bytes.Equal(got, m[len(m)-1]) {
						t.Fatalf("seed %d step %d: popBack %q", seed, step, got)
					}
					m = m[:len(m)-1]
				}
			case 6:
				if len(m) > 0 {
					i := r.IntN(len(m))
					v := randElem(r)
					l.set(i, v)
					m[i] = v
				}
			case 7:
				i := r.IntN(len(m) + 1)
				v := randElem(r)
				l.insertAt(i, v)
				m = slices.Insert(m, i, v)
			case 8:
				if len(m) > 0 {
					v := m[r.IntN(len(m))]
					count := r.IntN(3)
					fromTail := r.IntN(2) == 0
					got := l.removeMatching(v, count, fromTail)
					want := 0
					if fromTail {
						for j := len(m) - 1; j >= 0 && (count == 0 || want < count); j-- {
							if bytes.Equal(m[j], v) {
								m = slices.Delete(m, j, j+1)
								want++
							}
						}
					} else {
						for j := 0; j < len(m) && (count == 0 || want < count); {
							if bytes.Equal(m[j], v) {
								m = slices.Delete(m, j, j+1)
								want++
								continue
							}
							j++
						}
					}
					if got != want {
						t.Fatalf("seed %d step %d: removed %d, want %d", seed, step, got, want)
					}
				}
			case 9:
				if len(m) > 2 && r.IntN(4) == 0 {
					a := r.IntN(len(m))
					b := a + r.IntN(len(m)-a)
					l.trim(a, b)
					m = m[a : b+1]
				}
			case 10:
				if len(m) > 0 {
					i := r.IntN(len(m))
					if got := l.index(i); !bytes.Equal(got, m[i]) {
						t.Fatalf("seed %d step %d: index %d = %q, want %q", seed, step, i, got, m[i])
					}
				}
			case 11:
				cp := l.clone().(*list)
				cp.check(t, m)
				if len(m) > 0 {
					cp.popFront() // the copy is independent
				}
			}
			if step%50 == 0 || l.n < 5 {
				l.check(t, m)
			}
		}
		l.check(t, m)
	}
}

// TestListNodesFill: pushing at one end fills nodes to listNodeMax, so a
// long list of small elements costs about what its entries take.
func TestListNodesFill(t *testing.T) {
	for _, front := range []bool{false, true} {
		l := newList()
		for i := range 100000 {
			l.push([]byte(fmt.Sprint(i%1000)), front)
		}
		var used int64
		for _, nd := range l.live() {
			used += int64(nd.hi - nd.lo)
		}
		if float64(l.mem) > 1.05*float64(used) {
			t.Errorf("front=%v: buffers %d bytes for %d of entries", front, l.mem, used)
		}
	}
}

// TestListRewrite: the rewrite emits RPUSH commands of at most rewriteBatch
// elements which rebuild the list.
func TestListRewrite(t *testing.T) {
	l := newList()
	var want []string
	for i := range 200 {
		l.pushBack([]byte(fmt.Sprint(i)))
		want = append(want, fmt.Sprint(i))
	}
	var got []string
	cmds := 0
	err := l.rewrite([]byte("k"), func(args ...[]byte) error {
		cmds++
		if string(args[0]) != "RPUSH" || string(args[1]) != "k" || len(args)-2 > rewriteBatch {
			t.Fatalf("command %q", args[:2])
		}
		for _, a := range args[2:] {
			got = append(got, string(a))
		}
		return nil
	})
	if err != nil || cmds != 4 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("err %v, %d commands, elements %v", err, cmds, got)
	}
}

// TestListMemory: the maxmemory size of a list follows its buffers.
func TestListMemory(t *testing.T) {
	k := newCore(t)
	if err := k.s.setMaxMemory(1<<40, "allkeys-random"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		k.do("RPUSH l " + strings.Repeat("x", 1000))
	}
	used := k.s.usedMemory()
	if used < 100*1000 || used > 2*100*1000 {
		t.Fatalf("100 KB list counted as %d", used)
	}
	k.do("LTRIM l 0 0")
	if after := k.s.usedMemory(); after > 10000 {
		t.Fatalf("after LTRIM: %d", after)
	}
	k.do("DEL l")
	if after := k.s.usedMemory(); after != 0 {
		t.Fatalf("after DEL: %d", after)
	}
}

// TestListRewriteDuringWrites: an AOF rewrite of a list being pushed to and
// popped from writes the list as it was at the snapshot.
func TestListRewriteDuringWrites(t *testing.T) {
	k := newCore(t)
	k.do("RPUSH l a b c")
	snap := k.s.snapshot()
	k.s.rw.inProgress = true
	k.do("LPOP l")
	k.do("RPUSH l d")
	k.do("LSET l 0 B")
	k.s.rw.inProgress = false
	var got []string
	for _, e := range snap[0] {
		e.obj.rewrite([]byte(e.key), func(args ...[]byte) error {
			for _, a := range args {
				got = append(got, string(a))
			}
			return nil
		})
	}
	if strings.Join(got, " ") != "RPUSH l a b c" {
		t.Fatalf("rewritten %q", got)
	}
	if g := k.do("LRANGE l 0 -1"); g != `["B", "c", "d"]` {
		t.Fatal(g)
	}
}

// FuzzListCommands runs list commands with arbitrary arguments on a server
// holding a few lists: no panic, and every list's invariants hold after.
func FuzzListCommands(f *testing.F) {
	for _, s := range []string{
		"LPOS\x00l\x00a\x00RANK\x00-9223372036854775808\x00COUNT\x000\x00MAXLEN\x001",
		"LMPOP\x009223372036854775807\x00l\x00LEFT",
		"BLMPOP\x000.01\x002\x00l\x00m\x00RIGHT\x00COUNT\x0099",
		"LRANGE\x00l\x00-9223372036854775808\x009223372036854775807",
		"LTRIM\x00l\x001\x00-2",
		"LINSERT\x00l\x00BEFORE\x00b\x00zz",
		"LREM\x00l\x00-9223372036854775808\x00a",
		"LSET\x00l\x00-1\x00x",
		"BLMOVE\x00l\x00l\x00LEFT\x00RIGHT\x001e-300",
		"BRPOP\x00l\x00m\x000x1p3",
		"LMOVE\x00l\x00m\x00RIGHT\x00LEFT",
	} {
		f.Add([]byte(s))
	}
	names := []string{"lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset", "linsert", "lrem", "ltrim", "lpos", "lmove", "rpoplpush", "lmpop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop"}
	f.Fuzz(func(t *testing.T, in []byte) {
		k := newCore(t)
		k.do("RPUSH l a b c a b c " + strings.Repeat("y", 300))
		k.do("RPUSH m 1 2 3")
		for _, line := range bytes.Split(in, []byte("\n")) {
			args := bytes.Split(line, []byte{0})
			if len(args) == 0 || len(args[0]) == 0 {
				continue
			}
			cmd := lookup(args[0])
			if cmd == nil {
				args[0] = []byte(names[int(args[0][0])%len(names)])
			}
			k.c.out = k.c.out[:0]
			k.s.feed(k.c, resp.AppendCommand(nil, args...))
			if k.c.block != nil { // nobody else will push: unblock it
				k.s.unblockTimeout(k.c)
			}
		}
		for _, key := range []string{"l", "m"} {
			d := k.s.dbs[0]
			if i := d.find([]byte(key)); i >= 0 && d.ents[i].typ == typeList {
				l := valueOf[list](&d.ents[i])
				var all [][]byte
				l.each(0, l.n-1, func(v []byte) bool { all = append(all, v); return true })
				l.check(t, all)
				if l.n == 0 {
					t.Fatalf("empty list %s kept", key)
				}
			}
		}
	})
}
