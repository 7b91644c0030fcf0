package main

import (
	"bufio"
	"bytes"
	"context"
	encbin "encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// raw runs one command line on the core and returns the raw reply bytes
// (all of them: a SUBSCRIBE of n channels answers n replies).
func (k *core) raw(line string) string {
	k.t.Helper()
	return k.rawClient(k.c, line)
}

func (k *core) rawClient(c *client, line string) string {
	k.t.Helper()
	req := resp.AppendCommand(nil, splitLine(k.t, line)...)
	c.out = c.out[:0]
	if n := k.s.feed(c, req); n != len(req) {
		k.t.Fatalf("feed used %d of %d", n, len(req))
	}
	return string(c.out)
}

// confirmation builds a (un)subscribe confirmation; name "" with null is
// the null-named one.
func confirmation(word, name string, null bool, n int) string {
	s := fmt.Sprintf("*3\r\n$%d\r\n%s\r\n", len(word), word)
	if null {
		s += "$-1\r\n"
	} else {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(name), name)
	}
	return s + fmt.Sprintf(":%d\r\n", n)
}

const errSubscribed = "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"

func TestPubsubReplies(t *testing.T) {
	k := newCore(t)
	eqs := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	eqs("UNSUBSCRIBE of nothing", k.raw("UNSUBSCRIBE"), confirmation("unsubscribe", "", true, 0))
	eqs("PUNSUBSCRIBE of nothing", k.raw("PUNSUBSCRIBE"), confirmation("punsubscribe", "", true, 0))
	eqs("SUNSUBSCRIBE of nothing", k.raw("SUNSUBSCRIBE"), confirmation("sunsubscribe", "", true, 0))
	eqs("UNSUBSCRIBE a b, not subscribed", k.raw("UNSUBSCRIBE a b"),
		confirmation("unsubscribe", "a", false, 0)+confirmation("unsubscribe", "b", false, 0))
	eqs("PING, not subscribed", k.raw("PING"), "+PONG\r\n")
	eqs("SUBSCRIBE x y x", k.raw("SUBSCRIBE x y x"),
		confirmation("subscribe", "x", false, 1)+confirmation("subscribe", "y", false, 2)+confirmation("subscribe", "x", false, 2))
	eqs("GET in subscribed mode", k.raw("GET foo"), "-"+fmt.Sprintf(errSubscribed, "get")+"\r\n")
	eqs("CONFIG GET in subscribed mode", k.raw("CONFIG GET foo"), "-"+fmt.Sprintf(errSubscribed, "config|get")+"\r\n")
	eqs("PUBSUB NUMPAT in subscribed mode", k.raw("PUBSUB NUMPAT"), "-"+fmt.Sprintf(errSubscribed, "pubsub|numpat")+"\r\n")
	eqs("unknown command in subscribed mode", k.raw("NOSUCH x"), "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n")
	eqs("wrong arity in subscribed mode", k.raw("GET"), "-ERR wrong number of arguments for 'get' command\r\n")
	eqs("PING in subscribed mode", k.raw("PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	eqs("PING hello in subscribed mode", k.raw("PING hello"), "*2\r\n$4\r\npong\r\n$5\r\nhello\r\n")
	eqs("PING a b in subscribed mode", k.raw("PING a b"), "-ERR wrong number of arguments for 'ping' command\r\n")
	eqs("MULTI in subscribed mode", k.raw("MULTI"), "-"+fmt.Sprintf(errSubscribed, "multi")+"\r\n")
	eqs("PSUBSCRIBE", k.raw("PSUBSCRIBE p* p?"),
		confirmation("psubscribe", "p*", false, 3)+confirmation("psubscribe", "p?", false, 4))
	eqs("SSUBSCRIBE counts shard channels alone", k.raw("SSUBSCRIBE s1"), confirmation("ssubscribe", "s1", false, 1))
	if l := k.s.clientLine(k.c); !strings.Contains(l, " flags=P db=0 sub=2 psub=2 ssub=1 ") {
		t.Errorf("CLIENT LIST while subscribed: %s", l)
	}
	eqs("UNSUBSCRIBE in subscription order", k.raw("UNSUBSCRIBE"),
		confirmation("unsubscribe", "x", false, 3)+confirmation("unsubscribe", "y", false, 2))
	eqs("PUNSUBSCRIBE in subscription order", k.raw("PUNSUBSCRIBE"),
		confirmation("punsubscribe", "p*", false, 1)+confirmation("punsubscribe", "p?", false, 0))
	eqs("still subscribed to a shard channel", k.raw("GET x"), "-"+fmt.Sprintf(errSubscribed, "get")+"\r\n")
	eqs("SUNSUBSCRIBE", k.raw("SUNSUBSCRIBE"), confirmation("sunsubscribe", "s1", false, 0))
	eqs("GET after leaving subscribed mode", k.raw("GET x"), "$-1\r\n")
	if l := k.s.clientLine(k.c); !strings.Contains(l, " flags=N db=0 sub=0 psub=0 ssub=0 ") {
		t.Errorf("CLIENT LIST after: %s", l)
	}

	// RESET leaves subscribed mode without confirmations.
	k.raw("SUBSCRIBE a")
	k.raw("PSUBSCRIBE b*")
	eqs("RESET", k.raw("RESET"), "+RESET\r\n")
	eqs("PING after RESET", k.raw("PING"), "+PONG\r\n")
	eqs("NUMSUB after RESET", k.raw("PUBSUB NUMSUB a"), "*2\r\n$1\r\na\r\n:0\r\n")
	eqs("NUMPAT after RESET", k.raw("PUBSUB NUMPAT"), ":0\r\n")

	// MULTI: SUBSCRIBE and PUBLISH queue; the client's own message comes
	// in line with EXEC's replies.
	eqs("MULTI", k.raw("MULTI"), "+OK\r\n")
	k.raw("SUBSCRIBE c1")
	k.raw("PUBLISH c1 hello")
	k.raw("GET x")
	eqs("EXEC", k.raw("EXEC"), "*3\r\n"+confirmation("subscribe", "c1", false, 1)+
		"*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$5\r\nhello\r\n:1\r\n$-1\r\n")
	eqs("subscribed after EXEC", k.raw("PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	eqs("EXEC in subscribed mode", k.raw("EXEC"),
		"-EXECABORT Transaction discarded because of: "+strings.TrimPrefix(fmt.Sprintf(errSubscribed, "exec"), "ERR ")+"\r\n")
	k.raw("RESET")

	// PUBSUB.
	o := k.s.newClient(nil)
	k.rawClient(o, "SUBSCRIBE c1 c2")
	k.rawClient(o, "PSUBSCRIBE c*")
	k.rawClient(o, "SSUBSCRIBE s1")
	eqs("CHANNELS", k.raw("PUBSUB CHANNELS"), "*2\r\n$2\r\nc1\r\n$2\r\nc2\r\n")
	eqs("CHANNELS c1", k.raw("PUBSUB CHANNELS c1"), "*1\r\n$2\r\nc1\r\n")
	eqs("CHANNELS *2", k.raw("PUBSUB CHANNELS *2"), "*1\r\n$2\r\nc2\r\n")
	eqs("NUMSUB", k.raw("PUBSUB NUMSUB"), "*0\r\n")
	eqs("NUMSUB c1 c2 c3 c1", k.raw("PUBSUB NUMSUB c1 c2 c3 c1"), "*8\r\n$2\r\nc1\r\n:1\r\n$2\r\nc2\r\n:1\r\n$2\r\nc3\r\n:0\r\n$2\r\nc1\r\n:1\r\n")
	eqs("NUMPAT", k.raw("PUBSUB NUMPAT"), ":1\r\n")
	eqs("SHARDCHANNELS", k.raw("PUBSUB SHARDCHANNELS"), "*1\r\n$2\r\ns1\r\n")
	eqs("SHARDNUMSUB", k.raw("PUBSUB SHARDNUMSUB s1 s2"), "*4\r\n$2\r\ns1\r\n:1\r\n$2\r\ns2\r\n:0\r\n")
	eqs("PUBSUB foo", k.raw("PUBSUB foo"), "-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n")
	eqs("PUBSUB CHANNELS a b", k.raw("PUBSUB CHANNELS a b"), "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n")
	eqs("PUBSUB NUMPAT x", k.raw("PUBSUB NUMPAT x"), "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n")
	eqs("PUBSUB", k.raw("PUBSUB"), "-ERR wrong number of arguments for 'pubsub' command\r\n")
	eqs("PUBLISH counts the channel and the pattern", k.raw("PUBLISH c1 m"), ":2\r\n")
	eqs("SPUBLISH s1", k.raw("SPUBLISH s1 m"), ":1\r\n")
	eqs("SPUBLISH to a channel", k.raw("SPUBLISH c1 m"), ":0\r\n")
	eqs("PUBLISH to a shard channel", k.raw("PUBLISH s1 m"), ":0\r\n")
	eqs("PUBLISH arity", k.raw("PUBLISH a b c"), "-ERR wrong number of arguments for 'publish' command\r\n")
	info := k.do("INFO stats")
	for _, want := range []string{`pubsub_channels:2\r\n`, `pubsub_patterns:1\r\n`, `pubsubshard_channels:1\r\n`} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO stats lacks %s", want)
		}
	}
	// A closed connection's subscriptions go.
	k.s.pubsubDrop(o)
	eqs("CHANNELS after the drop", k.raw("PUBSUB CHANNELS"), "*0\r\n")
	eqs("NUMPAT after the drop", k.raw("PUBSUB NUMPAT"), ":0\r\n")
}

// fakeSub is a connection that records what is written to it and reports
// a chosen amount of buffered output.
type fakeSub struct {
	netConn
	written  bytes.Buffer
	refs     int
	buffered int
	aborted  bool
}

func (f *fakeSub) Write(p []byte) (int, error) {
	f.written.Write(p)
	f.buffered += len(p)
	return len(p), nil
}

func (f *fakeSub) WriteRef(p []byte, release func()) (int, error) {
	f.refs++
	return f.Write(p)
}

func (f *fakeSub) Buffered() int        { return f.buffered }
func (f *fakeSub) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *fakeSub) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (f *fakeSub) Abort() error         { f.aborted = true; return nil }

