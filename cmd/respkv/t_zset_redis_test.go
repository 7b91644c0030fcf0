package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
	"github.com/redis/go-redis/v9"
)

func zs(pairs ...any) []redis.Z {
	var out []redis.Z
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, redis.Z{Score: pairs[i].(float64), Member: pairs[i+1]})
	}
	return out
}

func zfmt(zz []redis.Z) string {
	var b strings.Builder
	for _, z := range zz {
		fmt.Fprintf(&b, "%v:%v ", z.Member, z.Score)
	}
	return strings.TrimSpace(b.String())
}

func TestGoRedisZset(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	eq(t, "zadd", must(rdb.ZAdd(ctx, "z", zs(1.0, "a", 2.0, "b", 3.0, "c")...).Result()), int64(3))
	eq(t, "zadd nx", must(rdb.ZAddNX(ctx, "z", zs(10.0, "a", 4.0, "d")...).Result()), int64(1))
	eq(t, "zadd xx ch", must(rdb.ZAddArgs(ctx, "z", redis.ZAddArgs{XX: true, Ch: true, Members: zs(1.5, "a", 9.0, "nope")}).Result()), int64(1))
	eq(t, "zadd gt", must(rdb.ZAddArgs(ctx, "z", redis.ZAddArgs{GT: true, Ch: true, Members: zs(1.0, "a", 5.0, "b")}).Result()), int64(1))
	eq(t, "zadd lt", must(rdb.ZAddArgs(ctx, "z", redis.ZAddArgs{LT: true, Ch: true, Members: zs(0.5, "a", 6.0, "b")}).Result()), int64(1))
	eq(t, "zadd incr", must(rdb.ZAddArgsIncr(ctx, "z", redis.ZAddArgs{Members: zs(0.25, "a")}).Result()), 0.75)
	eq(t, "zincrby", must(rdb.ZIncrBy(ctx, "z", 0.25, "a").Result()), 1.0)
	eq(t, "zcard", must(rdb.ZCard(ctx, "z").Result()), int64(4))
	eq(t, "zscore", must(rdb.ZScore(ctx, "z", "b").Result()), 5.0)
	if err := rdb.ZScore(ctx, "z", "nope").Err(); err != redis.Nil {
		t.Fatalf("zscore of a missing member: %v", err)
	}
	eq(t, "zmscore", fmt.Sprint(must(rdb.ZMScore(ctx, "z", "a", "nope", "d").Result())), "[1 0 4]")
	eq(t, "zrank", must(rdb.ZRank(ctx, "z", "b").Result()), int64(3))
	eq(t, "zrevrank", must(rdb.ZRevRank(ctx, "z", "b").Result()), int64(0))
	eq(t, "zcount", must(rdb.ZCount(ctx, "z", "(1", "4").Result()), int64(2))
	eq(t, "zrange", fmt.Sprint(must(rdb.ZRange(ctx, "z", 0, -1).Result())), "[a c d b]")
	eq(t, "zrange withscores", zfmt(must(rdb.ZRangeWithScores(ctx, "z", -2, -1).Result())), "d:4 b:5")
	eq(t, "zrevrange", fmt.Sprint(must(rdb.Do(ctx, "ZREVRANGE", "z", 0, 1).Result())), "[b d]")
	eq(t, "zrangebyscore", fmt.Sprint(must(rdb.Do(ctx, "ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 1, 2).Result())), "[c d]")
	eq(t, "zrevrangebyscore", fmt.Sprint(must(rdb.Do(ctx, "ZREVRANGEBYSCORE", "z", "(5", "2").Result())), "[d c]")
	eq(t, "zrange byscore rev", fmt.Sprint(must(rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: "z", Start: "+inf", Stop: "-inf", ByScore: true, Rev: true, Offset: 0, Count: 2}).Result())), "[b d]")
	eq(t, "zrangestore", must(rdb.ZRangeStore(ctx, "dst", redis.ZRangeArgs{Key: "z", Start: 0, Stop: 1}).Result()), int64(2))
	eq(t, "zrangestore empty", must(rdb.ZRangeStore(ctx, "dst", redis.ZRangeArgs{Key: "z", Start: 10, Stop: 11}).Result()), int64(0))
	eq(t, "dst deleted", must(rdb.Exists(ctx, "dst").Result()), int64(0))

	// lex
	rdb.ZAdd(ctx, "l", zs(0.0, "a", 0.0, "b", 0.0, "c", 0.0, "d")...)
	eq(t, "zrangebylex", fmt.Sprint(must(rdb.Do(ctx, "ZRANGEBYLEX", "l", "[b", "+").Result())), "[b c d]")
	eq(t, "zrevrangebylex", fmt.Sprint(must(rdb.Do(ctx, "ZREVRANGEBYLEX", "l", "(c", "-", "LIMIT", 0, 1).Result())), "[b]")
	eq(t, "zlexcount", must(rdb.ZLexCount(ctx, "l", "(a", "[c").Result()), int64(2))
	eq(t, "zremrangebylex", must(rdb.ZRemRangeByLex(ctx, "l", "[a", "(c").Result()), int64(2))
	eq(t, "zremrangebyrank", must(rdb.ZRemRangeByRank(ctx, "l", 0, 0).Result()), int64(1))
	eq(t, "zremrangebyscore", must(rdb.ZRemRangeByScore(ctx, "l", "-inf", "+inf").Result()), int64(1))
	eq(t, "emptied key deleted", must(rdb.Exists(ctx, "l").Result()), int64(0))
	eq(t, "zrem", must(rdb.ZRem(ctx, "z", "a", "nope").Result()), int64(1))

	// pops
	rdb.ZAdd(ctx, "p", zs(1.0, "a", 2.0, "b", 3.0, "c", 4.0, "d")...)
	eq(t, "zpopmin", zfmt(must(rdb.ZPopMin(ctx, "p").Result())), "a:1")
	eq(t, "zpopmax", zfmt(must(rdb.ZPopMax(ctx, "p", 2).Result())), "d:4 c:3")
	key, popped := must2(rdb.ZMPop(ctx, "min", 5, "nokey", "p").Result())
	eq(t, "zmpop", key+" "+zfmt(popped), "p b:2")
	if err := rdb.ZMPop(ctx, "min", 1, "p").Err(); err != redis.Nil {
		t.Fatalf("zmpop of nothing: %v", err)
	}

	// random members
	rdb.ZAdd(ctx, "r", zs(1.0, "a", 2.0, "b", 3.0, "c")...)
	for range 20 {
		m := must(rdb.ZRandMember(ctx, "r", -5).Result())
		if len(m) != 5 {
			t.Fatalf("zrandmember -5: %v", m)
		}
		d := must(rdb.ZRandMember(ctx, "r", 2).Result())
		if len(d) != 2 || d[0] == d[1] {
			t.Fatalf("zrandmember 2: %v", d)
		}
		ws := must(rdb.ZRandMemberWithScores(ctx, "r", 1).Result())
		if len(ws) != 1 || ws[0].Score != map[string]float64{"a": 1, "b": 2, "c": 3}[ws[0].Member.(string)] {
			t.Fatalf("zrandmember withscores: %v", ws)
		}
	}

	// set operations
	rdb.ZAdd(ctx, "u1", zs(1.0, "a", 2.0, "b")...)
	rdb.ZAdd(ctx, "u2", zs(10.0, "b", 20.0, "c")...)
	eq(t, "zunion", zfmt(must(rdb.ZUnionWithScores(ctx, redis.ZStore{Keys: []string{"u1", "u2"}, Weights: []float64{2, 1}}).Result())), "a:2 b:14 c:20")
	eq(t, "zinter", zfmt(must(rdb.ZInterWithScores(ctx, &redis.ZStore{Keys: []string{"u1", "u2"}, Aggregate: "MAX"}).Result())), "b:10")
	eq(t, "zdiff", zfmt(must(rdb.ZDiffWithScores(ctx, "u1", "u2").Result())), "a:1")
	eq(t, "zunionstore", must(rdb.ZUnionStore(ctx, "out", &redis.ZStore{Keys: []string{"u1", "u2"}, Aggregate: "MIN"}).Result()), int64(3))
	eq(t, "zinterstore", must(rdb.ZInterStore(ctx, "out", &redis.ZStore{Keys: []string{"u1", "u2"}}).Result()), int64(1))
	eq(t, "zdiffstore", must(rdb.ZDiffStore(ctx, "out", "u1", "u2").Result()), int64(1))
	eq(t, "zintercard", must(rdb.ZInterCard(ctx, 0, "u1", "u2").Result()), int64(1))

	// ZSCAN over a large set visits every member once when nothing changes.
	big := make([]redis.Z, 1000)
	for i := range big {
		big[i] = redis.Z{Score: float64(i % 7), Member: fmt.Sprint("m", i)}
	}
	rdb.ZAdd(ctx, "big", big...)
	eq(t, "encoding", must(rdb.ObjectEncoding(ctx, "big").Result()), "skiplist")
	seen := map[string]int{}
	var cur uint64
	for {
		keys, next := must2(rdb.ZScan(ctx, "big", cur, "m1*", 50).Result())
		for i := 0; i < len(keys); i += 2 {
			seen[keys[i]]++
		}
		if cur = next; cur == 0 {
			break
		}
	}
	n := 0
	for m, c := range seen {
		if !strings.HasPrefix(m, "m1") || c != 1 {
			t.Fatalf("zscan: %s seen %d times", m, c)
		}
		n++
	}
	eq(t, "zscan members matching m1*", n, 111)

	// key commands treat sorted sets as any type
	eq(t, "type", must(rdb.Type(ctx, "big").Result()), "zset")
	eq(t, "copy", must(rdb.Copy(ctx, "big", "big2", 0, false).Result()), int64(1))
	rdb.ZRem(ctx, "big2", "m0")
	eq(t, "copy is deep", must(rdb.ZCard(ctx, "big").Result())-must(rdb.ZCard(ctx, "big2").Result()), int64(1))
	eq(t, "rename", must(rdb.Rename(ctx, "big2", "big3").Result()), "OK")
	eq(t, "move", must(rdb.Move(ctx, "big3", 2).Result()), true)
	rdb.Set(ctx, "str", "x", 0)
	keys, _ := must2(rdb.ScanType(ctx, 0, "", 1000, "zset").Result())
	slices.Sort(keys)
	eq(t, "scan type", fmt.Sprint(keys), "[big out r u1 u2 z]")
}

// TestZsetBlocking: BZPOPMIN/BZPOPMAX/BZMPOP block until a ZADD, first
// blocked first served; a key that holds another type when signalled keeps
// its waiters blocked; the blocked clients' pipelined commands run after.
func TestZsetBlocking(t *testing.T) {
	k := newCore(t)
	send := func(c *client, args ...string) {
		t.Helper()
		var bs [][]byte
		for _, a := range args {
			bs = append(bs, []byte(a))
		}
		req := resp.AppendCommand(nil, bs...)
		if n := k.s.feed(c, req); n != len(req) {
			t.Fatalf("feed used %d of %d", n, len(req))
		}
	}
	reply := func(c *client) string {
		t.Helper()
		if len(c.out) == 0 {
			return "(none)"
		}
		r := bufio.NewReader(bytes.NewReader(c.out))
		got, err := readReply(r)
		if err != nil {
			t.Fatal(err)
		}
		c.out = c.out[:0]
		return got
	}
	c1, c2, c3 := k.s.newClient(nil), k.s.newClient(nil), k.s.newClient(nil)
	send(c1, "BZPOPMIN", "nokey", "k", "0")
	send(c2, "BZPOPMAX", "k", "0")
	send(c3, "BZMPOP", "0", "2", "other", "k", "MIN", "COUNT", "5")
	if k.s.blockedClients() != 3 || reply(c1) != "(none)" {
		t.Fatal("not blocked")
	}
	k.do("SET k x") // another type: all stay blocked
	k.do("SET tmp y")
	k.do("RENAME tmp k")
	if k.s.blockedClients() != 3 {
		t.Fatal("served from a string")
	}
	k.do("DEL k")
	k.do("ZADD k 1 a 2 b 3 c 4 d")
	eq(t, "first", reply(c1), `["k", "a", "1"]`)
	eq(t, "second", reply(c2), `["k", "d", "4"]`)
	eq(t, "third", reply(c3), `["k", [["b", "2"], ["c", "3"]]]`)
	eq(t, "emptied key", k.do("EXISTS k"), "(integer) 0")
	eq(t, "blocked", k.s.blockedClients(), 0)
	// A pipelined command behind a blocked one runs once it is served.
	req := resp.AppendCommand(nil, []byte("BZPOPMIN"), []byte("q"), []byte("0"))
	req = resp.AppendCommand(req, []byte("ZCARD"), []byte("q"))
	n := k.s.feed(c1, req)
	if c1.block == nil {
		t.Fatal("not blocked")
	}
	k.do("ZADD q 1 a 2 b")
	if c1.block != nil {
		t.Fatal("not served")
	}
	eq(t, "served", reply(c1), `["q", "a", "1"]`)
	k.s.feed(c1, req[n:])
	eq(t, "pipelined", reply(c1), "(integer) 1")
	// ZINCRBY and ZUNIONSTORE create keys that serve waiters too.
	send(c2, "BZPOPMAX", "w", "0")
	k.do("ZINCRBY w 5 m")
	eq(t, "zincrby serves", reply(c2), `["w", "m", "5"]`)
	send(c2, "BZPOPMAX", "w", "0")
	k.do("ZUNIONSTORE w 1 q")
	eq(t, "zunionstore serves", reply(c2), `["w", "b", "2"]`)
}

// TestZsetBlockingNetwork: a blocking pop over a connection is served by a
// ZADD from another, and times out on a loop timer.
func TestZsetBlockingNetwork(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	c := newClient(t, addr, 2)
	done := make(chan string, 1)
	go func() {
		v, err := c.Do(ctx, "BZPOPMIN", "k", "0").Result()
		done <- fmt.Sprint(v, err)
	}()
	rdb.ZAdd(ctx, "k", zs(1.0, "a")...)
	eq(t, "served", <-done, "[k a 1] <nil>")
	start := time.Now()
	if err := c.Do(ctx, "BZPOPMAX", "none", "0.1").Err(); err != redis.Nil {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("timed out after %v", d)
	}
	// Inside MULTI nothing blocks.
	cmds, _ := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.BZPopMin(ctx, 0, "none")
		p.BZMPop(ctx, 0, "min", 1, "none")
		return nil
	})
	for _, cmd := range cmds {
		if cmd.Err() != redis.Nil {
			t.Fatalf("%v in MULTI: %v", cmd.Args(), cmd.Err())
		}
	}
}

