package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// The blocking tests run against respkv and, with RESPKV_REFERENCE set,
// against a real redis-server too (which they FLUSHALL), so that the
// behaviour they assert is Redis's.

// blockTargets returns the servers to run a blocking test against.
func blockTargets(t *testing.T) map[string]string {
	targets := map[string]string{"respkv": startServer(t, Config{})}
	if ref := os.Getenv("RESPKV_REFERENCE"); ref != "" {
		targets["redis"] = ref
	}
	return targets
}

func forBlockTargets(t *testing.T, fn func(t *testing.T, addr string)) {
	for name, addr := range blockTargets(t) {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send("FLUSHALL\r\n")
			c.expect("OK")
			fn(t, addr)
		})
	}
}

// cmd sends one command (arguments as separate strings).
func (rc *rawConn) cmd(args ...string) {
	rc.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	rc.send(string(resp.AppendCommand(nil, bs...)))
}

// do sends one command and returns its reply.
func (rc *rawConn) do(args ...string) string {
	rc.t.Helper()
	rc.cmd(args...)
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := readReply(rc.r)
	if err != nil {
		rc.t.Fatalf("%q: %v", args, err)
	}
	return got
}

// noReply checks that nothing arrives within d.
func (rc *rawConn) noReply(d time.Duration) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(d))
	if b, err := rc.r.ReadByte(); err == nil {
		rc.t.Fatalf("unexpected reply starting with %q", b)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		rc.t.Fatal(err)
	}
	rc.r = bufio.NewReader(rc.c) // the timed-out read poisons nothing, but start clean
}

// blockedClients reads INFO's blocked_clients.
func blockedClients(t *testing.T, ctl *rawConn) int {
	t.Helper()
	info := ctl.do("INFO", "clients")
	i := strings.Index(info, "blocked_clients:")
	if i < 0 {
		t.Fatalf("no blocked_clients in %q", info)
	}
	rest := info[i+len("blocked_clients:"):]
	n, err := strconv.Atoi(rest[:strings.IndexAny(rest, "\\\r\n")])
	if err != nil {
		t.Fatalf("blocked_clients in %q: %v", info, err)
	}
	return n
}

// waitBlocked waits until n clients are blocked.
func waitBlocked(t *testing.T, ctl *rawConn, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "blocked clients = "+strconv.Itoa(n), func() bool { return blockedClients(t, ctl) == n })
}

// TestBlockingFIFO: clients blocked on a key are served in the order they
// blocked, one element each, and those not served stay blocked.
func TestBlockingFIFO(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		ctl := dialRaw(t, addr)
		var cs []*rawConn
		for i := range 4 {
			c := dialRaw(t, addr)
			c.cmd("BLPOP", "other", "q", "0")
			waitBlocked(t, ctl, i+1)
			cs = append(cs, c)
		}
		if got := ctl.do("RPUSH", "q", "a", "b", "c"); got != "(integer) 3" {
			t.Fatal(got)
		}
		for i, want := range []string{`["q", "a"]`, `["q", "b"]`, `["q", "c"]`} {
			cs[i].expect(want)
		}
		cs[3].noReply(100 * time.Millisecond)
		if got := ctl.do("EXISTS", "q"); got != "(integer) 0" {
			t.Fatalf("the emptied list: %s", got)
		}
		waitBlocked(t, ctl, 1)
		// The last one is served through its other key.
		ctl.do("LPUSH", "other", "z")
		cs[3].expect(`["other", "z"]`)
		waitBlocked(t, ctl, 0)
	})
}

// TestBlockingTimeout: the deadline is a loop timer; the timeout reply is a
// null array for every list command; a client served before its deadline
// gets no second reply when it passes.
func TestBlockingTimeout(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		c := dialRaw(t, addr)
		for _, cmd := range [][]string{
			{"BLPOP", "q", "0.2"},
			{"BRPOP", "q", "q2", "0.2"},
			{"BLMOVE", "q", "d", "LEFT", "RIGHT", "0.2"},
			{"BRPOPLPUSH", "q", "d", "0.2"},
			{"BLMPOP", "0.2", "1", "q", "LEFT", "COUNT", "2"},
		} {
			start := time.Now()
			if got := c.do(cmd...); got != "(nil array)" {
				t.Fatalf("%v: %s", cmd, got)
			}
			if el := time.Since(start); el < 190*time.Millisecond || el > 5*time.Second {
				t.Fatalf("%v: timed out after %v", cmd, el)
			}
		}
		ctl := dialRaw(t, addr)
		c.cmd("BLPOP", "q", "0.3")
		waitBlocked(t, ctl, 1)
		ctl.do("RPUSH", "q", "x")
		c.expect(`["q", "x"]`)
		c.noReply(500 * time.Millisecond)
		if got := c.do("PING"); got != "PONG" {
			t.Fatal(got)
		}
	})
}