// TestPubsubOutputLimits: the hard limit closes a subscriber at once; the
// soft limit closes it once it has been over it for longer than the
// seconds; a subscriber that drained below the soft limit starts again.
func TestPubsubOutputLimits(t *testing.T) {
	k := newCore(t)
	if got := k.do("CONFIG SET client-output-buffer-limit \"pubsub 1000 100 2\""); got != "OK" {
		t.Fatal(got)
	}
	subs := make([]*fakeSub, 3)
	cs := make([]*client, 3)
	for i := range subs {
		subs[i] = &fakeSub{}
		cs[i] = k.s.newClient(subs[i])
		k.rawClient(cs[i], "SUBSCRIBE ch")
	}
	// publish at the time s.now (feed would read the clock).
	k.s.now = 1_000_000
	pub := func(n int) string {
		return ":" + strconv.Itoa(k.s.publish(k.c, kindChannel, []byte("ch"), bytes.Repeat([]byte("x"), n))) + "\r\n"
	}
	// 0 is at the hard limit at once.
	subs[0].buffered = 990
	if got := pub(10); got != ":3\r\n" {
		t.Fatal(got)
	}
	if !subs[0].aborted || subs[1].aborted || subs[2].aborted {
		t.Fatalf("aborted: %v %v %v, want only the first", subs[0].aborted, subs[1].aborted, subs[2].aborted)
	}
	// A dropped subscriber still counts until its close is processed (as
	// Redis), but gets nothing more.
	n0 := subs[0].written.Len()
	if got := pub(10); got != ":3\r\n" || subs[0].written.Len() != n0 {
		t.Fatalf("after the drop: %q, %d more bytes written", got, subs[0].written.Len()-n0)
	}
	// 1 goes over the soft limit (and stays), 2 drains in between.
	subs[1].buffered, subs[2].buffered = 200, 200
	k.s.now += 1000
	pub(1)
	subs[2].buffered = 0
	k.s.now += 2000
	pub(1) // 1: 2 s over, not longer; 2: below
	if subs[1].aborted || subs[2].aborted {
		t.Fatal("closed before the soft limit's seconds")
	}
	subs[2].buffered = 200
	k.s.now += 1
	pub(1) // 1: over for longer than 2 s; 2: over again, from now
	if !subs[1].aborted || subs[2].aborted {
		t.Fatalf("soft limit: aborted %v %v, want true false", subs[1].aborted, subs[2].aborted)
	}
	k.s.now += 2001
	pub(1)
	if !subs[2].aborted {
		t.Fatal("the third subscriber stayed over the soft limit and was not closed")
	}
	// Every copy was the message, whole.
	want := "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$10\r\nxxxxxxxxxx\r\n"
	if got := subs[2].written.String()[:len(want)]; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	// Limits of 0 disable.
	k.do("CONFIG SET client-output-buffer-limit \"pubsub 0 0 0\"")
	f := &fakeSub{buffered: math.MaxInt / 2} // far past any limit, with room to grow on 32-bit targets too
	c := k.s.newClient(f)
	k.rawClient(c, "SUBSCRIBE ch")
	pub(1)
	k.s.now += 100_000
	pub(1)
	if f.aborted {
		t.Fatal("closed with no limits")
	}
}

