package main

import (
	"bufio"
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The reproducers of issue 9 and their classes: integer arguments at their
// limits and buffers that must be zeroed where Redis zeroes them. The
// expected replies are redis-server 7.0.15's.

func TestSetrangeOverflow(t *testing.T) {
	k := newCore(t)
	k.s.cfg.MaxReq = 1 << 20
	for _, tc := range []struct{ cmd, want string }{
		{"SETRANGE k 9223372036854775807 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SET k v", "OK"},
		{"SETRANGE k 9223372036854775807 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k 9223372036854775806 xy", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k 1048575 x", "(integer) 1048576"},
		{"SETRANGE k 1048576 x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SETRANGE k -1 x", "(error) ERR offset is out of range"},
		{"SETRANGE k -9223372036854775808 x", "(error) ERR offset is out of range"},
		{"SETRANGE k 9223372036854775808 x", "(error) ERR value is not an integer or out of range"},
		{"SETRANGE n 9223372036854775807 \"\"", "(integer) 0"},
		{"SETRANGE k 9223372036854775807 \"\"", "(integer) 1048576"},
		{"SETBIT b 9223372036854775807 1", "(error) ERR bit offset is not an integer or out of range"},
		{"SETBIT b 8388607 1", "(integer) 0"},
		{"SETBIT b 8388608 1", "(error) ERR bit offset is not an integer or out of range"},
		{"GETBIT b -1", "(error) ERR bit offset is not an integer or out of range"},
		{"APPEND k x", "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
		{"SET s abc", "OK"},
		{"GETRANGE s 0 9223372036854775807", `"abc"`},
		{"GETRANGE s -9223372036854775808 -1", `"abc"`},
		{"GETRANGE s 9223372036854775807 -9223372036854775808", `""`},
		{"GETRANGE s -9223372036854775808 9223372036854775807", `"abc"`},
		{"GETRANGE s -1 -9223372036854775808", `""`},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
}

func TestSetrangeZeroesGap(t *testing.T) {
	k := newCore(t)
	k.do("SET k SECRET-PASSWORD-1234")
	k.do("SET k x")
	if got, want := k.do("SETRANGE k 18 ZZ"), "(integer) 20"; got != want {
		t.Fatalf("SETRANGE: %s, want %s", got, want)
	}
	if got, want := k.do("GET k"), `"x`+strings.Repeat(`\x00`, 17)+`ZZ"`; got != want {
		t.Fatalf("GET: %s, want %s", got, want)
	}
	// SETBIT and APPEND after a shrink: no old byte comes back.
	k.do("SET b SECRET-PASSWORD-1234")
	k.do("SET b x")
	k.do("SETBIT b 159 1")
	if got, want := k.do("GET b"), `"x`+strings.Repeat(`\x00`, 18)+`\x01"`; got != want {
		t.Fatalf("GET after SETBIT: %s, want %s", got, want)
	}
	k.do("SET a SECRET-PASSWORD-1234")
	k.do("SET a x")
	k.do("APPEND a y")
	if got, want := k.do("GET a"), `"xy"`; got != want {
		t.Fatalf("GET after APPEND: %s, want %s", got, want)
	}
	// INCR rewrites the value in place.
	k.do("SET i 1234567890123")
	k.do("SET i 5")
	k.do("INCR i")
	if got, want := k.do("GET i"), `"6"`; got != want {
		t.Fatalf("GET after INCR: %s, want %s", got, want)
	}
	k.do("SETRANGE i 3 x")
	if got, want := k.do("GET i"), `"6\x00\x00x"`; got != want {
		t.Fatalf("GET after INCR+SETRANGE: %s, want %s", got, want)
	}
}

// Looking up the second key of RENAME, COPY or LCS may delete it (expired)
// and move the first key's entry: the first key must be found again.
func TestTwoKeysOneExpired(t *testing.T) {
	for _, tc := range []struct{ cmd, want, check, after string }{
		{"RENAME src dst", "OK", "GET dst", `"v"`},
		{"COPY src dst", "(integer) 1", "GET dst", `"v"`},
		{"LCS src dst", `""`, "GET src", `"v"`},
	} {
		k := newCore(t)
		k.do("SET dst old PXAT 1") // expired, not yet deleted
		k.do("SET src v")          // the last entry: deleting dst moves it
		if got := k.do(tc.cmd); got != tc.want {
			t.Fatalf("%s: %s, want %s", tc.cmd, got, tc.want)
		}
		if got := k.do(tc.check); got != tc.after {
			t.Fatalf("%s then %s: %s, want %s", tc.cmd, tc.check, got, tc.after)
		}
	}
}

// Transactions as Redis 7.0: a refused EXEC aborts the transaction, and
// unknown subcommands and subcommand arity are checked at queue time.
func TestTransactionsLikeRedis7(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ cmd, want string }{
		{"MULTI", "OK"},
		{"SET a 1", "QUEUED"},
		{"EXEC x", "(error) EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"},
		{"EXEC", "(error) ERR EXEC without MULTI"},
		{"GET a", "(nil)"},
		{"MULTI", "OK"},
		{"CONFIG NOPE", "(error) ERR unknown subcommand 'NOPE'. Try CONFIG HELP."},
		{"SET a 1", "QUEUED"},
		{"EXEC", "(error) EXECABORT Transaction discarded because of previous errors."},
		{"GET a", "(nil)"},
		{"MULTI", "OK"},
		{"CONFIG GET", "(error) ERR wrong number of arguments for 'config|get' command"},
		{"CLIENT", "(error) ERR wrong number of arguments for 'client' command"},
		{"EXEC", "(error) EXECABORT Transaction discarded because of previous errors."},
		{"MULTI", "OK"},
		{"MULTI", "(error) ERR MULTI calls can not be nested"},
		{"WATCH a", "(error) ERR WATCH inside MULTI is not allowed"},
		{"SET a 2", "QUEUED"},
		{"EXEC", "[OK]"},
		{"EXEC x", "(error) EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
}

// AUTH and HELLO AUTH with requirepass, Redis's texts.
func TestAuth(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ cmd, want string }{
		{"AUTH x", "(error) ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
		{"AUTH default x", "OK"},
		{"AUTH nobody x", "(error) WRONGPASS invalid username-password pair or user is disabled."},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
	k = newCore(t)
	k.s.cfg.RequirePass = "s3cret"
	k.c = k.s.newClient(nil)
	for _, tc := range []struct{ cmd, want string }{
		{"GET a", "(error) NOAUTH Authentication required."},
		{"MULTI", "(error) NOAUTH Authentication required."},
		{"HELLO 2", "(error) NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"},
		{"AUTH wrong", "(error) WRONGPASS invalid username-password pair or user is disabled."},
		{"AUTH a b c", "(error) ERR syntax error"},
		{"PING", "(error) NOAUTH Authentication required."},
		{"AUTH s3cret", "OK"},
		{"PING", "PONG"},
		{"RESET", "RESET"},
		{"PING", "(error) NOAUTH Authentication required."},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
	k.c = k.s.newClient(nil)
	if got := k.do("HELLO 2 AUTH default s3cret"); !strings.HasPrefix(got, `["server", "redis"`) {
		t.Errorf("HELLO AUTH: %s", got)
	}
	if got := k.do("GET a"); got != "(nil)" {
		t.Errorf("GET after HELLO AUTH: %s", got)
	}
}

// go-redis with a password works against requirepass; without one every
// command is refused.
func TestGoRedisPassword(t *testing.T) {
	addr := startServer(t, Config{RequirePass: "pw"})
	ctx := context.Background()
	rdb := newClientOpts(t, addr, "pw")
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET: %q %v", v, err)
	}
	bad := newClientOpts(t, addr, "")
	if err := bad.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("without a password: %v", err)
	}
	wrong := newClientOpts(t, addr, "nope")
	if err := wrong.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v", err)
	}
}

func newClientOpts(t *testing.T, addr, password string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Protected mode refuses peers outside loopback unless a password is set.
func TestProtectedMode(t *testing.T) {
	s := newServer(Config{ProtectedMode: true})
	for _, tc := range []struct {
		addr string
		want bool
	}{{"127.0.0.1:5", false}, {"[::1]:5", false}, {"[::ffff:127.0.0.1]:5", false}, {"10.0.0.1:5", true}, {"127.0.0.2:5", true}, {"[fe80::1]:5", true}} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.denied(a); got != tc.want {
			t.Errorf("%s: denied %v, want %v", tc.addr, got, tc.want)
		}
		s.cfg.RequirePass = "x"
		if s.denied(a) {
			t.Errorf("%s: denied with a password", tc.addr)
		}
		s.cfg.RequirePass = ""
	}
}

// EXPIRETIME rounds to the nearest second, as Redis does.
func TestExpiretimeRounds(t *testing.T) {
	k := newCore(t)
	k.do("SET k v PXAT 4102444800999")
	if got, want := k.do("EXPIRETIME k"), "(integer) 4102444801"; got != want {
		t.Fatalf("EXPIRETIME: %s, want %s", got, want)
	}
	k.do("SET k v PXAT 4102444800499")
	if got, want := k.do("EXPIRETIME k"), "(integer) 4102444800"; got != want {
		t.Fatalf("EXPIRETIME: %s, want %s", got, want)
	}
}

// With a small proto-max-bulk-len, a reply larger than the high-water mark
// (and than 2 x maxreq) is still sent whole: the output limit is not
// derived from the input limit alone.
func TestBigReplySmallMaxreq(t *testing.T) {
	addr := startServer(t, Config{MaxReq: 1 << 20})
	ctx := context.Background()
	rdb := newClientOpts(t, addr, "")
	val := strings.Repeat("v", 1<<20)
	var req []string
	for i := range 12 {
		key := "k" + strconv.Itoa(i)
		if err := rdb.Set(ctx, key, val, 0).Err(); err != nil {
			t.Fatal(err)
		}
		req = append(req, key)
	}
	// A small receive buffer: most of the 12 MB reply stays pending in
	// the server while the client has not read it.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(64 << 10)
	rc := &rawConn{t: t, c: nc, r: bufio.NewReader(nc)}
	rc.send("MGET " + strings.Join(req, " ") + "\r\n")
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := readReply(rc.r)
	if err != nil {
		t.Fatalf("reading the MGET reply: %v", err)
	}
	if want := 12 * (1<<20 + 2); len(got) < want {
		t.Fatalf("reply of %d bytes, want at least %d", len(got), want)
	}
}

// INFO as Redis 7.0: "all" includes commandstats, the default includes
// errorstats, the cpu and replication sections are filled.
func TestInfoSections(t *testing.T) {
	k := newCore(t)
	k.do("GET")
	k.do("SET k v")
	k.do("INCR k")
	k.do("NOSUCH")
	info := func(args ...string) string {
		got := k.do("INFO " + strings.Join(args, " "))
		s, err := strconv.Unquote(got)
		if err != nil {
			t.Fatalf("INFO %v: %s", args, got)
		}
		return s
	}
	def := info()
	for _, want := range []string{"# Errorstats\r\nerrorstat_ERR:count=3\r\n", "used_cpu_user:", "master_repl_offset:0\r\n", "total_error_replies:3\r\n", "# Cluster\r\ncluster_enabled:0\r\n"} {
		if !strings.Contains(def, want) {
			t.Errorf("INFO: no %q in\n%s", want, def)
		}
	}
	if strings.Contains(def, "# Commandstats") {
		t.Error("INFO (default) has commandstats")
	}
	all := info("all")
	for _, want := range []string{`cmdstat_set:calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0\r`, `cmdstat_incr:calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=1\r`, `cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r`} {
		if !regexp.MustCompile(want).MatchString(all) {
			t.Errorf("INFO all: no %q in\n%s", want, all)
		}
	}
	if got := info("errorstats"); got != "# Errorstats\r\nerrorstat_ERR:count=3\r\n" {
		t.Errorf("INFO errorstats: %q", got)
	}
}

// OBJECT ENCODING follows Redis's rules: INCR/DECR make an integer, APPEND
// and SETRANGE a raw string, INCRBYFLOAT a new embstr.
func TestObjectEncoding(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ cmd, want string }{
		{"INCRBYFLOAT k 11", `"11"`},
		{"OBJECT ENCODING k", `"embstr"`},
		{"DECRBY k 10", "(integer) 1"},
		{"OBJECT ENCODING k", `"int"`},
		{"OBJECT REFCOUNT k", "(integer) 2147483647"},
		{"APPEND k x", "(integer) 2"},
		{"OBJECT ENCODING k", `"raw"`},
		{"SET k 12345678901234567890123456789012345678901234", "OK"},
		{"OBJECT ENCODING k", `"embstr"`},
		{"SET k 123456789012345678901234567890123456789012345", "OK"},
		{"OBJECT ENCODING k", `"raw"`},
		{"SET k 00", "OK"},
		{"OBJECT ENCODING k", `"embstr"`},
		{"OBJECT ENCODING nokey", "(nil)"},
		{"OBJECT FREQ k", "(error) ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
}

// SCAN checks expiry only for keys that match the pattern, as Redis does:
// an expired key that does not match stays (and DBSIZE counts it).
func TestScanExpiresOnlyMatches(t *testing.T) {
	k := newCore(t)
	k.do("SET gone v PXAT 1")
	k.do("SET other v PXAT 1")
	if got := k.do("SCAN 0 MATCH g* COUNT 100"); got != `["0", []]` {
		t.Fatalf("SCAN: %s", got)
	}
	if got := k.do("DBSIZE"); got != "(integer) 1" {
		t.Fatalf("DBSIZE after SCAN: %s, want 1 (other is expired but not met)", got)
	}
	// EXPIRETIME and TTL near MaxInt64 do not overflow.
	k.do("SET m v")
	k.do("PEXPIREAT m 9223372036854775807")
	if got := k.do("EXPIRETIME m"); got != "(integer) 9223372036854776" {
		t.Fatalf("EXPIRETIME: %s", got)
	}
}

// WATCH of a key already expired when watched, as Redis 7.0: its deletion
// (lazy expiry, FLUSHDB) is no change; a new value is; a key swapped in
// that is expired is no change either. (Found by the differential tester.)
func TestWatchExpiredKey(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ cmd, want string }{
		{"SET k v PXAT 1", "OK"}, {"WATCH k", "OK"}, {"GET k", "(nil)"},
		{"MULTI", "OK"}, {"PING", "QUEUED"}, {"EXEC", "[PONG]"},
		{"SET k v PXAT 1", "OK"}, {"WATCH k", "OK"}, {"SET k new", "OK"},
		{"MULTI", "OK"}, {"PING", "QUEUED"}, {"EXEC", "(nil array)"},
		{"SET k v PXAT 1", "OK"}, {"WATCH k", "OK"}, {"FLUSHDB", "OK"},
		{"MULTI", "OK"}, {"PING", "QUEUED"}, {"EXEC", "[PONG]"},
		{"SET w 1", "OK"}, {"WATCH w", "OK"}, {"FLUSHDB", "OK"},
		{"MULTI", "OK"}, {"PING", "QUEUED"}, {"EXEC", "(nil array)"},
		{"SELECT 1", "OK"}, {"SET k v PXAT 1", "OK"}, {"SELECT 0", "OK"}, {"WATCH k", "OK"}, {"SWAPDB 0 1", "OK"},
		{"MULTI", "OK"}, {"PING", "QUEUED"}, {"EXEC", "[PONG]"},
	} {
		if got := k.do(tc.cmd); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.cmd, got, tc.want)
		}
	}
}
