package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkDict verifies a denseDict's index: every element is found at its
// position, and the index holds exactly the elements.
func checkDict[E dictKeyer](t testing.TB, d *denseDict[E]) {
	t.Helper()
	for i := range d.ents {
		if got := d.find(d.ents[i].dictKey()); got != i {
			t.Fatalf("element %d (%q) found at %d", i, d.ents[i].dictKey(), got)
		}
	}
	if d.tab == nil {
		if len(d.ents) > dictLinear {
			t.Fatalf("%d elements without an index", len(d.ents))
		}
		return
	}
	n := 0
	for _, p := range d.tab {
		if p != 0 {
			n++
		}
	}
	if n != len(d.ents) || len(d.ents)*4 > len(d.tab)*3 {
		t.Fatalf("index of %d slots holds %d positions for %d elements", len(d.tab), n, len(d.ents))
	}
}

// TestDenseDictModel: random additions and removals (both kinds) against
// a map, through growth, shrinking and the linear size.
func TestDenseDictModel(t *testing.T) {
	var d denseDict[setMember]
	model := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 60000 {
		// Phases that grow to thousands, then shrink to a few.
		grow := (step/10000)%2 == 0
		k := fmt.Sprint("k", r.IntN(5000))
		switch {
		case grow && r.IntN(4) != 0 || !grow && r.IntN(4) == 0:
			if model[k] != (d.find(k) >= 0) {
				t.Fatalf("step %d: find(%s) disagrees", step, k)
			}
			if !model[k] {
				d.add(setMember(k))
				model[k] = true
			}
		default:
			if d.len() == 0 {
				continue
			}
			i := d.random()
			delete(model, string(d.ents[i]))
			if r.IntN(2) == 0 {
				d.removeAt(i)
			} else {
				d.removeOrdered(i)
			}
		}
		if d.len() != len(model) {
			t.Fatalf("step %d: %d elements, model %d", step, d.len(), len(model))
		}
		if step%997 == 0 {
			checkDict(t, &d)
		}
	}
	checkDict(t, &d)
	if d.len() == 0 {
		d.add("x")
	}
	c := d.clone()
	c.removeAt(0)
	checkDict(t, &d)
	checkDict(t, &c)
}

func TestSampleDistinct(t *testing.T) {
	for _, tc := range [][2]int{{1, 1}, {10, 3}, {10, 10}, {1000, 5}, {1000, 999}, {100000, 10}} {
		n, count := tc[0], tc[1]
		got := sampleDistinct(n, count)
		if len(got) != count {
			t.Fatalf("%v: %d positions", tc, len(got))
		}
		seen := map[int]bool{}
		for _, p := range got {
			if p < 0 || p >= n || seen[p] {
				t.Fatalf("%v: bad or repeated position %d in %v", tc, p, got)
			}
			seen[p] = true
		}
	}
	// Uniform: each of 20 positions is in a sample of 5 about a quarter
	// of the time, through both methods (sparse and dense).
	for _, n := range []int{20, 200} {
		counts := make([]int, n)
		const runs = 40000
		for range runs {
			for _, p := range sampleDistinct(n, 4) {
				counts[p]++
			}
		}
		want := float64(runs) * 4 / float64(n)
		for p, c := range counts {
			if d := float64(c) - want; d*d > 36*want {
				t.Fatalf("n=%d: position %d drawn %d times, expected about %.0f", n, p, c, want)
			}
		}
	}
}