// TestPubsubShared: a message of 4 KiB or more is queued by reference, one
// buffer for every subscriber; a smaller one is copied.
func TestPubsubShared(t *testing.T) {
	k := newCore(t)
	var fs []*fakeSub
	for range 10 {
		f := &fakeSub{}
		k.rawClient(k.s.newClient(f), "SUBSCRIBE ch")
		fs = append(fs, f)
	}
	k.raw("PUBLISH ch " + strings.Repeat("y", 100))
	k.raw("PUBLISH ch " + strings.Repeat("z", 5000))
	for _, f := range fs {
		if f.refs != 1 {
			t.Fatalf("%d writes by reference, want 1", f.refs)
		}
	}
}

func TestConfigOutputBufferLimit(t *testing.T) {
	k := newCore(t)
	get := func() string {
		t.Helper()
		g := k.do("CONFIG GET client-output-buffer-limit")
		return g
	}
	def := `["client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"]`
	if g := get(); g != def {
		t.Fatalf("default: %s", g)
	}
	for _, tc := range []struct{ set, want string }{
		{"pubsub 1mb 512kb 10", "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10"},
		{"normal 1 2 3 pubsub 4 5 6", "normal 1 2 3 slave 268435456 67108864 60 pubsub 4 5 6"},
		{"", "normal 1 2 3 slave 268435456 67108864 60 pubsub 4 5 6"},
		{"PUBSUB 1G 2k 0", "normal 1 2 3 slave 268435456 67108864 60 pubsub 1000000000 2000 0"},
		{"replica 1 2 3", "normal 1 2 3 slave 1 2 3 pubsub 1000000000 2000 0"},
		{"SLAVE 10 20 30", "normal 1 2 3 slave 10 20 30 pubsub 1000000000 2000 0"},
		{"pubsub 18446744073709551616 1 1", "normal 1 2 3 slave 10 20 30 pubsub 18446744073709551615 1 1"},
		{"pubsub 18446744073709551615k 1 1", "normal 1 2 3 slave 10 20 30 pubsub 18446744073709550616 1 1"},
		{"pubsub 1 2 +3", "normal 1 2 3 slave 10 20 30 pubsub 1 2 3"},
		{"pubsub 1K 1KB 4294967297", "normal 1 2 3 slave 10 20 30 pubsub 1000 1024 1"},
		{"pubsub  1 2", "normal 1 2 3 slave 10 20 30 pubsub 0 1 2"},
		{"pubsub 1 2 ", "normal 1 2 3 slave 10 20 30 pubsub 1 2 0"},
		{"pubsub k 1 -0", "normal 1 2 3 slave 10 20 30 pubsub 0 1 0"},
		{"pubsub 1Gb 1mB -4294967295", "normal 1 2 3 slave 10 20 30 pubsub 1073741824 1048576 1"},
		{"pubsub 0 0 0 pubsub 7 8 9", "normal 1 2 3 slave 10 20 30 pubsub 7 8 9"},
	} {
		if got := k.do("CONFIG SET client-output-buffer-limit " + strconv.Quote(tc.set)); got != "OK" {
			t.Fatalf("%q: %s", tc.set, got)
		}
		if g := get(); g != `["client-output-buffer-limit", "`+tc.want+`"]` {
			t.Fatalf("after %q: %s", tc.set, g)
		}
	}
	const pre = "(error) ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "
	for _, tc := range []struct{ set, err string }{
		{"pubsub 1 2", "Wrong number of arguments in buffer limit configuration."},
		{"  pubsub   1  2   3  ", "Wrong number of arguments in buffer limit configuration."},
		{"foo 1 2 3", "Invalid client class specified in buffer limit configuration."},
		{"master 1 2 3", "Invalid client class specified in buffer limit configuration."},
		{"pubsub 1 2 3 foo 1 2 3", "Invalid client class specified in buffer limit configuration."},
		{"normal x 1 1 foo 1 1 1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub -1 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub -0 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub +1 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1.5mb 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1t 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 -3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 2147483648", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 99999999999999999999", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 0x3", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 +", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1 2 3.0", "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
	} {
		if got := k.do("CONFIG SET client-output-buffer-limit " + strconv.Quote(tc.set)); got != pre+tc.err {
			t.Errorf("%q: %s", tc.set, got)
		}
	}
	if g := get(); g != `["client-output-buffer-limit", "normal 1 2 3 slave 10 20 30 pubsub 7 8 9"]` {
		t.Fatalf("a refused value changed the setting: %s", g)
	}
	// The configuration file and the flags take the same form.
	cfg := defaultConfig()
	if err := readConfig(strings.NewReader("client-output-buffer-limit pubsub 64mb 16mb 30\n"), "test.conf", &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.OutputLimits.String(); got != "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30" {
		t.Fatal(got)
	}
}

// refCInt is C's (int)strtoll with the end required at the terminator,
// computed with big integers.
func refCInt(s string) (int32, bool) {
	if s == "" {
		return 0, true
	}
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	sign := ""
	if t != "" && (t[0] == '+' || t[0] == '-') {
		sign, t = t[:1], t[1:]
	}
	if t == "" || strings.Trim(t, "0123456789") != "" {
		return 0, false
	}
	v, _ := new(big.Int).SetString(sign+t, 10)
	lo, hi := big.NewInt(-1<<63), big.NewInt(1<<63-1)
	if v.Cmp(lo) < 0 {
		v = lo
	} else if v.Cmp(hi) > 0 {
		v = hi
	}
	return int32(v.Int64()), true
}

// refMem is Redis's memtoull computed with big integers.
func refMem(s string) (uint64, bool) {
	d := len(s) - len(strings.TrimLeft(s, "0123456789"))
	units := map[string]int64{"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1e6, "mb": 1 << 20, "g": 1e9, "gb": 1 << 30}
	mul, ok := units[strings.ToLower(s[d:])]
	if !ok || d >= 128 || strings.HasPrefix(s, "-") {
		return 0, false
	}
	v := new(big.Int)
	if d > 0 {
		v.SetString(s[:d], 10)
	}
	max := new(big.Int).SetUint64(^uint64(0))
	if v.Cmp(max) > 0 {
		v = max
	}
	v.Mul(v, big.NewInt(mul))
	v.And(v, max) // wraps, as in C
	return v.Uint64(), true
}

// FuzzOutputBufferLimit: the parser of client-output-buffer-limit never
// panics, agrees with big-integer models of Redis's number parsing, and
// what it accepts reads back the same through CONFIG GET's form.
func FuzzOutputBufferLimit(f *testing.F) {
	for _, s := range []string{"pubsub 1mb 512kb 10", "normal 1 2 3 pubsub 4 5 6", "pubsub 18446744073709551616 1 1",
		"pubsub 1 2 -4294967295", "pubsub  1 2", "slave 1k 2gb 99999999999999999999", "pubsub 1 1 \t+7", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var o obufLimits
		before := o.String()
		err := o.set(v)
		if err != nil {
			if o.String() != before {
				t.Fatalf("%q: refused but changed to %q", v, o.String())
			}
		} else {
			var back obufLimits
			if err := back.set(o.String()); err != nil || back.get() != o.get() {
				t.Fatalf("%q: %q reads back as %q (%v)", v, o.String(), back.String(), err)
			}
		}
		for _, w := range strings.Split(v, " ") {
			g1, ok1 := cInt(w)
			w1, wok1 := refCInt(w)
			if ok1 != wok1 || g1 != w1 {
				t.Fatalf("cInt(%q) = %d %v, want %d %v", w, g1, ok1, w1, wok1)
			}
			g2, ok2 := memToUint(w)
			w2, wok2 := refMem(w)
			if ok2 != wok2 || g2 != w2 {
				t.Fatalf("memToUint(%q) = %d %v, want %d %v", w, g2, ok2, w2, wok2)
			}
		}
	})
}

// FuzzPubsubCommands runs byte-driven sequences of pub/sub commands from
// several clients, with arbitrary arguments, and checks the server's
// bookkeeping against a model after each: the subscribers of every channel
// and pattern, every client's positions in those lists, and PUBLISH's count.
func FuzzPubsubCommands(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x10\x21\x32\x43\x54\x65\x76"))
	f.Add([]byte("subscribe a b c; psubscribe *"))
	f.Fuzz(func(t *testing.T, prog []byte) {
		s := newServer(Config{MaxReq: 1 << 20})
		var cs []*client
		for range 4 {
			cs = append(cs, s.newClient(&fakeSub{}))
		}
		names := []string{"a", "b", "", "a*", "*", "[a-", "\\", "ab", "?"}
		model := [numKinds]map[string]map[*client]bool{{}, {}, {}}
		words := []string{"SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "PUBLISH", "RESET"}
		for len(prog) >= 2 {
			op, c := prog[0], cs[int(prog[1])%len(cs)]
			prog = prog[2:]
			word := words[int(op)%len(words)]
			nargs := int(op>>3) % 4
			args := [][]byte{[]byte(word)}
			for i := 0; i < nargs && len(prog) > 0; i++ {
				args = append(args, []byte(names[int(prog[0])%len(names)]))
				prog = prog[1:]
			}
			if word == "PUBLISH" {
				args = append(args[:1], []byte(names[nargs%len(names)]), []byte("m"))
			}
			c.out = c.out[:0]
			s.call(c, args)
			k := psKind(int(op) % len(words) / 2)
			if bytes.HasPrefix(c.out, []byte("-")) {
				word = "refused" // an arity error, or subscribed mode: no change
			}
			switch word {
			case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE":
				for _, a := range args[1:] {
					if model[k][string(a)] == nil {
						model[k][string(a)] = map[*client]bool{}
					}
					model[k][string(a)][c] = true
				}
			case "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
				for name, m := range model[k] {
					if len(args) == 1 || slices.ContainsFunc(args[1:], func(a []byte) bool { return string(a) == name }) {
						delete(m, c)
					}
				}
			case "refused":
				if !strings.HasPrefix(string(c.out), "-ERR wrong number of arguments") && !strings.HasPrefix(string(c.out), "-ERR Can't execute 'publish'") {
					t.Fatalf("%q: %q", args, c.out)
				}
			case "RESET":
				for _, mk := range model {
					for _, m := range mk {
						delete(m, c)
					}
				}
			case "PUBLISH":
				want := len(model[kindChannel][string(args[1])])
				for pat, m := range model[kindPattern] {
					if globMatch([]byte(pat), args[1]) {
						want += len(m)
					}
				}
				if got := string(c.out); got != ":"+strconv.Itoa(want)+"\r\n" {
					t.Fatalf("PUBLISH %q: %q, want %d", args[1], got, want)
				}
			}
			checkPubsub(t, s, cs, model)
		}
	})
}

func checkPubsub(t *testing.T, s *server, cs []*client, model [numKinds]map[string]map[*client]bool) {
	t.Helper()
	for k := range numKinds {
		n := 0
		for name, m := range model[k] {
			if len(m) == 0 {
				continue
			}
			n++
			l := s.ps.subs[k][name]
			if l == nil || len(l.cs) != len(m) {
				t.Fatalf("kind %d %q: list %v, model %d", k, name, l, len(m))
			}
			for i, c := range l.cs {
				if !m[c] || c.ps.subs[k][name].i != i {
					t.Fatalf("kind %d %q: client at %d misplaced", k, name, i)
				}
			}
		}
		if len(s.ps.subs[k]) != n {
			t.Fatalf("kind %d: %d lists, model %d", k, len(s.ps.subs[k]), n)
		}
	}
	if len(s.ps.patList) != len(s.ps.subs[kindPattern]) {
		t.Fatalf("%d patterns listed, %d in the map", len(s.ps.patList), len(s.ps.subs[kindPattern]))
	}
	for i, l := range s.ps.patList {
		if l.pos != i || s.ps.subs[kindPattern][l.name] != l {
			t.Fatalf("pattern %q at %d has pos %d", l.name, i, l.pos)
		}
	}
	for _, c := range cs {
		for k := range numKinds {
			if c.ps.n(k) != 0 && len(c.ps.subs[k]) != c.ps.n(k) {
				t.Fatal("count")
			}
		}
	}
}

// TestGoRedisPubSub drives pub/sub through go-redis.
func TestGoRedisPubSub(t *testing.T) {
	addr := startServer(t, Config{MaxReq: 1 << 20})
	rdb := newClient(t, addr, 2)
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, "news", "sport")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the first confirmation
		t.Fatal(err)
	}
	psub := rdb.PSubscribe(ctx, "n*")
	defer psub.Close()
	if _, err := psub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two subscriptions to news and sport", func() bool {
		m := must(rdb.PubSubNumSub(ctx, "news", "sport").Result())
		return m["news"] == 1 && m["sport"] == 1
	})
	eq(t, "NUMPAT", must(rdb.PubSubNumPat(ctx).Result()), int64(1))
	chans := must(rdb.PubSubChannels(ctx, "*").Result())
	slices.Sort(chans)
	eq(t, "CHANNELS", strings.Join(chans, ","), "news,sport")
	eq(t, "PUBLISH news", must(rdb.Publish(ctx, "news", "hello").Result()), int64(2))
	eq(t, "PUBLISH sport", must(rdb.Publish(ctx, "sport", "goal").Result()), int64(1))
	eq(t, "PUBLISH other", must(rdb.Publish(ctx, "other", "x").Result()), int64(0))
	ch := sub.Channel()
	for _, want := range []string{"news:hello", "sport:goal"} {
		select {
		case m := <-ch:
			eq(t, "message", m.Channel+":"+m.Payload, want)
		case <-time.After(10 * time.Second):
			t.Fatalf("no message %s", want)
		}
	}
	select {
	case m := <-psub.Channel():
		eq(t, "pmessage", m.Pattern+" "+m.Channel+":"+m.Payload, "n* news:hello")
	case <-time.After(10 * time.Second):
		t.Fatal("no pmessage")
	}
	if err := sub.Unsubscribe(ctx, "sport"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "sport unsubscribed", func() bool {
		return must(rdb.PubSubNumSub(ctx, "sport").Result())["sport"] == 0
	})
	// Closing a subscriber's connection unsubscribes it.
	sub.Close()
	psub.Close()
	waitFor(t, 10*time.Second, "subscriptions gone after the close", func() bool {
		return must(rdb.PubSubNumSub(ctx, "news").Result())["news"] == 0 && must(rdb.PubSubNumPat(ctx).Result()) == 0
	})
	// A transaction may publish.
	tx := rdb.TxPipeline()
	p1 := tx.Publish(ctx, "news", "a")
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	eq(t, "PUBLISH in MULTI", must(p1.Result()), int64(0))
}