// TestBlockingInMulti: inside MULTI the blocking commands do not block.
func TestBlockingInMulti(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		c := dialRaw(t, addr)
		c.do("MULTI")
		c.do("BLPOP", "q", "0")
		c.do("BLMOVE", "q", "d", "LEFT", "LEFT", "0")
		c.do("RPUSH", "q", "x")
		c.do("BRPOP", "q", "0")
		if got := c.do("EXEC"); got != `[(nil array), (nil), (integer) 1, ["q", "x"]]` {
			t.Fatal(got)
		}
	})
}

// TestBlockingPipeline: commands pipelined behind a blocking command run
// once it is served, in order.
func TestBlockingPipeline(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		c, ctl := dialRaw(t, addr), dialRaw(t, addr)
		c.send("BLPOP q 0\r\nPING\r\nRPUSH q2 after\r\n")
		waitBlocked(t, ctl, 1)
		if got := ctl.do("LLEN", "q2"); got != "(integer) 0" {
			t.Fatalf("a command behind the blocked one ran: %s", got)
		}
		ctl.do("RPUSH", "q", "x")
		c.expect(`["q", "x"]`)
		c.expect("PONG")
		c.expect("(integer) 1")
	})
}

// TestBlockingDisconnect: a blocked client that goes away is forgotten; the
// next push stays in the list.
func TestBlockingDisconnect(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		ctl := dialRaw(t, addr)
		c := dialRaw(t, addr)
		c.cmd("BLPOP", "q", "0")
		waitBlocked(t, ctl, 1)
		c.c.Close()
		waitBlocked(t, ctl, 0)
		ctl.do("RPUSH", "q", "x")
		if got := ctl.do("LRANGE", "q", "0", "-1"); got != `["x"]` {
			t.Fatal(got)
		}
	})
}

// TestBlockingKeyRetyped: a key deleted, or set to another type, while
// clients wait leaves them waiting; a list there later serves them.
func TestBlockingKeyRetyped(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		ctl := dialRaw(t, addr)
		c := dialRaw(t, addr)
		c.cmd("BLPOP", "q", "0")
		waitBlocked(t, ctl, 1)
		ctl.do("SET", "q", "string")
		ctl.do("MULTI")
		ctl.do("DEL", "q")
		ctl.do("RPUSH", "q", "x")
		ctl.do("SET", "q", "again")
		ctl.do("EXEC")
		c.noReply(100 * time.Millisecond)
		if n := blockedClients(t, ctl); n != 1 {
			t.Fatalf("blocked clients %d", n)
		}
		ctl.do("DEL", "q")
		ctl.do("RPUSH", "q", "y")
		c.expect(`["q", "y"]`)
		// A destination of another type: the blocked BLMOVE gets WRONGTYPE.
		c.cmd("BLMOVE", "src", "dst", "LEFT", "LEFT", "0")
		waitBlocked(t, ctl, 1)
		ctl.do("SET", "dst", "string")
		ctl.do("RPUSH", "src", "v")
		c.expect("(error) WRONGTYPE Operation against a key holding the wrong kind of value")
		if got := ctl.do("LRANGE", "src", "0", "-1"); got != `["v"]` {
			t.Fatalf("source after the refused move: %s", got)
		}
	})
}

// TestBlockingChain: BLMOVE chains: a push into a is moved to b, then c,
// and popped by the BLPOP waiting on c, all after the one push.
func TestBlockingChain(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		ctl := dialRaw(t, addr)
		c1, c2, c3 := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
		c1.cmd("BLMOVE", "a", "b", "LEFT", "RIGHT", "0")
		waitBlocked(t, ctl, 1)
		c2.cmd("BRPOPLPUSH", "b", "c", "0")
		waitBlocked(t, ctl, 2)
		c3.cmd("BLPOP", "c", "0")
		waitBlocked(t, ctl, 3)
		ctl.do("RPUSH", "a", "x")
		c1.expect(`"x"`)
		c2.expect(`"x"`)
		c3.expect(`["c", "x"]`)
		if got := ctl.do("DBSIZE"); got != "(integer) 0" {
			t.Fatal(got)
		}
		// A rotation of one list onto itself serves the clients in turn.
		c1.cmd("BLMOVE", "r", "r", "LEFT", "RIGHT", "0")
		waitBlocked(t, ctl, 1)
		ctl.do("RPUSH", "r", "1", "2")
		c1.expect(`"1"`)
		if got := ctl.do("LRANGE", "r", "0", "-1"); got != `["2", "1"]` {
			t.Fatal(got)
		}
	})
}

