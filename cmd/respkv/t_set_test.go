package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func sorted(v []string) string {
	v = slices.Clone(v)
	sort.Strings(v)
	return fmt.Sprint(v)
}

func TestGoRedisSet(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	eq(t, "sadd", must(rdb.SAdd(ctx, "s", 3, 1, 2, 2).Result()), int64(3))
	eq(t, "smembers intset", fmt.Sprint(must(rdb.SMembers(ctx, "s").Result())), "[1 2 3]")
	eq(t, "encoding", must(rdb.ObjectEncoding(ctx, "s").Result()), "intset")
	eq(t, "sadd str", must(rdb.SAdd(ctx, "s", "x", "y").Result()), int64(2))
	eq(t, "encoding", must(rdb.ObjectEncoding(ctx, "s").Result()), "hashtable")
	eq(t, "scard", must(rdb.SCard(ctx, "s").Result()), int64(5))
	eq(t, "sismember", must(rdb.SIsMember(ctx, "s", "x").Result()), true)
	eq(t, "sismember no", must(rdb.SIsMember(ctx, "s", "z").Result()), false)
	eq(t, "smismember", fmt.Sprint(must(rdb.SMIsMember(ctx, "s", "x", "z", 1).Result())), "[true false true]")
	eq(t, "srem", must(rdb.SRem(ctx, "s", "x", "nope").Result()), int64(1))
	eq(t, "smembers", sorted(must(rdb.SMembers(ctx, "s").Result())), "[1 2 3 y]")
	eq(t, "smembersmap", len(must(rdb.SMembersMap(ctx, "s").Result())), 4)
	eq(t, "srandmember", must(rdb.SIsMember(ctx, "s", must(rdb.SRandMember(ctx, "s").Result())).Result()), true)
	eq(t, "srandmembern", len(must(rdb.SRandMemberN(ctx, "s", 3).Result())), 3)
	eq(t, "srandmembern neg", len(must(rdb.SRandMemberN(ctx, "s", -10).Result())), 10)
	p := must(rdb.SPop(ctx, "s").Result())
	eq(t, "spop removed", must(rdb.SIsMember(ctx, "s", p).Result()), false)
	eq(t, "spopn", len(must(rdb.SPopN(ctx, "s", 2).Result())), 2)
	eq(t, "scard after", must(rdb.SCard(ctx, "s").Result()), int64(1))
	eq(t, "spopn all", len(must(rdb.SPopN(ctx, "s", 5).Result())), 1)
	eq(t, "exists", must(rdb.Exists(ctx, "s").Result()), int64(0))
	if err := rdb.SPop(ctx, "s").Err(); err != redis.Nil {
		t.Fatalf("spop of a missing key: %v", err)
	}

	rdb.SAdd(ctx, "a", 1, 2, 3, 4)
	rdb.SAdd(ctx, "b", 3, 4, 5)
	eq(t, "sinter", fmt.Sprint(must(rdb.SInter(ctx, "a", "b").Result())), "[3 4]")
	eq(t, "sintercard", must(rdb.SInterCard(ctx, 1, "a", "b").Result()), int64(1))
	eq(t, "sintercard 0", must(rdb.SInterCard(ctx, 0, "a", "b").Result()), int64(2))
	eq(t, "sunion", fmt.Sprint(must(rdb.SUnion(ctx, "a", "b").Result())), "[1 2 3 4 5]")
	eq(t, "sdiff", fmt.Sprint(must(rdb.SDiff(ctx, "a", "b").Result())), "[1 2]")
	eq(t, "sinterstore", must(rdb.SInterStore(ctx, "d", "a", "b").Result()), int64(2))
	eq(t, "sunionstore", must(rdb.SUnionStore(ctx, "d", "a", "b").Result()), int64(5))
	eq(t, "sdiffstore", must(rdb.SDiffStore(ctx, "d", "a", "b").Result()), int64(2))
	eq(t, "sdiffstore empty", must(rdb.SDiffStore(ctx, "d", "a", "a").Result()), int64(0))
	eq(t, "dst deleted", must(rdb.Exists(ctx, "d").Result()), int64(0))
	eq(t, "smove", must(rdb.SMove(ctx, "a", "b", "1").Result()), true)
	eq(t, "smove missing", must(rdb.SMove(ctx, "a", "b", "1").Result()), false)
	eq(t, "smove same", must(rdb.SMove(ctx, "b", "b", "1").Result()), true)
	rdb.Set(ctx, "str", "x", 0)
	if err := rdb.SMove(ctx, "a", "str", "2").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("smove to a string: %v", err)
	}
	if err := rdb.SAdd(ctx, "str", "2").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("sadd to a string: %v", err)
	}
	eq(t, "type", must(rdb.Type(ctx, "a").Result()), "set")

	// SSCAN over a hashtable: every member once in a quiet set.
	for i := range 1000 {
		rdb.SAdd(ctx, "big", fmt.Sprint("m", i))
	}
	seen := map[string]int{}
	var cursor uint64
	for {
		keys, next := must2(rdb.SScan(ctx, "big", cursor, "m1*", 50).Result())
		for _, k := range keys {
			seen[k]++
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	eq(t, "sscan match", len(seen), 111)
	for k, n := range seen {
		if n != 1 || !strings.HasPrefix(k, "m1") {
			t.Fatalf("sscan: %s seen %d times", k, n)
		}
	}
	all, next := must2(rdb.SScan(ctx, "big", 0, "", 10000).Result())
	eq(t, "sscan all", len(all), 1000)
	eq(t, "sscan all cursor", next, uint64(0))
}

// TestSetScanGuarantee: SSCAN returns every member present for the whole
// iteration while others are added and removed between the calls.
func TestSetScanGuarantee(t *testing.T) {
	k := newCore(t)
	for i := range 2000 {
		k.do(fmt.Sprintf("SADD s stable%d", i))
		k.do(fmt.Sprintf("SADD s churn%d", i))
	}
	seen := map[string]bool{}
	cursor := "0"
	for n := 0; ; n++ {
		r := k.do("SSCAN s " + cursor + " COUNT 7")
		head, list, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(r, "["), "]"), ", [")
		cursor = strings.Trim(head, `"`)
		for _, m := range strings.Split(strings.TrimSuffix(list, "]"), ", ") {
			seen[strings.Trim(m, `"`)] = true
		}
		k.do(fmt.Sprintf("SREM s churn%d churn%d", n, 2000-n))
		k.do(fmt.Sprintf("SADD s new%d", n))
		if cursor == "0" {
			break
		}
		if n > 10000 {
			t.Fatal("SSCAN does not end")
		}
	}
	for i := range 2000 {
		if !seen[fmt.Sprint("stable", i)] {
			t.Fatalf("stable%d never returned", i)
		}
	}
}