// TestPubsubDisconnectUnsubscribes: a raw subscriber that goes away, with
// channels and patterns, leaves nothing behind.
func TestPubsubDisconnectUnsubscribes(t *testing.T) {
	addr := startServer(t, Config{MaxReq: 1 << 20})
	rc := dialRaw(t, addr)
	rc.send("SUBSCRIBE a b\r\nPSUBSCRIBE x*\r\nSSUBSCRIBE s\r\n")
	rc.expect(`["subscribe", "a", (integer) 1]`)
	rc.expect(`["subscribe", "b", (integer) 2]`)
	rc.expect(`["psubscribe", "x*", (integer) 3]`)
	rc.expect(`["ssubscribe", "s", (integer) 1]`)
	other := dialRaw(t, addr)
	other.send("PUBLISH xa 1\r\n")
	other.expect("(integer) 1")
	rc.c.Close()
	waitFor(t, 10*time.Second, "the subscriptions to go", func() bool {
		other.send("PUBSUB NUMSUB a b\r\nPUBSUB NUMPAT\r\nPUBSUB SHARDNUMSUB s\r\n")
		var got []string
		for range 3 {
			r, err := readReply(other.r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		return strings.Join(got, " ") == `["a", (integer) 0, "b", (integer) 0] (integer) 0 ["s", (integer) 0]`
	})
}

// rssKB is the resident set size of process pid (VmRSS), in KiB.
func rssKB(t *testing.T, pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no %s", field)
	return 0
}

// dialSmall connects with a small receive buffer, so that a client that
// does not read stops the server's sending soon.
func dialSmall(t *testing.T, addr string) net.Conn {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = setRcvBuf(fd, 4096) })
		return err
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	fanoutSubs = flag.Int("pubsub.subs", 1000, "TestPubsubFanoutSlowSubscriber: reading subscribers")
	fanoutMsgs = flag.Int("pubsub.msgs", 0, "TestPubsubFanoutSlowSubscriber: messages to publish after the slow subscriber is gone (0: 20)")
	fanoutSize = flag.Int("pubsub.size", 4096, "TestPubsubFanoutSlowSubscriber: message size in bytes")
	fanoutAddr = flag.String("pubsub.addr", "", "TestPubsubFanoutSlowSubscriber: run against this server (a redis-server, to compare) instead of starting respkv")
	fanoutPid  = flag.Int("pubsub.pid", 0, "TestPubsubFanoutSlowSubscriber: the process id of the server at -pubsub.addr")
)

