package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisLists drives the list commands through go-redis (RESP2, as
// it falls back from HELLO 3).
func TestGoRedisLists(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	eq(t, "RPUSH", must(rdb.RPush(ctx, "l", "a", "b", "c", "b").Result()), int64(4))
	eq(t, "LPUSH", must(rdb.LPush(ctx, "l", "z").Result()), int64(5))
	if got := must(rdb.LRange(ctx, "l", 0, -1).Result()); !slices.Equal(got, []string{"z", "a", "b", "c", "b"}) {
		t.Fatalf("LRANGE %v", got)
	}
	eq(t, "LPOS", must(rdb.LPos(ctx, "l", "b", redis.LPosArgs{Rank: -1}).Result()), int64(4))
	if got := must(rdb.LPosCount(ctx, "l", "b", 0, redis.LPosArgs{}).Result()); !slices.Equal(got, []int64{2, 4}) {
		t.Fatalf("LPOS COUNT %v", got)
	}
	eq(t, "LINDEX", must(rdb.LIndex(ctx, "l", -2).Result()), "c")
	eq(t, "LINSERT", must(rdb.LInsertAfter(ctx, "l", "c", "c2").Result()), int64(6))
	eq(t, "LREM", must(rdb.LRem(ctx, "l", 0, "b").Result()), int64(2))
	eq(t, "LSET", must(rdb.LSet(ctx, "l", 0, "Z").Result()), "OK")
	eq(t, "LMOVE", must(rdb.LMove(ctx, "l", "m", "RIGHT", "LEFT").Result()), "c2")
	eq(t, "RPOPLPUSH", must(rdb.Do(ctx, "RPOPLPUSH", "l", "m").Text()), "c")
	if got := must(rdb.LPopCount(ctx, "l", 5).Result()); !slices.Equal(got, []string{"Z", "a"}) {
		t.Fatalf("LPOP count %v", got)
	}
	eq(t, "emptied", must(rdb.Exists(ctx, "l").Result()), int64(0))
	key, vals := must2(rdb.LMPop(ctx, "left", 5, "l", "m").Result())
	if key != "m" || !slices.Equal(vals, []string{"c", "c2"}) {
		t.Fatalf("LMPOP %s %v", key, vals)
	}
	eq(t, "LTRIM", must(rdb.LTrim(ctx, "nope", 0, 1).Result()), "OK")
	eq(t, "LLEN", must(rdb.LLen(ctx, "nope").Result()), int64(0))
	rdb.Set(ctx, "s", "v", 0)
	if err := rdb.LPush(ctx, "s", "x").Err(); err == nil || err.Error() != errWrongType {
		t.Fatalf("LPUSH on a string: %v", err)
	}
	// Blocking: a timeout, then a client served by a push from another.
	if err := rdb.BLPop(ctx, 50*time.Millisecond, "q").Err(); err != redis.Nil {
		t.Fatalf("BLPOP timeout: %v", err)
	}
	done := make(chan []string, 1)
	go func() {
		r, err := rdb.BRPop(ctx, 10*time.Second, "q").Result()
		if err != nil {
			r = []string{err.Error()}
		}
		done <- r
	}()
	ctl := dialRaw(t, addr)
	waitBlocked(t, ctl, 1)
	rdb.RPush(ctx, "q", "1", "2")
	if got := <-done; !slices.Equal(got, []string{"q", "2"}) {
		t.Fatalf("BRPOP %v", got)
	}
	eq(t, "BLMOVE", must(rdb.BLMove(ctx, "q", "q2", "LEFT", "RIGHT", time.Second).Result()), "1")
	key, vals = must2(rdb.BLMPop(ctx, time.Second, "right", 3, "q", "q2").Result())
	if key != "q2" || !slices.Equal(vals, []string{"1"}) {
		t.Fatalf("BLMPOP %s %v", key, vals)
	}
	eq(t, "TYPE", must(rdb.Type(ctx, "q2").Result()), "none")
}
