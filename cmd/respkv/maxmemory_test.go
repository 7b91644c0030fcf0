package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// memCore is a core with maxmemory set through CONFIG SET; the Go runtime's
// memory limit it sets is put back afterwards.
func memCore(t *testing.T, limit, policy string) *core {
	t.Helper()
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	k := newCore(t)
	if got := k.do("CONFIG SET maxmemory " + limit + " maxmemory-policy " + policy); got != "OK" {
		t.Fatalf("CONFIG SET: %s", got)
	}
	return k
}

func value(n int) string { return strings.Repeat("v", n) }

// TestMaxmemoryNoeviction: above maxmemory, commands that may grow memory
// get Redis's OOM error, others run; freeing memory lets writes in again.
func TestMaxmemoryNoeviction(t *testing.T) {
	k := memCore(t, "100kb", "noeviction")
	var refused int
	for i := 0; i < 200; i++ {
		got := k.doArgs([]byte("SET"), []byte(fmt.Sprintf("k%d", i)), []byte(value(1000)))
		if got == "(error) "+errOOM {
			refused = i
			break
		}
		if got != "OK" {
			t.Fatalf("SET %d: %s", i, got)
		}
	}
	if refused == 0 {
		t.Fatal("no OOM with 200 KB written under a 100 KB maxmemory")
	}
	// 100 KB of 1 KB values and their overhead: about 90 keys.
	if refused < 80 || refused > 100 {
		t.Fatalf("refused after %d keys of 1 KB under 100 KB", refused)
	}
	for _, l := range []string{"APPEND k0 x", "INCR n", "SETRANGE k0 0 x", "MSET a 1 b 2", "SETNX new 1"} {
		if got := k.do(l); got != "(error) "+errOOM {
			t.Errorf("%s: %s", l, got)
		}
	}
	// Reads, deletes and expiry changes still run.
	if got := k.do("GET k1"); got != fmt.Sprintf("%q", value(1000)) {
		t.Errorf("GET: %.40s", got)
	}
	if got := k.do("EXPIRE k1 100"); got != "(integer) 1" {
		t.Errorf("EXPIRE: %s", got)
	}
	// A transaction: commands queued while out of memory are refused and
	// EXEC aborts, as in Redis.
	k.do("MULTI")
	if got := k.do("GET k1"); got != "(error) "+errOOM {
		t.Errorf("GET queued while out of memory: %s", got)
	}
	if got := k.do("EXEC"); !strings.HasPrefix(got, "(error) EXECABORT") {
		t.Errorf("EXEC: %s", got)
	}
	for i := 0; i < 10; i++ {
		k.do(fmt.Sprintf("DEL k%d", i))
	}
	if got := k.do("SET after-del x"); got != "OK" {
		t.Errorf("SET after DEL: %s", got)
	}
	if got := k.do("CONFIG GET maxmemory"); got != `["maxmemory", "102400"]` {
		t.Errorf("CONFIG GET: %s", got)
	}
	// Raising the limit lets writes in.
	k.do("CONFIG SET maxmemory 10mb")
	if got := k.do("SET big " + value(1000)); got != "OK" {
		t.Errorf("SET after raising maxmemory: %s", got)
	}
	if lim := debug.SetMemoryLimit(-1); lim != goMemoryLimit(10<<20) {
		t.Errorf("Go memory limit %d, want %d", lim, goMemoryLimit(10<<20))
	}
	k.do("CONFIG SET maxmemory 0")
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		t.Errorf("Go memory limit %d after maxmemory 0", lim)
	}
}

// TestMaxmemoryAccounting: the count follows SET, APPEND, SETRANGE, DEL,
// RENAME, MOVE, FLUSHDB, SWAPDB and expiry, and matches a recount.
func TestMaxmemoryAccounting(t *testing.T) {
	k := memCore(t, "1gb", "noeviction")
	for _, l := range []string{
		"SET a " + value(5000), "SET b " + value(100), "APPEND b " + value(3000), "SETRANGE c 10000 x",
		"SETBIT d 80000 1", "INCR n", "INCRBYFLOAT f 1.5", "DEL a", "RENAME b b2", "SELECT 1", "SET x " + value(700),
		"MOVE x 2", "SELECT 2", "SET y 1", "SWAPDB 2 3", "SELECT 0", "SET e 1 PX 1", "MSET m1 1 m2 2", "COPY m1 m3",
	} {
		k.do(l)
	}
	recount := func() int64 {
		var n int64
		for _, d := range k.s.dbs {
			for i := range d.ents {
				n += int64(entrySize(&d.ents[i]))
			}
		}
		return n
	}
	if got, want := k.s.usedMemory(), recount(); got != want {
		t.Fatalf("counted %d, recount %d", got, want)
	}
	// e expires and is deleted on access.
	deadline := time.Now().Add(time.Second)
	for k.do("GET e") != "(nil)" && time.Now().Before(deadline) {
	}
	k.do("FLUSHDB")
	if got, want := k.s.usedMemory(), recount(); got != want || want == 0 {
		t.Fatalf("after FLUSHDB: counted %d, recount %d", got, want)
	}
}

// TestMaxmemoryAllkeysRandom: writes never fail, the memory stays within
// the limit, keys are evicted and counted.
func TestMaxmemoryAllkeysRandom(t *testing.T) {
	k := memCore(t, "200kb", "allkeys-random")
	for i := 0; i < 1000; i++ {
		if got := k.doArgs([]byte("SET"), []byte(fmt.Sprintf("k%d", i)), []byte(value(500))); got != "OK" {
			t.Fatalf("SET %d: %s", i, got)
		}
	}
	k.do("PING") // evictions run before a command
	if used := k.s.usedMemory(); used > 200<<10 {
		t.Fatalf("used %d above maxmemory", used)
	}
	n := k.s.dbs[0].size()
	if n < 320 || n > 335 {
		t.Fatalf("%d keys left", n)
	}
	if k.s.mm.evicted != uint64(1000-n) {
		t.Fatalf("evicted %d, %d keys left of 1000", k.s.mm.evicted, n)
	}
}