// cpuTicks is the user and system time of process pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestPubsubFanoutSlowSubscriber: 1,000 subscribers that read and one that
// never does. The publisher is never held up; the reading subscribers get
// every message, in order, with a bounded delay; the one that does not read
// is disconnected once its queued output passes the pubsub hard limit, and
// the server's memory stays bounded.
func TestPubsubFanoutSlowSubscriber(t *testing.T) {
	const hardLimit = 256 << 10
	addr, pid := *fanoutAddr, *fanoutPid
	if addr == "" {
		p := startProc(t)
		addr, pid = p.addr, p.cmd.Process.Pid
	}
	pub := dialRaw(t, addr)
	pub.send(fmt.Sprintf("CONFIG SET client-output-buffer-limit \"pubsub %d %d 60\"\r\n", hardLimit, hardLimit/2))
	pub.expect("OK")
	size := max(*fanoutSize, 16)
	nsubs := *fanoutSubs
	var (
		wg       sync.WaitGroup
		received atomic.Int64
		maxLat   atomic.Int64 // ns
		failed   atomic.Value
	)
	conns := make([]net.Conn, 0, nsubs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	confirm := "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
	for i := range nsubs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "SUBSCRIBE ch\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		r := bufio.NewReaderSize(c, 64<<10)
		buf := make([]byte, len(confirm))
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(r, buf); err != nil || string(buf) != confirm {
			t.Fatalf("confirmation %q: %v", buf, err)
		}
		c.SetReadDeadline(time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdr := make([]byte, len("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n"))
			var next uint64
			for {
				msg, err := readMessage(r, hdr)
				if err != nil {
					return // closed at the end
				}
				if len(msg) != size {
					failed.Store(fmt.Sprintf("message of %d bytes, want %d", len(msg), size))
					return
				}
				seq, ts := encbin.LittleEndian.Uint64(msg), int64(encbin.LittleEndian.Uint64(msg[8:]))
				if seq != next {
					failed.Store(fmt.Sprintf("message %d after %d", seq, next-1))
					return
				}
				next++
				lat := time.Now().UnixNano() - ts
				for {
					m := maxLat.Load()
					if lat <= m || maxLat.CompareAndSwap(m, lat) {
						break
					}
				}
				received.Add(1)
			}
		}()
	}
	slow := dialSmall(t, addr)
	if _, err := io.WriteString(slow, "SUBSCRIBE ch fill\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every subscriber", func() bool {
		pub.send("PUBSUB NUMSUB ch\r\n")
		r, err := readReply(pub.r)
		return err == nil && r == fmt.Sprintf(`["ch", (integer) %d]`, nsubs+1)
	})
	// First fill the kernel's buffers of the slow subscriber through a
	// channel of its own, until the server starts queueing for it (omem in
	// CLIENT LIST), so that the test does not send megabytes to every
	// reader to get there.
	fill := fmt.Sprintf("*3\r\n$7\r\nPUBLISH\r\n$4\r\nfill\r\n$%d\r\n%s\r\n", 16<<10, strings.Repeat("f", 16<<10))
	for i := 0; ; i++ {
		if i == 10000 {
			t.Fatal("the slow subscriber's kernel buffers took 160 MB")
		}
		pub.send(fill)
		pub.expect("(integer) 1")
		// In a later loop iteration than the PUBLISH, after the server
		// has tried to write it.
		pub.send("CLIENT LIST TYPE pubsub\r\n")
		pub.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := readReply(pub.r)
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(l, "sub=2 "); i < 0 {
			if *fanoutAddr != "" {
				break // another server's accounting dropped it already
			}
			t.Fatalf("the slow subscriber was dropped while filling its kernel buffers (%d bytes of CLIENT LIST)", len(l))
		} else if !strings.Contains(l[i:], " omem=0 ") {
			break
		}
	}
	cpu0 := cpuTicks(t, pid)
	start := time.Now()
	msg := make([]byte, size)
	req := []byte(fmt.Sprintf("*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$%d\r\n", size))
	var maxRTT time.Duration
	sent, after := 0, 0
	extra := *fanoutMsgs
	if extra == 0 {
		extra = 20
	}
	for after < extra {
		encbin.LittleEndian.PutUint64(msg, uint64(sent))
		t0 := time.Now()
		encbin.LittleEndian.PutUint64(msg[8:], uint64(t0.UnixNano()))
		pub.send(string(req) + string(msg) + "\r\n")
		pub.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r, err := readReply(pub.r)
		if err != nil {
			t.Fatalf("PUBLISH %d: %v", sent, err)
		}
		maxRTT = max(maxRTT, time.Since(t0))
		sent++
		switch r {
		case fmt.Sprintf("(integer) %d", nsubs+1):
			if after > 0 {
				t.Fatal("the slow subscriber came back")
			}
		case fmt.Sprintf("(integer) %d", nsubs):
			after++
		default:
			t.Fatalf("PUBLISH %d: %s", sent, r)
		}
		if sent > 100*hardLimit/size+extra {
			t.Fatalf("the slow subscriber is still there after %d messages of %d bytes", sent, size)
		}
	}
	want := int64(sent) * int64(nsubs)
	waitFor(t, 60*time.Second, "every message to every reading subscriber", func() bool {
		if f := failed.Load(); f != nil {
			t.Fatal(f)
		}
		return received.Load() >= want
	})
	elapsed := time.Since(start)
	cpu := cpuTicks(t, pid) - cpu0
	if received.Load() != want {
		t.Fatalf("%d messages received, want %d", received.Load(), want)
	}
	// The slow subscriber's connection was closed by the server: it reads
	// what was in flight, then the end.
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, slow)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the slow subscriber's connection is still open after %d bytes", n)
	}
	hwm := rssKB(t, pid, "VmHWM")
	lat := time.Duration(maxLat.Load())
	t.Logf("%d subscribers (+1 not reading, dropped after %d messages), %d messages of %d bytes: %v, server CPU %d ticks, peak RSS %d KiB; max PUBLISH round trip %v, max delivery delay %v; the slow subscriber read %d bytes before the close",
		nsubs, sent-after, sent, size, elapsed.Round(time.Millisecond), cpu, hwm, maxRTT.Round(time.Microsecond), lat.Round(time.Microsecond), n)
	// Bounds far above what is seen, that a server holding everything
	// for the slow subscriber, or blocking on it, would still break.
	if maxRTT > 5*time.Second || lat > 10*time.Second {
		t.Errorf("PUBLISH round trip %v, delivery delay %v", maxRTT, lat)
	}
	if limit := 256 << 10; hwm > limit && *fanoutMsgs == 0 {
		t.Errorf("server peak RSS %d KiB, want at most %d", hwm, limit)
	}
}