// TestClientUnblock: CLIENT UNBLOCK gives the blocked client its timeout
// reply, or -UNBLOCKED with ERROR.
func TestClientUnblock(t *testing.T) {
	forBlockTargets(t, func(t *testing.T, addr string) {
		ctl := dialRaw(t, addr)
		c := dialRaw(t, addr)
		id := strings.TrimPrefix(c.do("CLIENT", "ID"), "(integer) ")
		if got := ctl.do("CLIENT", "UNBLOCK", id); got != "(integer) 0" {
			t.Fatalf("unblocking a client not blocked: %s", got)
		}
		c.cmd("BLPOP", "q", "0")
		waitBlocked(t, ctl, 1)
		if got := ctl.do("CLIENT", "UNBLOCK", id); got != "(integer) 1" {
			t.Fatal(got)
		}
		c.expect("(nil array)")
		c.cmd("BLMOVE", "q", "d", "LEFT", "LEFT", "0")
		waitBlocked(t, ctl, 1)
		if got := ctl.do("CLIENT", "UNBLOCK", id, "TIMEOUT"); got != "(integer) 1" {
			t.Fatal(got)
		}
		c.expect("(nil array)")
		c.cmd("BLMPOP", "0", "1", "q", "RIGHT")
		waitBlocked(t, ctl, 1)
		if got := ctl.do("CLIENT", "UNBLOCK", id, "ERROR"); got != "(integer) 1" {
			t.Fatal(got)
		}
		c.expect("(error) UNBLOCKED client unblocked via CLIENT UNBLOCK")
		waitBlocked(t, ctl, 0)
		if got := c.do("PING"); got != "PONG" {
			t.Fatal(got)
		}
	})
}

// TestBlockingAOF: a served blocking command is written to the AOF as
// the non-blocking command it amounts to, and the file replays.
func TestBlockingAOF(t *testing.T) {
	dir := t.TempDir()
	aof := filepath.Join(dir, "a.aof")
	addr := startServer(t, Config{AOF: aof, AppendFsync: "always"})
	ctl, c := dialRaw(t, addr), dialRaw(t, addr)
	ctl.do("RPUSH", "src", "1", "2", "3", "4")
	c.do("BLPOP", "src", "0")                              // served at once
	c.do("BLMPOP", "0", "1", "src", "RIGHT", "COUNT", "2") // two
	c.cmd("BRPOPLPUSH", "q", "dst", "0")
	waitBlocked(t, ctl, 1)
	ctl.do("RPUSH", "q", "a", "b")
	c.expect(`"b"`)
	c.cmd("BLMOVE", "q2", "dst", "LEFT", "LEFT", "0")
	waitBlocked(t, ctl, 1)
	ctl.do("RPUSH", "q2", "c")
	c.expect(`"c"`)
	b, err := os.ReadFile(aof)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, bad := range []string{"BLPOP", "BLMPOP", "BRPOPLPUSH", "BLMOVE"} {
		if strings.Contains(text, bad) {
			t.Errorf("AOF has %s: %q", bad, text)
		}
	}
	for _, want := range []string{"$4\r\nLPOP\r\n$3\r\nsrc\r\n", "$4\r\nRPOP\r\n$3\r\nsrc\r\n$1\r\n2\r\n", "$9\r\nRPOPLPUSH\r\n$1\r\nq\r\n$3\r\ndst\r\n", "$5\r\nLMOVE\r\n$2\r\nq2\r\n$3\r\ndst\r\n$4\r\nLEFT\r\n$4\r\nLEFT\r\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("AOF lacks %q: %q", want, text)
		}
	}
	// Replayed, the file gives the same lists.
	addr2 := startServer(t, Config{AOF: aof, AppendFsync: "always"})
	c2 := dialRaw(t, addr2)
	for key, want := range map[string]string{"src": `["2"]`, "dst": `["c", "b"]`, "q": `["a"]`, "q2": `[]`} {
		if got := c2.do("LRANGE", key, "0", "-1"); got != want {
			t.Errorf("replayed %s: %s, want %s", key, got, want)
		}
	}
}
