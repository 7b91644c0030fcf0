package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startServer runs a server on a random port in this process, stopped at
// the end of the test.
func startServer(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	in, err := newInstance(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	addr := in.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
	})
	return addr
}

func newClient(t *testing.T, addr string, protocol int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, PoolSize: 64, MaxRetries: -1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// must2 is must for two values.
func must2[T, U any](v T, w U, err error) (T, U) {
	if err != nil {
		panic(err)
	}
	return v, w
}

// must returns v, or panics (failing the test) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestGoRedisStrings(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	for _, proto := range []int{2, 3} { // 3: HELLO 3 fails, go-redis falls back to RESP2
		rdb := newClient(t, addr, proto)
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		eq(t, "set", must(rdb.Set(ctx, "k", "v", 0).Result()), "OK")
		eq(t, "get", must(rdb.Get(ctx, "k").Result()), "v")
		if _, err := rdb.Get(ctx, "nokey").Result(); err != redis.Nil {
			t.Fatalf("get missing: %v", err)
		}
		eq(t, "set ex", must(rdb.Set(ctx, "e", "v", 10*time.Second).Result()), "OK")
		eq(t, "ttl", must(rdb.TTL(ctx, "e").Result()), 10*time.Second)
		eq(t, "set px", must(rdb.Set(ctx, "e", "v", 1500*time.Millisecond).Result()), "OK")
		if d := must(rdb.PTTL(ctx, "e").Result()); d > 1500*time.Millisecond || d < time.Second {
			t.Errorf("pttl %v", d)
		}
		old := must(rdb.SetArgs(ctx, "k", "v2", redis.SetArgs{Get: true, KeepTTL: true}).Result())
		eq(t, "set get", old, "v")
		if _, err := rdb.SetArgs(ctx, "k", "x", redis.SetArgs{Mode: "NX"}).Result(); err != redis.Nil {
			t.Errorf("set nx existing: %v", err)
		}
		eq(t, "set xx", must(rdb.SetArgs(ctx, "k", "v3", redis.SetArgs{Mode: "XX"}).Result()), "OK")
		at := time.Now().Add(time.Hour).Truncate(time.Second)
		eq(t, "set exat", must(rdb.SetArgs(ctx, "k", "v4", redis.SetArgs{ExpireAt: at}).Result()), "OK")
		eq(t, "expiretime", must(rdb.ExpireTime(ctx, "k").Result()), time.Duration(at.Unix())*time.Second)
		eq(t, "setnx", must(rdb.SetNX(ctx, "k", "x", 0).Result()), false)
		eq(t, "setnx new", must(rdb.SetNX(ctx, "nx", "x", 0).Result()), true)
		eq(t, "setex", fmt.Sprint(must(rdb.Do(ctx, "SETEX", "sx", 60, "v").Result())), "OK")
		eq(t, "getset", fmt.Sprint(must(rdb.Do(ctx, "GETSET", "sx", "w").Result())), "v")
		eq(t, "ttl after getset", must(rdb.TTL(ctx, "sx").Result()), time.Duration(-1))
		eq(t, "getdel", must(rdb.GetDel(ctx, "sx").Result()), "w")
		eq(t, "exists", must(rdb.Exists(ctx, "sx").Result()), int64(0))
		eq(t, "getex", must(rdb.GetEx(ctx, "nx", time.Minute).Result()), "x")
		eq(t, "getex ttl", must(rdb.TTL(ctx, "nx").Result()), time.Minute)
		eq(t, "mset", must(rdb.MSet(ctx, "a", "1", "b", "2").Result()), "OK")
		mg := must(rdb.MGet(ctx, "a", "nokey", "b").Result())
		eq(t, "mget", fmt.Sprint(mg), "[1 <nil> 2]")
		eq(t, "msetnx", must(rdb.MSetNX(ctx, "a", "1", "c", "3").Result()), false)
		eq(t, "append", must(rdb.Append(ctx, "a", "23").Result()), int64(3))
		eq(t, "strlen", must(rdb.StrLen(ctx, "a").Result()), int64(3))
		eq(t, "getrange", must(rdb.GetRange(ctx, "a", 1, -1).Result()), "23")
		eq(t, "setrange", must(rdb.SetRange(ctx, "a", 1, "xy").Result()), int64(3))
		eq(t, "incr", must(rdb.Incr(ctx, "n").Result()), int64(1))
		eq(t, "incrby", must(rdb.IncrBy(ctx, "n", 41).Result()), int64(42))
		eq(t, "decr", must(rdb.Decr(ctx, "n").Result()), int64(41))
		eq(t, "decrby", must(rdb.DecrBy(ctx, "n", 40).Result()), int64(1))
		eq(t, "incrbyfloat", must(rdb.IncrByFloat(ctx, "n", 0.5).Result()), 1.5)
		eq(t, "setbit", must(rdb.SetBit(ctx, "bits", 9, 1).Result()), int64(0))
		eq(t, "getbit", must(rdb.GetBit(ctx, "bits", 9).Result()), int64(1))
		eq(t, "bits", must(rdb.Get(ctx, "bits").Result()), "\x00\x40")
		if _, err := rdb.Incr(ctx, "a").Result(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
			t.Errorf("incr non-integer: %v", err)
		}
		// binary keys and values
		bk := "k\x00\r\n\xff"
		eq(t, "binary set", must(rdb.Set(ctx, bk, "\r\n\x00", 0).Result()), "OK")
		eq(t, "binary get", must(rdb.Get(ctx, bk).Result()), "\r\n\x00")
		big := strings.Repeat("x", 1<<20)
		eq(t, "big set", must(rdb.Set(ctx, "big", big, 0).Result()), "OK")
		eq(t, "big get", must(rdb.Get(ctx, "big").Result()) == big, true)
	}
}