// TestSpopFewRemain: SPOP with a count that leaves at most a fifth of what
// it pops builds a new set of the rest, which becomes an intset again if
// it can (Redis's SPOP_MOVE_STRATEGY_MUL case).
func TestSpopFewRemain(t *testing.T) {
	k := newCore(t)
	for i := 1; i <= 600; i++ {
		k.do(fmt.Sprint("SADD s ", i))
	}
	eq(t, "encoding", k.do("OBJECT ENCODING s"), `"hashtable"`)
	r := k.do("SPOP s 590")
	eq(t, "popped", strings.Count(r, ",")+1, 590)
	eq(t, "scard", k.do("SCARD s"), "(integer) 10")
	eq(t, "encoding", k.do("OBJECT ENCODING s"), `"intset"`)
	members := strings.Split(strings.Trim(k.do("SMEMBERS s"), "[]"), ", ")
	for _, m := range members {
		if strings.Contains(r, m+",") || strings.HasSuffix(r, m+"]") {
			t.Fatalf("%s both popped and kept", m)
		}
	}
	// Popping a few of many: one by one.
	k.do("DEL s")
	for i := 1; i <= 100; i++ {
		k.do(fmt.Sprint("SADD s ", i))
	}
	k.do("SPOP s 10")
	eq(t, "scard", k.do("SCARD s"), "(integer) 90")
}

// TestSetRandomUniform: SRANDMEMBER (each form), SPOP and the intset and
// hashtable encodings pick every member about equally often.
func TestSetRandomUniform(t *testing.T) {
	for _, members := range []string{"1 2 3 4 5 6 7 8 9 10", "a b c d e f g h i j k l m n o p q r s t"} {
		k := newCore(t)
		k.do("SADD s " + members)
		n := len(strings.Fields(members))
		const draws = 20000
		check := func(what string, counts map[string]int, total int) {
			t.Helper()
			if len(counts) != n {
				t.Fatalf("%s: %d distinct members, want %d", what, len(counts), n)
			}
			want := float64(total) / float64(n)
			for m, c := range counts {
				if math.Abs(float64(c)-want) > 6*math.Sqrt(want) {
					t.Fatalf("%s: %s drawn %d times, expected about %.0f", what, m, c, want)
				}
			}
		}
		counts := map[string]int{}
		for range draws / 10 {
			for _, m := range strings.Split(strings.Trim(k.do("SRANDMEMBER s -10"), "[]"), ", ") {
				counts[m]++
			}
		}
		check("SRANDMEMBER -10", counts, draws)
		counts = map[string]int{}
		for range draws / 3 {
			r := strings.Split(strings.Trim(k.do("SRANDMEMBER s 3"), "[]"), ", ")
			if len(r) != 3 || r[0] == r[1] || r[1] == r[2] || r[0] == r[2] {
				t.Fatalf("SRANDMEMBER 3: %v", r)
			}
			for _, m := range r {
				counts[m]++
			}
		}
		check("SRANDMEMBER 3", counts, draws/3*3)
		counts = map[string]int{}
		for range draws {
			m := k.do("SPOP s")
			counts[m]++
			k.doArgs([]byte("SADD"), []byte("s"), []byte(strings.Trim(m, `"`)))
		}
		check("SPOP", counts, draws)
	}
}

