package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestGoRedisHash(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	eq(t, "hset", must(rdb.HSet(ctx, "h", "a", "1", "b", "2").Result()), int64(2))
	eq(t, "hset map", must(rdb.HSet(ctx, "h", map[string]any{"b": "3", "c": "x"}).Result()), int64(1))
	eq(t, "hmset", must(rdb.HMSet(ctx, "h", "d", "4").Result()), true)
	eq(t, "hsetnx", must(rdb.HSetNX(ctx, "h", "a", "9").Result()), false)
	eq(t, "hsetnx new", must(rdb.HSetNX(ctx, "h", "e", "5").Result()), true)
	eq(t, "hget", must(rdb.HGet(ctx, "h", "b").Result()), "3")
	if err := rdb.HGet(ctx, "h", "nope").Err(); err != redis.Nil {
		t.Fatalf("hget of a missing field: %v", err)
	}
	eq(t, "hmget", fmt.Sprint(must(rdb.HMGet(ctx, "h", "a", "nope", "c").Result())), "[1 <nil> x]")
	eq(t, "hlen", must(rdb.HLen(ctx, "h").Result()), int64(5))
	eq(t, "hstrlen", must(rdb.Do(ctx, "HSTRLEN", "h", "c").Int()), 1)
	eq(t, "hexists", must(rdb.HExists(ctx, "h", "c").Result()), true)
	eq(t, "hkeys", fmt.Sprint(must(rdb.HKeys(ctx, "h").Result())), "[a b c d e]")
	eq(t, "hvals", fmt.Sprint(must(rdb.HVals(ctx, "h").Result())), "[1 3 x 4 5]")
	eq(t, "hgetall", fmt.Sprint(must(rdb.HGetAll(ctx, "h").Result())), "map[a:1 b:3 c:x d:4 e:5]")
	eq(t, "hincrby", must(rdb.HIncrBy(ctx, "h", "a", 41).Result()), int64(42))
	eq(t, "hincrbyfloat", must(rdb.HIncrByFloat(ctx, "h", "a", 0.5).Result()), 42.5)
	if err := rdb.HIncrBy(ctx, "h", "c", 1).Err(); err == nil || err.Error() != "ERR hash value is not an integer" {
		t.Fatalf("hincrby of a string: %v", err)
	}
	eq(t, "hdel", must(rdb.HDel(ctx, "h", "a", "nope").Result()), int64(1))
	eq(t, "hkeys after hdel", fmt.Sprint(must(rdb.HKeys(ctx, "h").Result())), "[b c d e]")
	f := must(rdb.HRandField(ctx, "h", 1).Result())
	eq(t, "hrandfield", must(rdb.HExists(ctx, "h", f[0]).Result()), true)
	eq(t, "hrandfield all", len(must(rdb.HRandField(ctx, "h", 10).Result())), 4)
	eq(t, "hrandfield rep", len(must(rdb.HRandField(ctx, "h", -10).Result())), 10)
	kv := must(rdb.HRandFieldWithValues(ctx, "h", 2).Result())
	eq(t, "hrandfield withvalues", len(kv), 2)
	for _, p := range kv {
		eq(t, "hrandfield value", must(rdb.HGet(ctx, "h", p.Key).Result()), p.Value)
	}
	eq(t, "encoding", must(rdb.ObjectEncoding(ctx, "h").Result()), "listpack")
	rdb.HSet(ctx, "h", "long", strings.Repeat("v", 65))
	eq(t, "encoding", must(rdb.ObjectEncoding(ctx, "h").Result()), "hashtable")
	eq(t, "type", must(rdb.Type(ctx, "h").Result()), "hash")
	rdb.Set(ctx, "str", "x", 0)
	if err := rdb.HSet(ctx, "str", "a", "1").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("hset on a string: %v", err)
	}

	// HSCAN over a hashtable: every field once in a quiet hash, with its value.
	for i := range 1000 {
		rdb.HSet(ctx, "big", fmt.Sprint("f", i), fmt.Sprint("v", i))
	}
	seen := map[string]int{}
	var cursor uint64
	for {
		kvs, next := must2(rdb.HScan(ctx, "big", cursor, "f2*", 30).Result())
		for i := 0; i < len(kvs); i += 2 {
			seen[kvs[i]]++
			eq(t, "hscan value", "v"+kvs[i][1:], kvs[i+1])
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	eq(t, "hscan match", len(seen), 111)
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("hscan: %s seen %d times", k, n)
		}
	}
	eq(t, "hdel all", must(rdb.HDel(ctx, "h", "b", "c", "d", "e", "long").Result()), int64(5))
	eq(t, "empty hash deleted", must(rdb.Exists(ctx, "h").Result()), int64(0))
}