// TestMaxmemoryAllkeysLRU: the keys read recently survive; the oldest go.
func TestMaxmemoryAllkeysLRU(t *testing.T) {
	k := memCore(t, "200kb", "allkeys-lru")
	set := func(key string) {
		if got := k.doArgs([]byte("SET"), []byte(key), []byte(value(500))); got != "OK" {
			t.Fatalf("SET %s: %s", key, got)
		}
	}
	for i := 0; i < 300; i++ {
		set(fmt.Sprintf("old%d", i))
	}
	// The clock moves on (it has a millisecond resolution), the hot keys
	// are read, and new keys push the memory over the limit.
	tick := func() {
		t0 := time.Now().UnixMilli()
		for time.Now().UnixMilli() < t0+2 {
		}
	}
	tick()
	for i := 0; i < 20; i++ {
		k.do(fmt.Sprintf("GET old%d", i))
	}
	for i := 0; i < 100; i++ {
		if i%10 == 0 {
			tick()
		}
		set(fmt.Sprintf("new%d", i))
	}
	for i := 0; i < 20; i++ {
		if k.s.dbs[0].find([]byte(fmt.Sprintf("old%d", i))) < 0 {
			t.Errorf("hot key old%d evicted", i)
		}
	}
	// The most recent keys survive too.
	for i := 90; i < 100; i++ {
		if k.s.dbs[0].find([]byte(fmt.Sprintf("new%d", i))) < 0 {
			t.Errorf("new key new%d evicted", i)
		}
	}
	if k.s.mm.evicted < 60 || k.s.mm.evicted != uint64(400-k.s.dbs[0].size()) {
		t.Fatalf("only %d evicted", k.s.mm.evicted)
	}
}

// TestMaxmemoryVolatile: volatile policies evict only keys with a TTL
// (volatile-ttl the nearest first); when none is left, writes get OOM.
func TestMaxmemoryVolatile(t *testing.T) {
	for _, policy := range []string{"volatile-ttl", "volatile-lru", "volatile-random"} {
		k := memCore(t, "200kb", policy)
		for i := 0; i < 150; i++ {
			k.doArgs([]byte("SET"), []byte(fmt.Sprintf("p%d", i)), []byte(value(500)))
		}
		for i := 0; i < 100; i++ {
			k.doArgs([]byte("SET"), []byte(fmt.Sprintf("v%d", i)), []byte(value(500)), []byte("EX"), []byte(fmt.Sprint(1000+i)))
		}
		for i := 0; i < 150; i++ {
			if k.s.dbs[0].find([]byte(fmt.Sprintf("p%d", i))) < 0 {
				t.Fatalf("%s: key without TTL p%d evicted", policy, i)
			}
		}
		if policy == "volatile-ttl" {
			// The longest TTLs were the last written: they survive.
			for i := 95; i < 100; i++ {
				if k.s.dbs[0].find([]byte(fmt.Sprintf("v%d", i))) < 0 {
					t.Errorf("volatile-ttl: v%d (the longest TTL) evicted", i)
				}
			}
		}
		// Only keys without TTL: OOM.
		var last string
		for i := 0; i < 200 && !strings.Contains(last, "OOM"); i++ {
			last = k.doArgs([]byte("SET"), []byte(fmt.Sprintf("q%d", i)), []byte(value(500)))
		}
		if last != "(error) "+errOOM {
			t.Fatalf("%s: no OOM once only keys without TTL are left: %s", policy, last)
		}
	}
}

// TestMaxmemoryConfig: flags and CONFIG SET values are checked.
func TestMaxmemoryConfig(t *testing.T) {
	k := memCore(t, "0", "noeviction")
	for l, want := range map[string]string{
		"CONFIG SET maxmemory-policy allkeys-lfu":        "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - the LFU policies are not supported (respkv keeps no access frequency)",
		"CONFIG SET maxmemory-policy nope":               "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-random, volatile-ttl, allkeys-lru, allkeys-random, noeviction",
		"CONFIG SET maxmemory -1":                        "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
		"CONFIG SET maxmemory 99999999999gb":             "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
		"CONFIG SET maxmemory 1gb maxmemory-policy nope": "(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-random, volatile-ttl, allkeys-lru, allkeys-random, noeviction",
	} {
		if got := k.do(l); got != want {
			t.Errorf("%s: %s", l, got)
		}
	}
	if got := k.do("CONFIG GET maxmemory"); got != `["maxmemory", "0"]` {
		t.Errorf("a refused CONFIG SET changed maxmemory: %s", got)
	}
	for in, want := range map[string]int64{"0": 0, "100": 100, "1k": 1000, "1kb": 1024, "2MB": 2 << 20, "3g": 3e9, "1gb": 1 << 30} {
		if n, err := parseMemory(in); err != nil || n != want {
			t.Errorf("parseMemory(%q) = %d, %v", in, n, err)
		}
	}
	for _, in := range []string{"", "-1", "kb", "1tb", "1.5gb", "9223372036854775807kb"} {
		if _, err := parseMemory(in); err == nil {
			t.Errorf("parseMemory(%q) accepted", in)
		}
	}
	if got := k.do("CONFIG SET maxmemory 1mb maxmemory-policy ALLKEYS-LRU"); got != "OK" {
		t.Fatal(got)
	}
	if got := k.do("CONFIG GET maxmemory-policy"); got != `["maxmemory-policy", "allkeys-lru"]` {
		t.Errorf("%s", got)
	}
}
