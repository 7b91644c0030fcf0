package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// manyKeys returns args followed by n distinct key names, and the first
// one again (a repeated key must still count once).
func manyKeys(n int, args ...string) [][]byte {
	out := make([][]byte, 0, len(args)+n+1)
	for _, a := range args {
		out = append(out, []byte(a))
	}
	for i := range n {
		out = append(out, []byte("k"+strconv.Itoa(i)))
	}
	return append(out, []byte("k0"))
}

// TestBlockManyKeysLinear: a blocking command's keys are registered in
// time linear in their number. One BLPOP naming 100,000 keys held the loop
// for seconds (a scan of the keys so far for each key, to drop repeats);
// the bound leaves a wide margin for -race on a busy machine.
func TestBlockManyKeysLinear(t *testing.T) {
	s := newServer(Config{MaxReq: 512 << 20})
	c := s.newClient(nil)
	args := append(manyKeys(100000, "BLPOP"), []byte("0"))
	req := resp.AppendCommand(nil, args...)
	start := time.Now()
	s.feed(c, req)
	d := time.Since(start)
	if s.blockedClients() != 1 {
		t.Fatalf("blocked clients %d, want 1", s.blockedClients())
	}
	if n := len(c.block.keys); n != 100000 {
		t.Fatalf("blocked on %d keys, want 100000 (the repeated one once)", n)
	}
	if d > 5*time.Second {
		t.Fatalf("BLPOP of 100,000 keys took %v", d)
	}
}

// TestZsetOpManyKeysLinear: the same for ZUNIONSTORE and its family, which
// found a repeated key by scanning the keys before it.
func TestZsetOpManyKeysLinear(t *testing.T) {
	k := newCore(t)
	k.do("ZADD k0 1 a")
	args := manyKeys(100000, "ZUNIONSTORE", "dst", "100001")
	start := time.Now()
	if got := k.doArgs(args...); got != "(integer) 1" {
		t.Fatalf("got %s", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ZUNIONSTORE of 100,000 keys took %v", d)
	}
	// k0 named twice is one source with the weight of each naming: the
	// score sums both (Redis: 2).
	if got := k.do("ZSCORE dst a"); got != `"2"` {
		t.Fatalf("ZSCORE dst a = %s, want \"2\"", got)
	}
}