// TestHashScanGuarantee: HSCAN returns every field present for the whole
// iteration while others are added and removed between the calls.
func TestHashScanGuarantee(t *testing.T) {
	k := newCore(t)
	for i := range 1500 {
		k.do(fmt.Sprintf("HSET h stable%d %d churn%d %d", i, i, i, i))
	}
	seen := map[string]bool{}
	cursor := "0"
	for n := 0; ; n++ {
		r := k.do("HSCAN h " + cursor + " COUNT 5")
		head, list, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(r, "["), "]"), ", [")
		cursor = strings.Trim(head, `"`)
		for _, m := range strings.Split(strings.TrimSuffix(list, "]"), ", ") {
			seen[strings.Trim(m, `"`)] = true
		}
		k.do(fmt.Sprintf("HDEL h churn%d churn%d", n, 1500-n))
		k.do(fmt.Sprintf("HSET h new%d x", n))
		if cursor == "0" {
			break
		}
		if n > 10000 {
			t.Fatal("HSCAN does not end")
		}
	}
	for i := range 1500 {
		if !seen[fmt.Sprint("stable", i)] {
			t.Fatalf("stable%d never returned", i)
		}
	}
}

// TestHashListpackOrder: while "listpack", fields keep insertion order
// through updates and deletions, as Redis's listpack does.
func TestHashListpackOrder(t *testing.T) {
	k := newCore(t)
	var want []string
	for i := range 100 {
		k.do(fmt.Sprintf("HSET h f%d %d", i, i))
		want = append(want, fmt.Sprintf("%q", fmt.Sprint("f", i)))
	}
	k.do("HSET h f10 changed")
	k.do("HDEL h f3 f50 f99")
	var exp []string
	for _, f := range want {
		if f != `"f3"` && f != `"f50"` && f != `"f99"` {
			exp = append(exp, f)
		}
	}
	eq(t, "hkeys", k.do("HKEYS h"), "["+strings.Join(exp, ", ")+"]")
	eq(t, "hget", k.do("HGET h f10"), `"changed"`)
	eq(t, "encoding", k.do("OBJECT ENCODING h"), `"listpack"`)
}