// checkTyped verifies every hash and set of the server: no empty object
// kept, the encoding's limits, the index, the size counted.
func checkTyped(t testing.TB, s *server) {
	t.Helper()
	for dbi, d := range s.dbs {
		for i := range d.ents {
			e := &d.ents[i]
			switch e.typ {
			case typeSet:
				o := valueOf[setObj](e)
				if o.length() == 0 {
					t.Fatalf("db %d: empty set %q kept", dbi, e.key)
				}
				var sz int64
				if !o.ht {
					if len(o.ints) > setMaxIntsetEntries || !slices.IsSorted(o.ints) {
						t.Fatalf("bad intset %q", e.key)
					}
					for j := 1; j < len(o.ints); j++ {
						if o.ints[j] == o.ints[j-1] {
							t.Fatalf("intset %q repeats %d", e.key, o.ints[j])
						}
					}
					sz = int64(8 * len(o.ints))
				} else {
					checkDict(t, &o.d)
					for _, m := range o.d.ents {
						sz += int64(len(m)) + setMemberOverhead
					}
				}
				if sz != o.sz {
					t.Fatalf("set %q: size %d counted %d", e.key, sz, o.sz)
				}
			case typeHash:
				o := valueOf[hashObj](e)
				if o.length() == 0 {
					t.Fatalf("db %d: empty hash %q kept", dbi, e.key)
				}
				checkDict(t, &o.d)
				var sz int64
				for _, f := range o.d.ents {
					sz += int64(len(f.kv)) + hashFieldOverhead
					if !o.ht && (len(f.field()) > hashMaxListpackValue || len(f.value()) > hashMaxListpackValue) {
						t.Fatalf("listpack hash %q holds a long field or value", e.key)
					}
				}
				if !o.ht && o.length() > hashMaxListpackEntries {
					t.Fatalf("listpack hash %q of %d fields", e.key, o.length())
				}
				if sz != o.sz {
					t.Fatalf("hash %q: size %d counted %d", e.key, sz, o.sz)
				}
			}
		}
	}
}

var hashSetCommands = []string{
	"HSET", "HSETNX", "HGET", "HMGET", "HMSET", "HDEL", "HLEN", "HSTRLEN", "HEXISTS", "HKEYS", "HVALS",
	"HGETALL", "HINCRBY", "HINCRBYFLOAT", "HRANDFIELD", "HSCAN",
	"SADD", "SREM", "SCARD", "SISMEMBER", "SMISMEMBER", "SMEMBERS", "SPOP", "SRANDMEMBER", "SMOVE",
	"SINTER", "SINTERCARD", "SINTERSTORE", "SUNION", "SUNIONSTORE", "SDIFF", "SDIFFSTORE", "SSCAN",
	"SET", "DEL", "COPY", "RENAME",
}

// FuzzHashSetCommands runs lines of hash and set commands with fuzzed
// arguments (the first byte of a line picks the command, the rest are
// space-separated arguments): no panic, a well-formed reply, and the
// invariants of checkTyped after each command.
func FuzzHashSetCommands(f *testing.F) {
	for _, name := range []string{"transcript_hash.txt", "transcript_set.txt"} {
		for _, l := range strings.Split(scripts[name], "\n") {
			cmd, _, _ := strings.Cut(l, " -> ")
			fields := strings.Fields(cmd)
			if len(fields) == 0 {
				continue
			}
			if i := slices.Index(hashSetCommands, strings.ToUpper(fields[0])); i >= 0 {
				f.Add(string(rune('A'+i)) + " " + strings.Join(fields[1:], " "))
			}
		}
	}
	line := func(cmd string, args string) string {
		return string(rune('A'+slices.Index(hashSetCommands, cmd))) + " " + args
	}
	f.Add(strings.Join([]string{line("HSET", "h f v"), line("HRANDFIELD", "h -5"), line("HRANDFIELD", "h -3 WITHVALUES"), line("HSCAN", "h 0 MATCH * COUNT 1")}, "\n"))
	f.Add(strings.Join([]string{line("SADD", "s 1 2 3"), line("SRANDMEMBER", "s -9223372036854775807"), line("SPOP", "s 2"), line("SINTERCARD", "1 s LIMIT 0")}, "\n"))
	f.Fuzz(func(t *testing.T, in string) {
		s := newServer(Config{MaxReq: 1 << 20})
		c := s.newClient(nil)
		lines := strings.Split(in, "\n")
		if len(lines) > 64 {
			lines = lines[:64]
		}
		for _, l := range lines {
			if l == "" {
				continue
			}
			name := hashSetCommands[int(l[0]-'A')%len(hashSetCommands)]
			args := [][]byte{[]byte(name)}
			fields := strings.Split(l[1:], " ")
			if len(fields) > 0 && fields[0] == "" {
				fields = fields[1:]
			}
			for _, a := range fields {
				args = append(args, []byte(a))
			}
			if len(args) > 40 {
				args = args[:40]
			}
			// Bound the work: counts with repetitions up to a few
			// thousand elements.
			if len(args) >= 3 && (name == "HRANDFIELD" || name == "SRANDMEMBER") {
				if v, ok := parseInt(args[2]); ok && v < -5000 && v >= -maxRandomCount {
					continue
				}
			}
			c.out = c.out[:0]
			s.call(c, args)
			if len(c.out) == 0 {
				t.Fatalf("%q: no reply", args)
			}
			checkTyped(t, s)
		}
	})
}