func TestGoRedisKeys(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	for i := range 1000 {
		rdb.Set(ctx, fmt.Sprintf("key:%d", i), i, 0)
	}
	eq(t, "dbsize", must(rdb.DBSize(ctx).Result()), int64(1000))
	eq(t, "keys", len(must(rdb.Keys(ctx, "key:1*").Result())), 111)
	seen := map[string]bool{}
	iter := rdb.Scan(ctx, 0, "key:*", 37).Iterator()
	for iter.Next(ctx) {
		seen[iter.Val()] = true
	}
	must(0, iter.Err())
	eq(t, "scan", len(seen), 1000)
	typed, _ := must2(rdb.ScanType(ctx, 0, "", 2000, "string").Result())
	eq(t, "scan type", len(typed), 1000)
	eq(t, "randomkey", strings.HasPrefix(must(rdb.RandomKey(ctx).Result()), "key:"), true)
	eq(t, "type", must(rdb.Type(ctx, "key:1").Result()), "string")
	eq(t, "type none", must(rdb.Type(ctx, "nokey").Result()), "none")
	eq(t, "rename", must(rdb.Rename(ctx, "key:1", "r1").Result()), "OK")
	eq(t, "renamenx", must(rdb.RenameNX(ctx, "key:2", "r1").Result()), false)
	eq(t, "copy", must(rdb.Copy(ctx, "r1", "c1", 3, false).Result()), int64(1))
	eq(t, "move", must(rdb.Move(ctx, "r1", 4).Result()), true)
	eq(t, "del", must(rdb.Del(ctx, "key:3", "key:4", "nokey").Result()), int64(2))
	eq(t, "unlink", must(rdb.Unlink(ctx, "key:5").Result()), int64(1))
	eq(t, "exists", must(rdb.Exists(ctx, "key:6", "key:6", "key:5").Result()), int64(2))
	// SELECT and per-connection databases: a single-connection client.
	conn := rdb.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, 3).Err(); err != nil {
		t.Fatal(err)
	}
	eq(t, "copied into db 3", must(conn.Get(ctx, "c1").Result()), "1")
	if err := conn.Select(ctx, 4).Err(); err != nil {
		t.Fatal(err)
	}
	eq(t, "moved into db 4", must(conn.Get(ctx, "r1").Result()), "1")
	eq(t, "swapdb", fmt.Sprint(must(rdb.Do(ctx, "SWAPDB", 3, 4).Result())), "OK")
	eq(t, "after swapdb", must(conn.Get(ctx, "c1").Result()), "1")
	eq(t, "flushdb", must(conn.FlushDB(ctx).Result()), "OK")
	eq(t, "dbsize 4", must(conn.DBSize(ctx).Result()), int64(0))
	eq(t, "dbsize 0", must(rdb.DBSize(ctx).Result()), int64(996))
	eq(t, "flushall", must(rdb.FlushAll(ctx).Result()), "OK")
	eq(t, "dbsize after flushall", must(rdb.DBSize(ctx).Result()), int64(0))
}