// TestHashRandomUniform: HRANDFIELD's forms pick every field about equally
// often, in both encodings.
func TestHashRandomUniform(t *testing.T) {
	for _, n := range []int{10, 600} {
		k := newCore(t)
		for i := range n {
			k.do(fmt.Sprintf("HSET h f%d v%d", i, i))
		}
		draws := 30 * n
		check := func(what string, counts map[string]int, total int) {
			t.Helper()
			if len(counts) != n {
				t.Fatalf("%s: %d distinct fields, want %d", what, len(counts), n)
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
			r := strings.Split(strings.Trim(k.do("HRANDFIELD h -10 WITHVALUES"), "[]"), ", ")
			for i := 0; i < len(r); i += 2 {
				if strings.Trim(r[i], `"f`) != strings.Trim(r[i+1], `"v`) {
					t.Fatalf("field %s with value %s", r[i], r[i+1])
				}
				counts[r[i]]++
			}
		}
		check("HRANDFIELD -10 WITHVALUES", counts, draws)
		counts = map[string]int{}
		for range draws / 3 {
			r := strings.Split(strings.Trim(k.do("HRANDFIELD h 3"), "[]"), ", ")
			if len(r) != 3 || r[0] == r[1] || r[1] == r[2] || r[0] == r[2] {
				t.Fatalf("HRANDFIELD 3: %v", r)
			}
			for _, m := range r {
				counts[m]++
			}
		}
		check("HRANDFIELD 3", counts, draws/3*3)
		counts = map[string]int{}
		for range draws {
			counts[k.do("HRANDFIELD h")]++
		}
		check("HRANDFIELD", counts, draws)
	}
}

// TestHashRandomCountLimit: a count with repetitions past maxRandomCount is
// refused rather than building the reply.
func TestHashRandomCountLimit(t *testing.T) {
	k := newCore(t)
	k.do("HSET h a 1")
	eq(t, "huge", k.do("HRANDFIELD h -9223372036854775807"), "(error) "+errRandomCount)
	eq(t, "huge withvalues", k.do("HRANDFIELD h -4611686018427387903 WITHVALUES"), "(error) "+errRandomCount)
	eq(t, "limit", k.do(fmt.Sprint("HRANDFIELD h -", maxRandomCount+1)), "(error) "+errRandomCount)
	eq(t, "positive huge", k.do("HRANDFIELD h 4611686018427387903 WITHVALUES"), `["a", "1"]`)
}

// TestHashAOF: hashes survive an AOF replay and a rewrite (HSET batches),
// HINCRBYFLOAT is logged as HSET of its result, the encodings come back.
func TestHashAOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	addr := startServer(t, Config{AOF: path, AppendFsync: "always", AutoAOFRewritePercentage: 0})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	for i := range 700 {
		rdb.HSet(ctx, "big", fmt.Sprint("f", i), i)
	}
	rdb.HDel(ctx, "big", "f7", "f70")
	rdb.HSet(ctx, "small", "a", "1", "b", "2", "c", "3")
	rdb.HIncrByFloat(ctx, "small", "a", 0.1)
	rdb.HIncrBy(ctx, "small", "b", -5)
	rdb.HDel(ctx, "small", "c")
	rdb.HSet(ctx, "long", "f", strings.Repeat("x", 100))
	rdb.Expire(ctx, "small", time.Hour)
	keys := []string{"big", "small", "long"}
	live := func() string {
		var b strings.Builder
		for _, key := range keys {
			fmt.Fprintf(&b, "%s %v %s\n", key, must(rdb.HGetAll(ctx, key).Result()), rdb.ObjectEncoding(ctx, key).Val())
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
			m := map[string]string{}
			if r := k.do("HGETALL " + key); r != "[]" {
				p := strings.Split(strings.Trim(r, "[]"), ", ")
				for i := 0; i < len(p); i += 2 {
					f, _ := strconv.Unquote(p[i])
					v, _ := strconv.Unquote(p[i+1])
					m[f] = v
				}
			}
			fmt.Fprintf(&b, "%s %v %s\n", key, m, strings.Trim(k.do("OBJECT ENCODING "+key), `"`))
		}
		if k.do("TTL small") == "(integer) -1" {
			t.Error("TTL lost")
		}
		return b.String()
	}
	want := live()
	if !strings.Contains(want, "a:1.1") {
		t.Fatalf("live: %s", want)
	}
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

// TestHashCopyIsDeep: COPY's copy of a hash or a set changes alone.
func TestHashCopyIsDeep(t *testing.T) {
	k := newCore(t)
	k.do("HSET h a 1 b 2")
	k.do("SADD s x y")
	k.do("COPY h h2")
	k.do("COPY s s2")
	k.do("HSET h2 a changed")
	k.do("HDEL h2 b")
	k.do("SREM s2 x")
	eq(t, "original hash", k.do("HGETALL h"), `["a", "1", "b", "2"]`)
	eq(t, "original set", k.do("SCARD s"), "(integer) 2")
}