// TestZsetAOF: sorted sets survive the AOF (commands as written, blocking
// pops logged as ZPOPMIN/ZPOPMAX) and its rewrite (ZADD batches).
func TestZsetAOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	addr := startServer(t, Config{AOF: path, AppendFsync: "always", AutoAOFRewritePercentage: 0})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	big := make([]redis.Z, 300)
	for i := range big {
		big[i] = redis.Z{Score: float64(i) / 3, Member: fmt.Sprint("m", i)}
	}
	rdb.ZAdd(ctx, "big", big...)
	rdb.ZAdd(ctx, "small", zs(math.Inf(-1), "lo", 0.1, "x", math.Inf(1), "hi")...)
	rdb.ZIncrBy(ctx, "small", 1e20, "x")
	rdb.ZUnionStore(ctx, "u", &redis.ZStore{Keys: []string{"big", "small"}, Weights: []float64{2, 1}})
	rdb.ZPopMin(ctx, "big", 3)
	rdb.ZMPop(ctx, "max", 2, "big")
	rdb.Expire(ctx, "u", time.Hour)
	c := newClient(t, addr, 2)
	done := make(chan error, 1)
	go func() { done <- c.BZPopMax(ctx, 0, "w").Err() }()
	rdb.ZAdd(ctx, "w", zs(1.0, "a", 2.0, "b")...)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snapshot := func(rdb *redis.Client) string {
		var b strings.Builder
		for _, k := range []string{"big", "small", "u", "w"} {
			fmt.Fprintf(&b, "%s %s %s\n", k, zfmt(must(rdb.ZRangeWithScores(ctx, k, 0, -1).Result())), must(rdb.ObjectEncoding(ctx, k).Result()))
		}
		return b.String()
	}
	before := snapshot(rdb)
	if !strings.Contains(before, "w a:1 listpack") {
		t.Fatalf("BZPOPMAX: %s", before)
	}
	load := func() string {
		s := newServer(Config{MaxReq: 1 << 20})
		if err := s.loadAOF(path, io.Discard); err != nil {
			t.Fatal(err)
		}
		k := &core{t: t, s: s, c: s.newClient(nil)}
		var b strings.Builder
		for _, key := range []string{"big", "small", "u", "w"} {
			items := k.do("ZRANGE " + key + " 0 -1 WITHSCORES")
			fmt.Fprintf(&b, "%s %s %s\n", key, items, k.do("OBJECT ENCODING "+key))
		}
		if k.do("TTL u") == "(integer) -1" {
			t.Error("TTL lost")
		}
		return b.String()
	}
	replayed := load()
	if err := rdb.Do(ctx, "BGREWRITEAOF").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the rewrite", func() bool {
		return infoField(t, rdb, "aof_rewrite_in_progress") == "0" && infoField(t, rdb, "aof_last_rewrite_time_sec") != "-1"
	})
	rewritten := load()
	if replayed != rewritten {
		t.Fatalf("replayed:\n%s\nrewritten:\n%s", replayed, rewritten)
	}
	// The core's view equals go-redis's (same members, scores, encodings).
	var want strings.Builder
	for _, key := range []string{"big", "small", "u", "w"} {
		vals := must(rdb.Do(ctx, "ZRANGE", key, "0", "-1", "WITHSCORES").Slice())
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&want, "%s [%s] %q\n", key, strings.Join(q, ", "), must(rdb.ObjectEncoding(ctx, key).Result()))
	}
	if replayed != want.String() {
		t.Fatalf("after loading:\n%s\nlive:\n%s", replayed, want.String())
	}
}