func TestGoRedisExpire(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	rdb.Set(ctx, "k", "v", 0)
	eq(t, "expire nx", must(rdb.ExpireNX(ctx, "k", time.Minute).Result()), true)
	eq(t, "expire nx again", must(rdb.ExpireNX(ctx, "k", time.Minute).Result()), false)
	eq(t, "expire xx", must(rdb.ExpireXX(ctx, "k", 2*time.Minute).Result()), true)
	eq(t, "expire gt smaller", must(rdb.ExpireGT(ctx, "k", time.Minute).Result()), false)
	eq(t, "expire lt smaller", must(rdb.ExpireLT(ctx, "k", time.Minute).Result()), true)
	eq(t, "ttl", must(rdb.TTL(ctx, "k").Result()), time.Minute)
	eq(t, "pexpire", must(rdb.PExpire(ctx, "k", 90*time.Second).Result()), true)
	at := time.Now().Add(time.Hour)
	eq(t, "expireat", must(rdb.ExpireAt(ctx, "k", at).Result()), true)
	eq(t, "expiretime", must(rdb.ExpireTime(ctx, "k").Result()), time.Duration(at.Unix())*time.Second)
	eq(t, "pexpireat", must(rdb.PExpireAt(ctx, "k", at).Result()), true)
	eq(t, "pexpiretime", must(rdb.PExpireTime(ctx, "k").Result()), time.Duration(at.UnixMilli())*time.Millisecond)
	eq(t, "persist", must(rdb.Persist(ctx, "k").Result()), true)
	eq(t, "ttl persisted", must(rdb.TTL(ctx, "k").Result()), time.Duration(-1))
	eq(t, "ttl missing", must(rdb.TTL(ctx, "nokey").Result()), time.Duration(-2))

	// Lazy expiry: a key read after its deadline is gone.
	rdb.Set(ctx, "short", "v", 30*time.Millisecond)
	waitFor(t, 5*time.Second, "lazy expiry", func() bool {
		return rdb.Get(ctx, "short").Err() == redis.Nil
	})
	eq(t, "exists expired", must(rdb.Exists(ctx, "short").Result()), int64(0))

	// Active expiry: keys nobody touches disappear (DBSIZE does not expire
	// keys lazily).
	pipe := rdb.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("vol:%d", i), "v", 50*time.Millisecond)
	}
	for i := range 100 {
		pipe.Set(ctx, fmt.Sprintf("keep:%d", i), "v", time.Hour)
	}
	must(pipe.Exec(ctx))
	waitFor(t, 10*time.Second, "active expiry", func() bool {
		return rdb.DBSize(ctx).Val() == 101
	})
	info := must(rdb.Info(ctx, "stats").Result())
	if !strings.Contains(info, "expired_keys:") {
		t.Errorf("info stats: %q", info)
	}
	// An expiry in the past deletes.
	rdb.Set(ctx, "p", "v", 0)
	eq(t, "expire negative", must(rdb.Expire(ctx, "p", -time.Second).Result()), true)
	eq(t, "deleted", must(rdb.Exists(ctx, "p").Result()), int64(0))
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGoRedisTransactions(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	cmds := must(rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t", "1", 0)
		p.Incr(ctx, "t")
		p.Get(ctx, "t")
		return nil
	}))
	eq(t, "tx result", cmds[2].(*redis.StringCmd).Val(), "2")

	// WATCH: a change by another client makes EXEC fail.
	err := rdb.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, "t").Int()
		if err != nil {
			return err
		}
		rdb.Set(ctx, "t", "100", 0) // another connection of the pool
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "t", n+1, 0)
			return nil
		})
		return err
	}, "t")
	if err != redis.TxFailedErr {
		t.Fatalf("watch conflict: %v", err)
	}
	eq(t, "value after failed tx", must(rdb.Get(ctx, "t").Result()), "100")
	// Without interference it succeeds.
	must(0, rdb.Watch(ctx, func(tx *redis.Tx) error {
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "t")
			return nil
		})
		return err
	}, "t"))
	eq(t, "value after tx", must(rdb.Get(ctx, "t").Result()), "101")

	// Queued-command errors abort the whole transaction.
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t", "x", 0)
		p.Do(ctx, "nosuchcommand")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") && !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("execabort: %v", err)
	}
	eq(t, "value after abort", must(rdb.Get(ctx, "t").Result()), "101")

	// A watched key that expires fails the transaction.
	rdb.Set(ctx, "w", "v", 30*time.Millisecond)
	err = rdb.Watch(ctx, func(tx *redis.Tx) error {
		waitFor(t, 5*time.Second, "expiry", func() bool { return rdb.PTTL(ctx, "w").Val() < 0 })
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "w", "new", 0)
			return nil
		})
		return err
	}, "w")
	if err != redis.TxFailedErr {
		t.Fatalf("watch expired key: %v", err)
	}
}