// readMessage reads one message push from r and returns its payload.
func readMessage(r *bufio.Reader, hdr []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil {
		return nil, fmt.Errorf("bad length line %q", line)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b[:n], nil
}

// readRaw reads one reply and returns its bytes.
func readRaw(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short line %q", line)
	}
	out := line
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return nil, err
		}
		if n >= 0 {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
	case '*':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return nil, err
		}
		for range max(n, 0) {
			b, err := readRaw(r)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
	}
	return out, nil
}

// psDiffClient is one client of the differential test: a connection to
// each server, and what the script knows of its state.
type psDiffClient struct {
	conn   [2]net.Conn
	r      [2]*bufio.Reader
	multi  bool
	queued [][]string // commands queued in MULTI
	closed bool
	chans  map[string]bool
	pats   map[string]bool
	shard  map[string]bool
}

// model follows a command that succeeded in the client's subscriptions.
func (c *psDiffClient) model(args []string) {
	cmd := strings.ToUpper(args[0])
	set := map[string]map[string]bool{"SUBSCRIBE": c.chans, "UNSUBSCRIBE": c.chans, "PSUBSCRIBE": c.pats, "PUNSUBSCRIBE": c.pats, "SSUBSCRIBE": c.shard, "SUNSUBSCRIBE": c.shard}[cmd]
	switch cmd {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE":
		for _, a := range args[1:] {
			set[a] = true
		}
	case "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
		if len(args) == 1 {
			clear(set)
		}
		for _, a := range args[1:] {
			delete(set, a)
		}
	case "RESET":
		clear(c.chans)
		clear(c.pats)
		clear(c.shard)
	}
}