// TestSetRandomCountLimit: a count with repetitions past maxRandomCount is
// refused rather than building the reply.
func TestSetRandomCountLimit(t *testing.T) {
	k := newCore(t)
	k.do("SADD s a")
	eq(t, "huge", k.do("SRANDMEMBER s -9223372036854775807"), "(error) "+errRandomCount)
	eq(t, "limit+1", k.do(fmt.Sprint("SRANDMEMBER s -", maxRandomCount+1)), "(error) "+errRandomCount)
	eq(t, "missing key", k.do("SRANDMEMBER nokey -9223372036854775807"), "[]")
	eq(t, "positive huge", k.do("SRANDMEMBER s 9223372036854775807"), `["a"]`)
}

// TestSetAOF: sets survive an AOF replay and a rewrite, SPOP is logged as
// SREM of what it popped, and the encodings come back.
func TestSetAOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	addr := startServer(t, Config{AOF: path, AppendFsync: "always", AutoAOFRewritePercentage: 0})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	for i := range 300 {
		rdb.SAdd(ctx, "big", fmt.Sprint("m", i))
		rdb.SAdd(ctx, "ints", i)
	}
	rdb.SAdd(ctx, "small", "a", "b", "c")
	rdb.SPop(ctx, "big")
	rdb.SPopN(ctx, "big", 20)
	rdb.SPopN(ctx, "ints", 290) // few remain: a new set
	rdb.SRem(ctx, "small", "b")
	rdb.SMove(ctx, "small", "moved", "a")
	rdb.SUnionStore(ctx, "u", "ints", "small")
	rdb.Expire(ctx, "u", time.Hour)
	keys := []string{"big", "ints", "small", "moved", "u"}
	live := func() string {
		var b strings.Builder
		for _, key := range keys {
			fmt.Fprintf(&b, "%s %s %s\n", key, sorted(must(rdb.SMembers(ctx, key).Result())), rdb.ObjectEncoding(ctx, key).Val())
		}
		return b.String()
	}
	load := func() string {
		s := newServer(Config{MaxReq: 1 << 20})
		if err := s.loadAOF(path, io.Discard); err != nil {
			t.Fatal(err)
		}
		k := &core{t: t, s: s, c: s.newClient(nil)}
		var b strings.Builder
		for _, key := range keys {
			var ms []string
			if r := k.do("SMEMBERS " + key); r != "[]" {
				for _, m := range strings.Split(strings.Trim(r, "[]"), ", ") {
					u, _ := strconv.Unquote(m)
					ms = append(ms, u)
				}
			}
			enc := k.do("OBJECT ENCODING " + key)
			if enc == "(nil)" {
				enc = ""
			}
			fmt.Fprintf(&b, "%s %s %s\n", key, sorted(ms), strings.Trim(enc, `"`))
		}
		if k.do("TTL u") == "(integer) -1" {
			t.Error("TTL lost")
		}
		return b.String()
	}
	want := live()
	if got := load(); got != want {
		t.Fatalf("replayed:\n%s\nlive:\n%s", got, want)
	}
	if err := rdb.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the rewrite", func() bool {
		return infoField(t, rdb, "aof_rewrite_in_progress") == "0" && infoField(t, rdb, "aof_last_rewrite_time_sec") != "-1"
	})
	if got := load(); got != want {
		t.Fatalf("rewritten:\n%s\nlive:\n%s", got, want)
	}
}

// TestSetRewriteBatches: the rewrite emits SADD commands of at most
// rewriteBatch members.
func TestSetRewriteBatches(t *testing.T) {
	o := newSet()
	for i := range 200 {
		o.add([]byte(fmt.Sprint("m", i)))
	}
	var cmds, members int
	err := o.rewrite([]byte("k"), func(args ...[]byte) error {
		cmds++
		if string(args[0]) != "SADD" || string(args[1]) != "k" || len(args)-2 > rewriteBatch {
			t.Fatalf("bad command %q", args[:2])
		}
		members += len(args) - 2
		return nil
	})
	if err != nil || cmds != 4 || members != 200 {
		t.Fatalf("%d commands, %d members, %v", cmds, members, err)
	}
}