func TestGoRedisServerCommands(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	eq(t, "ping", must(rdb.Ping(ctx).Result()), "PONG")
	eq(t, "echo", must(rdb.Echo(ctx, "hi").Result()), "hi")
	if tm := must(rdb.Time(ctx).Result()); time.Since(tm).Abs() > time.Minute {
		t.Errorf("time %v", tm)
	}
	info := must(rdb.Info(ctx).Result())
	for _, s := range []string{"# Server", "redis_version:", "# Clients", "connected_clients:", "# Memory", "used_memory:", "# Stats", "total_commands_processed:", "# Keyspace"} {
		if !strings.Contains(info, s) {
			t.Errorf("INFO lacks %q", s)
		}
	}
	rdb.Set(ctx, "k", "v", time.Hour)
	if ks := must(rdb.Info(ctx, "keyspace").Result()); !strings.Contains(ks, "db0:keys=1,expires=1") {
		t.Errorf("INFO keyspace: %q", ks)
	}
	conn := rdb.Conn()
	defer conn.Close()
	eq(t, "client setname", must(conn.ClientSetName(ctx, "tester").Result()), true)
	eq(t, "client getname", must(conn.ClientGetName(ctx).Result()), "tester")
	id := must(conn.ClientID(ctx).Result())
	list := must(conn.ClientList(ctx).Result())
	if !strings.Contains(list, fmt.Sprintf("id=%d ", id)) || !strings.Contains(list, "name=tester") {
		t.Errorf("client list: %q", list)
	}
	cfg := must(rdb.ConfigGet(ctx, "*").Result())
	eq(t, "config databases", cfg["databases"], "16")
	eq(t, "config appendonly", cfg["appendonly"], "no")
	n := must(rdb.Do(ctx, "COMMAND", "COUNT").Int())
	all := must(rdb.Do(ctx, "COMMAND").Slice())
	eq(t, "command count", len(all), n)
	docs := must(rdb.Do(ctx, "COMMAND", "DOCS", "get").Slice())
	eq(t, "command docs", fmt.Sprint(docs[0]), "get")
	_, err := rdb.Do(ctx, "foo", "a", "b").Result()
	eq(t, "unknown command", fmt.Sprint(err), "ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
	_, err = rdb.Do(ctx, "get").Result()
	eq(t, "arity", fmt.Sprint(err), "ERR wrong number of arguments for 'get' command")
	_, err = rdb.Do(ctx, "hello", "3").Result()
	eq(t, "hello 3", fmt.Sprint(err), "NOPROTO unsupported protocol version")
	h := must(rdb.Do(ctx, "hello", "2").Slice())
	eq(t, "hello 2", fmt.Sprint(h[:6]), "[server redis version "+redisVersion+" proto 2]")
	eq(t, "client setinfo", fmt.Sprint(must(rdb.Do(ctx, "client", "setinfo", "lib-name", "x").Result())), "OK")
}

func TestPipeline10000(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	pipe := rdb.Pipeline()
	const n = 10000
	for i := range n {
		pipe.Set(ctx, fmt.Sprintf("p:%d", i), i, 0)
	}
	gets := make([]*redis.StringCmd, n)
	for i := range n {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("p:%d", i))
	}
	must(pipe.Exec(ctx))
	for i, g := range gets {
		if g.Val() != fmt.Sprint(i) {
			t.Fatalf("get %d: %q", i, g.Val())
		}
	}
}