// psDiff runs pub/sub command sequences on a redis-server and on respkv
// and compares, after each command, every client's output byte for byte.
type psDiff struct {
	t       *testing.T
	addr    [2]string
	clients map[string]*psDiffClient
	marker  int
}

func (d *psDiff) client(name string) *psDiffClient {
	c := d.clients[name]
	if c == nil || c.closed {
		c = &psDiffClient{chans: map[string]bool{}, pats: map[string]bool{}, shard: map[string]bool{}}
		for i, a := range d.addr {
			conn, err := net.Dial("tcp", a)
			if err != nil {
				d.t.Fatal(err)
			}
			d.t.Cleanup(func() { conn.Close() })
			c.conn[i], c.r[i] = conn, bufio.NewReader(conn)
		}
		d.clients[name] = c
	}
	return c
}

// collect reads c's output on server i up to the reply to the marker
// PING, or one reply (inside MULTI), or to the end (after QUIT).
func (d *psDiff) collect(c *psDiffClient, i int, mk string, one, eof bool) string {
	var out []byte
	c.conn[i].SetReadDeadline(time.Now().Add(10 * time.Second))
	plain := fmt.Sprintf("$%d\r\n%s\r\n", len(mk), mk)
	pong := "*2\r\n$4\r\npong\r\n" + plain
	for {
		b, err := readRaw(c.r[i])
		if err != nil {
			if eof && err == io.EOF {
				return string(out) + "<EOF>"
			}
			d.t.Fatalf("server %d: reading %q: %v (so far %q)", i, mk, err, out)
		}
		if !eof && !one && (string(b) == plain || string(b) == pong) {
			return string(out) + "<marker " + string(b[0]) + ">"
		}
		out = append(out, b...)
		if one {
			return string(out)
		}
	}
}

// step runs one command of client who and compares everyone's output.
func (d *psDiff) step(who string, args ...string) {
	d.t.Helper()
	c := d.client(who)
	cmd := strings.ToUpper(args[0])
	if len(args) > 1 && cmd == "PUBSUB" {
		cmd += " " + strings.ToUpper(args[1])
	}
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	quit := cmd == "QUIT"
	inMulti := c.multi && cmd != "EXEC" && cmd != "DISCARD" && cmd != "MULTI" && cmd != "RESET" && cmd != "QUIT" && cmd != "WATCH"
	d.marker++
	mk := fmt.Sprintf("mk%d", d.marker)
	var got [2]string
	for i := range 2 {
		req := resp.AppendCommand(nil, bargs...)
		if !quit && !inMulti && cmd != "MULTI" {
			req = resp.AppendCommand(req, []byte("PING"), []byte(mk))
		}
		if _, err := c.conn[i].Write(req); err != nil {
			d.t.Fatal(err)
		}
		got[i] = d.collect(c, i, mk, inMulti || cmd == "MULTI", quit)
	}
	if got[0] != got[1] {
		d.t.Fatalf("%s %q:\nredis  %q\nrespkv %q", who, args, got[0], got[1])
	}
	// The model: what the two servers agreed on.
	switch cmd {
	case "MULTI":
		c.multi = strings.HasPrefix(got[0], "+OK")
	case "EXEC", "DISCARD", "RESET":
		c.multi = false
	case "QUIT":
		c.closed = true
	}
	switch {
	case inMulti:
		c.queued = append(c.queued, args)
	case cmd == "EXEC" && !strings.HasPrefix(got[0], "-"):
		for _, q := range c.queued {
			c.model(q)
		}
	case !strings.HasPrefix(got[0], "-"):
		c.model(args)
	}
	if !c.multi {
		c.queued = nil
	}
	// Everyone else's output: pushes, then their marker reply.
	for name, o := range d.clients {
		if o == c || o.closed || o.multi {
			continue
		}
		d.marker++
		mk := fmt.Sprintf("mk%d", d.marker)
		for i := range 2 {
			if _, err := o.conn[i].Write(resp.AppendCommand(nil, []byte("PING"), []byte(mk))); err != nil {
				d.t.Fatal(err)
			}
			got[i] = d.collect(o, i, mk, false, false)
		}
		if got[0] != got[1] {
			d.t.Fatalf("%s after %s %q:\nredis  %q\nrespkv %q", name, who, args, got[0], got[1])
		}
	}
}

