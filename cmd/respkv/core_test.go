package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// TestNoAllocs: GET, SET of an existing key and pipelined batches of them
// allocate nothing in steady state.
func TestNoAllocs(t *testing.T) {
	k := newCore(t)
	k.do("SET key:000000000001 xxx")
	var req []byte
	for range 16 {
		req = resp.AppendCommand(req, []byte("SET"), []byte("key:000000000001"), []byte("yyy"))
		req = resp.AppendCommand(req, []byte("GET"), []byte("key:000000000001"))
		req = resp.AppendCommand(req, []byte("GET"), []byte("nokey"))
		req = resp.AppendCommand(req, []byte("INCR"), []byte("counter"))
		req = resp.AppendCommand(req, []byte("EXISTS"), []byte("key:000000000001"))
	}
	k.s.feed(k.c, req)
	allocs := testing.AllocsPerRun(200, func() {
		k.c.out = k.c.out[:0]
		if n := k.s.feed(k.c, req); n != len(req) {
			t.Fatal(n)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

// TestScanGuarantee: SCAN returns every key present for the whole
// iteration even while other keys are added and deleted between calls.
func TestScanGuarantee(t *testing.T) {
	d := newDB()
	stable := map[string]bool{}
	for i := range 2000 {
		k := fmt.Sprintf("s%d", i)
		d.add([]byte(k), nil)
		stable[k] = true
	}
	for i := range 2000 {
		d.add([]byte(fmt.Sprintf("v%d", i)), nil)
	}
	seen := map[string]bool{}
	var cursor uint64
	n := 0
	for {
		cursor = d.scan(cursor, 10, func(e *entry) { seen[e.key] = true })
		// churn: delete some volatile keys, add new ones
		for range 5 {
			k := fmt.Sprintf("v%d", rand.IntN(4000))
			if i := d.find([]byte(k)); i >= 0 {
				d.remove(i)
			} else {
				d.add([]byte(k), nil)
			}
		}
		n++
		if cursor == 0 {
			break
		}
		if n > 100000 {
			t.Fatal("scan does not end")
		}
	}
	for k := range stable {
		if !seen[k] {
			t.Fatalf("key %s never returned", k)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", false /* Redis: KEYS and SCAN treat "*" apart */}, {"", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"a*c", "abc", true}, {"a*d", "abc", false},
		{"?", "a", true}, {"?", "", false}, {"a?c", "abc", true}, {"[abc]", "b", true}, {"[^abc]", "b", false},
		{"[a-c]x", "bx", true}, {"[c-a]x", "bx", true}, {"[a-c]x", "dx", false}, {`\*`, "*", true}, {`\*`, "a", false},
		{"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false}, {"*a*b*c*", "xxaxxbxxcxx", true}, {"[abc", "a", true},
		{"k*y", "key", true}, {"k**", "k", true},
	}
	for _, tt := range tests {
		if got := globMatch([]byte(tt.pat), []byte(tt.s)); got != tt.want {
			t.Errorf("glob %q %q: %v", tt.pat, tt.s, got)
		}
	}
}

func BenchmarkFeedGetSetP16(b *testing.B) {
	s := newServer(Config{MaxReq: 512 << 20})
	c := s.newClient(nil)
	var req []byte
	for i := range 16 {
		key := []byte(fmt.Sprintf("key:%012d", i*7919%100000))
		req = resp.AppendCommand(req, []byte("SET"), key, []byte("xxx"))
		req = resp.AppendCommand(req, []byte("GET"), key)
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		c.out = c.out[:0]
		s.feed(c, req)
	}
}

// FuzzFeed runs arbitrary input through the command core: it must never
// panic, whatever the commands and arguments.
func FuzzFeed(f *testing.F) {
	for _, raw := range strings.Split(script, "\n") {
		if cmd, _, ok := strings.Cut(raw, " -> "); ok {
			f.Add([]byte(cmd + "\r\n"))
		}
	}
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nMULTI\r\nSET k 1\r\nEXEC\r\n"))
	f.Add([]byte("SET k 1 PX 1\r\nSETRANGE k 100 x\r\nSETBIT k 1000 1\r\nGETRANGE k -5 -1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newServer(Config{MaxReq: 1 << 16})
		c := s.newClient(nil)
		off := 0
		for off < len(in) && !c.closing {
			n := s.feed(c, in[off:])
			if n == 0 {
				break
			}
			off += n
			c.out = c.out[:0]
		}
	})
}

func TestMisconfText(t *testing.T) {
	if got := errMisconf(syscall.ENOSPC); got != "MISCONF Errors writing to the AOF file: No space left on device" {
		t.Fatal(got)
	}
	k := newCore(t)
	k.s.aofErr = syscall.EFBIG
	if got := k.do("SET a b"); got != "(error) MISCONF Errors writing to the AOF file: File too large" {
		t.Fatal(got)
	}
	if got := k.do("GET a"); got != "(nil)" {
		t.Fatal(got)
	}
	k.s.aofErr = nil
	if got := k.do("SET a b"); got != "OK" {
		t.Fatal(got)
	}
}