func TestManyClients(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	const clients, incrs = 50, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
			defer rdb.Close()
			for range incrs {
				if err := rdb.Incr(ctx, "counter").Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rdb := newClient(t, addr, 2)
	eq(t, "counter", must(rdb.Get(ctx, "counter").Int()), clients*incrs)
}

// rawConn is a plain TCP client for protocol tests.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) expect(want string) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := readReply(rc.r)
	if err != nil {
		rc.t.Fatalf("reading reply (want %q): %v", want, err)
	}
	if got != want {
		rc.t.Fatalf("got %q, want %q", got, want)
	}
}

func (rc *rawConn) expectEOF() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := rc.r.ReadByte(); err != io.EOF {
		rc.t.Fatalf("want EOF, got %q %v", b, err)
	}
}

func TestProtocol(t *testing.T) {
	addr := startServer(t, Config{MaxReq: 1024})
	// inline commands and pipelining
	rc := dialRaw(t, addr)
	rc.send("SET a \"hello world\"\r\nGET a\r\nPING\n\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n")
	rc.expect("OK")
	rc.expect(`"hello world"`)
	rc.expect("PONG")
	rc.expect("PONG")
	// a command split across many writes
	for _, b := range []byte("*2\r\n$3\r\nGET\r\n$1\r\na\r\n") {
		rc.send(string([]byte{b}))
	}
	rc.expect(`"hello world"`)
	// bulk lengths at and above the limit
	rc.send("*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1024\r\n" + strings.Repeat("z", 1024) + "\r\nSTRLEN b\r\n")
	rc.expect("OK")
	rc.expect("(integer) 1024")
	rc.send("*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1025\r\n")
	rc.expect("(error) ERR Protocol error: invalid bulk length")
	rc.expectEOF()

	cases := []struct{ in, want string }{
		{"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"},
		{"*1\r\n$99999999999999999999\r\n", "ERR Protocol error: invalid bulk length"},
		{"*99999999999\r\n", "ERR Protocol error: invalid multibulk length"},
		{"*1x\r\n", "ERR Protocol error: invalid multibulk length"},
		{"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"},
		{"SET a \"b\r\n", "ERR Protocol error: unbalanced quotes in request"},
		{strings.Repeat("x", 70000), "ERR Protocol error: too big inline request"},
		{"*" + strings.Repeat("1", 70000), "ERR Protocol error: too big mbulk count string"},
		{"*1\r\n$" + strings.Repeat("1", 70000), "ERR Protocol error: too big bulk count string"},
	}
	for _, tc := range cases {
		rc := dialRaw(t, addr)
		rc.send("PING\r\n" + tc.in)
		rc.expect("PONG")
		rc.expect("(error) " + tc.want)
		rc.expectEOF()
	}
	// a huge count with few arguments waits for more: nothing is allocated up front
	rc = dialRaw(t, addr)
	rc.send("*2000000000\r\n$4\r\nPING\r\n")
	rc2 := dialRaw(t, addr)
	rc2.send("PING\r\n")
	rc2.expect("PONG")
	// QUIT answers then closes
	rc2.send("QUIT\r\nPING\r\n")
	rc2.expect("OK")
	rc2.expectEOF()
}