// TestPubsubDifferential compares respkv with a real redis-server on a
// script of pub/sub sequences and on seeded random ones: every client's
// output is compared byte for byte after every command.
func TestPubsubDifferential(t *testing.T) {
	d := &psDiff{t: t, addr: [2]string{startRedis(t), startServer(t, Config{MaxReq: diffMaxBulk})}, clients: map[string]*psDiffClient{}}
	script := `
a UNSUBSCRIBE
a PUNSUBSCRIBE
a SUNSUBSCRIBE
a UNSUBSCRIBE x y
a SUBSCRIBE x y x
a GET foo
a CONFIG GET foo
a PUBSUB NUMPAT
a PING
a PING hello
a PING a b
a PUBLISH x 1
a MULTI
a EXEC
a DISCARD
a WATCH k
a NOSUCH x
a GET
a SUBSCRIBE
b PUBLISH x hello
b PUBLISH y ""
b PUBLISH z nobody
b PUBSUB NUMSUB x y z x
b PUBSUB NUMSUB
b PUBSUB CHANNELS x
b PUBSUB CHANNELS [x]
b PUBSUB CHANNELS zz*
b PUBSUB NUMPAT
b PUBSUB HELP
b PUBSUB foo
b PUBSUB CHANNELS a b
b PUBSUB NUMPAT x
b PUBSUB HELP x
b PUBSUB
b PUBLISH a
b PUBLISH a b c
a UNSUBSCRIBE y
a UNSUBSCRIBE zz
a PSUBSCRIBE p* q? r[0-9] \
c PSUBSCRIBE p*
c SUBSCRIBE pq
b PUBLISH pq m
b PUBLISH pqr m
b PUBLISH q5 m
b PUBLISH r5 m
b PUBLISH \ m
b PUBLISH p m
c UNSUBSCRIBE pq
b PUBSUB NUMPAT
a PUNSUBSCRIBE p*
a PUNSUBSCRIBE
a UNSUBSCRIBE
a GET foo
c PUNSUBSCRIBE
c SSUBSCRIBE s1 s2
c SSUBSCRIBE s1
c SUBSCRIBE s1
b SPUBLISH s1 shard
b PUBLISH s1 plain
b SPUBLISH x nobody
b PUBSUB SHARDCHANNELS s1
b PUBSUB SHARDCHANNELS zz
b PUBSUB SHARDNUMSUB s1 s2 s3
c SUNSUBSCRIBE s2
c UNSUBSCRIBE
c SUNSUBSCRIBE
c PING
b MULTI
b SUBSCRIBE x
b PUBLISH x own
b GET x
b EXEC
b PING
b RESET
b PING
a SUBSCRIBE q
c MULTI
c PUBLISH q inside
c PUBSUB NUMSUB q
c EXEC
a QUIT
c PUBSUB NUMSUB q
c PUBLISH q after
c SUBSCRIBE q
c PSUBSCRIBE *
c PUBLISH q x
c QUIT
a PUBSUB NUMPAT
a PUBSUB NUMSUB q
a SUBSCRIBE ""
b PUBLISH "" empty
b PSUBSCRIBE *
a PUBLISH "" again
a RESET
b PUBLISH "" again
b RESET
`
	for _, line := range strings.Split(script, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		who, rest, _ := strings.Cut(line, " ")
		args := splitLine(t, rest)
		sargs := make([]string, len(args))
		for i, a := range args {
			sargs[i] = string(a)
		}
		d.step(who, sargs...)
	}

	// Random sequences. Channels and patterns are chosen so that a channel
	// matches at most one pattern, and a bare UNSUBSCRIBE is sent only with
	// at most one channel: the order of those replies is Redis's hash order
	// (with a random seed per process). The script above avoids them too.
	r := rand.New(rand.NewPCG(1, 2))
	chans := []string{"a1", "a2", "b1", "c", "zz", ""}
	pats := []string{"a*", "b?", "[c]", "q*"}
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	for range 400 {
		who := pick([]string{"a", "b", "c", "d"})
		c := d.client(who)
		var args []string
		switch n := r.IntN(20); {
		case n < 3:
			args = []string{"SUBSCRIBE", pick(chans)}
			if r.IntN(2) == 0 {
				args = append(args, pick(chans))
			}
		case n < 5:
			if len(c.chans) <= 1 && r.IntN(2) == 0 {
				args = []string{"UNSUBSCRIBE"}
			} else {
				args = []string{"UNSUBSCRIBE", pick(chans)}
			}
		case n < 7:
			args = []string{"PSUBSCRIBE", pick(pats)}
		case n < 8:
			args = []string{"PUNSUBSCRIBE"}
			if r.IntN(2) == 0 {
				args = append(args, pick(pats))
			}
		case n < 12:
			args = []string{"PUBLISH", pick(chans), strconv.Itoa(r.IntN(1000))}
		case n < 13:
			args = []string{"PUBSUB", "NUMSUB", pick(chans), pick(chans)}
		case n < 14:
			args = []string{"PUBSUB", "NUMPAT"}
		case n < 15:
			args = []string{"PUBSUB", "CHANNELS", pick([]string{"a1", "b*", "[c]", "zz", ""})}
		case n < 16:
			args = []string{"PING", "x"}
		case n < 17:
			args = []string{pick([]string{"GET", "SET", "INCR"}), "k", "1"}[:2]
		case n < 18:
			args = []string{"RESET"}
		case n < 19:
			args = []string{"SSUBSCRIBE", pick(chans)}
			if r.IntN(3) == 0 {
				args = []string{"SPUBLISH", pick(chans), "s"}
			}
		default:
			if r.IntN(4) == 0 {
				args = []string{"QUIT"}
			} else if len(c.shard) <= 1 {
				args = []string{"SUNSUBSCRIBE"}
			} else {
				args = []string{"SUNSUBSCRIBE", pick(chans)}
			}
		}
		d.step(who, args...)
	}
}