func TestAbruptDisconnects(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	rdb.Set(ctx, "big", strings.Repeat("v", 64<<10), 0)
	for i := range 30 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0: // mid-command
			c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"))
		case 1: // with replies pending
			c.Write([]byte(strings.Repeat("GET big\r\n", 20)))
		case 2: // inside MULTI, watching
			c.Write([]byte("WATCH k\r\nMULTI\r\nSET k v\r\n"))
		}
		if tc, ok := c.(*net.TCPConn); ok && i%2 == 0 {
			tc.SetLinger(0) // reset instead of FIN
		}
		c.Close()
	}
	eq(t, "k untouched", rdb.Exists(ctx, "k").Val(), int64(0))
	defer debugClients(t, rdb)
	waitFor(t, 10*time.Second, "disconnected clients gone", func() bool {
		return strings.Count(rdb.ClientList(ctx).Val(), "\n") == 1
	})
}

func TestThousandConnections(t *testing.T) {
	addr := startServer(t, Config{})
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "SET c:%d %d\r\n", i, i)
	}
	for i, c := range conns {
		fmt.Fprintf(c, "GET c:%d\r\n", i)
	}
	for i, c := range conns {
		r := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		a, err1 := readReply(r)
		b, err2 := readReply(r)
		if err1 != nil || err2 != nil || a != "OK" || b != fmt.Sprintf("%q", fmt.Sprint(i)) {
			t.Fatalf("conn %d: %q %q %v %v", i, a, b, err1, err2)
		}
	}
	rdb := newClient(t, addr, 2)
	if info := rdb.Info(context.Background(), "clients").Val(); !strings.Contains(info, fmt.Sprintf("connected_clients:%d", n+1)) {
		t.Errorf("info clients: %q", info)
	}
}

// TestNonReadingClient: a client that pipelines requests and never reads
// the replies is paused (its output stays bounded) while the others are
// served.
func TestNonReadingClient(t *testing.T) {
	addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := newClient(t, addr, 2)
	rdb.Set(ctx, "v", strings.Repeat("x", 64<<10), 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte(strings.Repeat("GET v\r\n", 1000)) // 64MB of replies per write
	stop := time.Now().Add(3 * time.Second)
	sent := 0
	for time.Now().Before(stop) {
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Write(req)
		sent += n
		if err != nil {
			break // the server stopped reading: our kernel buffers are full
		}
		// meanwhile another client is served
		pingServed(t, rdb)
	}
	for range 20 {
		pingServed(t, rdb)
	}
	// The server's output buffer for that client is bounded by the high
	// water mark plus one read's worth of replies, far below what was asked.
	for _, line := range strings.Split(rdb.ClientList(ctx).Val(), "\n") {
		if i := strings.Index(line, " obl="); i >= 0 && line != "" {
			var obl int
			fmt.Sscanf(line[i+5:], "%d", &obl)
			if obl > 64<<20 {
				t.Errorf("output buffer %d bytes (sent %d bytes of requests)", obl, sent)
			}
		}
	}
	t.Logf("sent %d bytes of requests (%d MB of replies asked)", sent, sent/7*64/1024)
}

// pingServed checks that a PING is answered while another client floods
// the server without reading: a server that blocked on the flooding client
// would never answer. The bound is far above a normal round trip
// (milliseconds): with -race beside CPU-burning processes a PING took 3.6 s,
// and a 2 s bound failed one run in five there.
func pingServed(t *testing.T, rdb *redis.Client) {
	t.Helper()
	start := time.Now()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("ping took %v", d)
	}
}

func debugClients(t *testing.T, rdb *redis.Client) {
	t.Log(rdb.ClientList(context.Background()).Val())
}
