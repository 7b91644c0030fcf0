package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slowlogEntries returns SLOWLOG GET -1 of the core's server.
func slowlogEntries(k *core) []slowEntry {
	out := make([]slowEntry, len(k.s.mon.slow.entries))
	for i, e := range k.s.mon.slow.entries {
		out[len(out)-1-i] = e
	}
	return out
}

func argsText(args [][]byte) string { return string(bytes.Join(args, []byte(" "))) }

// With slowlog-log-slower-than 0 every command is logged, newest first,
// with its arguments as sent; EXEC is not, the commands it ran are.
func TestSlowlogLogsAll(t *testing.T) {
	k := newCore(t)
	if got := k.do("CONFIG SET slowlog-log-slower-than 0"); got != "OK" {
		t.Fatal(got)
	}
	k.do("SET a b")
	k.do("client setname me")
	k.do("MULTI")
	k.do("set x 1")
	k.do("GET x")
	k.do("EXEC")
	want := []string{"GET x", "set x 1", "MULTI", "client setname me", "SET a b", "CONFIG SET slowlog-log-slower-than 0"}
	got := slowlogEntries(k)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %v", len(got), len(want), got)
	}
	for i, e := range got {
		if argsText(e.args) != want[i] || e.id != int64(len(want)-1-i) {
			t.Fatalf("entry %d: id %d %q, want id %d %q", i, e.id, argsText(e.args), len(want)-1-i, want[i])
		}
	}
	if got[0].name != "me" || got[4].name != "" {
		t.Fatalf("client names %q %q", got[0].name, got[4].name)
	}
	if r := k.do("SLOWLOG LEN"); r != "(integer) 6" {
		t.Fatal(r)
	}
	// The reply: id, time, duration, arguments, peer, name.
	r := k.do("SLOWLOG GET 1")
	if !strings.HasPrefix(r, "[[(integer) 6, (integer) ") || !strings.HasSuffix(r, `, ["SLOWLOG", "LEN"], "", "me"]]`) {
		t.Fatalf("SLOWLOG GET 1: %s", r)
	}
	if e := slowlogEntries(k)[0]; e.time < time.Now().Unix()-60 || e.time > time.Now().Unix() || e.duration < 0 {
		t.Fatalf("time %d, duration %d", e.time, e.duration)
	}
	// RESET empties the log; the numbering goes on.
	if r := k.do("SLOWLOG RESET"); r != "OK" {
		t.Fatal(r)
	}
	if e := slowlogEntries(k); len(e) != 1 || e[0].id != 8 || argsText(e[0].args) != "SLOWLOG RESET" {
		t.Fatalf("after RESET: %v", e)
	}
}

// The default threshold (10 ms) logs no quick command; -1 logs nothing;
// slowlog-max-len bounds the log (0: nothing kept, and no id used).
func TestSlowlogThresholdAndMaxLen(t *testing.T) {
	k := newCore(t)
	for range 100 {
		k.do("SET a b")
	}
	// A loaded machine could stretch one SET past 10 ms: only SETs may be
	// there, and not many.
	for _, e := range slowlogEntries(k) {
		if argsText(e.args) != "SET a b" || e.duration < 10000 {
			t.Fatalf("logged below the default threshold: %+v", e)
		}
	}
	k.do("SLOWLOG RESET")
	k.do("CONFIG SET slowlog-log-slower-than -1")
	for range 10 {
		k.do("SET a b")
	}
	if r := k.do("SLOWLOG LEN"); r != "(integer) 0" {
		t.Fatalf("disabled slowlog: %s", r)
	}
	k.do("CONFIG SET slowlog-log-slower-than 0 slowlog-max-len 3")
	for i := range 10 {
		k.do("SET a " + strconv.Itoa(i))
	}
	got := slowlogEntries(k)
	if len(got) != 3 || argsText(got[0].args) != "SET a 9" || argsText(got[2].args) != "SET a 7" {
		t.Fatalf("max-len 3: %v", got)
	}
	id := got[0].id
	k.do("CONFIG SET slowlog-max-len 0")
	// Like Redis, a lower maximum trims at the next logged command.
	k.do("SET a b")
	if r := k.do("SLOWLOG LEN"); r != "(integer) 0" {
		t.Fatalf("max-len 0: %s", r)
	}
	k.do("CONFIG SET slowlog-max-len 128")
	// Like Redis, every logged command takes an id, kept or not: the
	// CONFIG SET to 0, SET, SLOWLOG LEN, then the CONFIG SET that raised it.
	if e := slowlogEntries(k); len(e) != 1 || e[0].id != id+4 {
		t.Fatalf("ids after max-len 0: %v (last %d)", e, id)
	}
}

// The threshold compares whole microseconds, as Redis: a command of
// 99.999 µs is not logged at 100, one of 100 µs is. A negative threshold
// logs nothing, even a command of MaxInt64 ns.
func TestSlowlogThresholdBoundary(t *testing.T) {
	k := newCore(t)
	cmd := lookup([]byte("get"))
	args := [][]byte{[]byte("GET"), []byte("k")}
	k.do("CONFIG SET slowlog-log-slower-than 100")
	k.s.commandDone(k.c, cmd, args, 99999*time.Nanosecond)
	if n := len(k.s.mon.slow.entries); n != 0 {
		t.Fatalf("99.999 µs logged at 100")
	}
	k.s.commandDone(k.c, cmd, args, 100*time.Microsecond)
	if e := k.s.mon.slow.entries; len(e) != 1 || e[0].duration != 100 {
		t.Fatalf("100 µs: %+v", e)
	}
	k.do("CONFIG SET slowlog-log-slower-than -1")
	k.s.commandDone(k.c, cmd, args, math.MaxInt64)
	k.do("CONFIG SET slowlog-log-slower-than 9223372036854775807")
	k.s.commandDone(k.c, cmd, args, math.MaxInt64)
	n := 0
	for _, e := range slowlogEntries(k) {
		if argsText(e.args) == "GET k" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d entries with the slowlog off or at MaxInt64 µs", n)
	}
}

// An entry keeps at most 32 arguments and 128 bytes of each, whatever the
// command: a 1 MB argument and 10,000 arguments make small entries.
func TestSlowlogTruncates(t *testing.T) {
	k := newCore(t)
	k.do("CONFIG SET slowlog-log-slower-than 0")
	big := bytes.Repeat([]byte("x"), 1<<20)
	k.doArgs([]byte("SET"), []byte("k"), big)
	e := slowlogEntries(k)[0]
	want := strings.Repeat("x", 128) + "... (1048448 more bytes)"
	if len(e.args) != 3 || string(e.args[2]) != want {
		t.Fatalf("1 MB argument kept as %d bytes: %.200q", len(e.args[2]), e.args[2])
	}
	many := [][]byte{[]byte("MGET")}
	for i := range 9999 {
		many = append(many, []byte("key"+strconv.Itoa(i)))
	}
	k.doArgs(many...)
	e = slowlogEntries(k)[0]
	if len(e.args) != 32 || string(e.args[30]) != "key29" || string(e.args[31]) != "... (9969 more arguments)" {
		t.Fatalf("10,000 arguments: %d kept, last %q", len(e.args), e.args[len(e.args)-1])
	}
	// Exactly 32 arguments, and exactly 128 bytes, are kept whole.
	args := [][]byte{[]byte("MGET")}
	for range 30 {
		args = append(args, []byte("k"))
	}
	args = append(args, bytes.Repeat([]byte("y"), 128))
	k.doArgs(args...)
	e = slowlogEntries(k)[0]
	if len(e.args) != 32 || len(e.args[31]) != 128 {
		t.Fatalf("32 arguments of up to 128 bytes: %d kept, last %q", len(e.args), e.args[31])
	}
	// The entry does not share the request's memory.
	for _, a := range e.args {
		if cap(a) > 160 {
			t.Fatalf("argument capacity %d", cap(a))
		}
	}
}

// Passwords are not kept: AUTH's arguments, HELLO's AUTH user and password,
// CONFIG SET requirepass's value.
func TestSlowlogRedacts(t *testing.T) {
	k := newCore(t)
	k.do("CONFIG SET slowlog-log-slower-than 0")
	k.do("AUTH secret")
	k.do("AUTH user secret")
	k.do("HELLO 2 AUTH default secret SETNAME auth")
	k.do("CONFIG SET maxmemory 0 requirepass secret")
	k.do("AUTH secret")
	want := []string{
		"AUTH (redacted)",
		"CONFIG SET maxmemory 0 requirepass (redacted)",
		"HELLO 2 AUTH (redacted) (redacted) SETNAME auth",
		"AUTH (redacted) (redacted)",
		"AUTH (redacted)",
	}
	got := slowlogEntries(k)
	for i, w := range want {
		if argsText(got[i].args) != w {
			t.Fatalf("entry %d: %q, want %q", i, argsText(got[i].args), w)
		}
	}
}

// SLOWLOG GET's count: -1 is all, 0 none, a huge count is all, below -1
// or not a number is Redis's error; other arities are refused.
func TestSlowlogGetCount(t *testing.T) {
	k := newCore(t)
	k.do("CONFIG SET slowlog-log-slower-than 0")
	for range 20 {
		k.do("PING")
	}
	count := func(arg string) string {
		r := k.do("SLOWLOG GET " + arg)
		if strings.HasPrefix(r, "(error)") {
			return r
		}
		return strconv.Itoa(strings.Count(r, `"PING"`) + strings.Count(r, `"SLOWLOG"`) + strings.Count(r, `"CONFIG"`))
	}
	for _, tc := range []struct{ arg, want string }{
		{"", "10"}, {"-1", "21"}, {"0", "0"}, {"3", "3"},
		{"9223372036854775807", "21"},
		{"-2", "(error) ERR count should be greater than or equal to -1"},
		{"-9223372036854775808", "(error) ERR count should be greater than or equal to -1"},
		{"9223372036854775808", "(error) ERR count should be greater than or equal to -1"},
		{"abc", "(error) ERR count should be greater than or equal to -1"},
		{"1 2", "(error) ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."},
	} {
		k.do("SLOWLOG RESET")
		for range 20 {
			k.do("PING")
		}
		if got := count(tc.arg); got != tc.want {
			t.Errorf("SLOWLOG GET %s: %s, want %s", tc.arg, got, tc.want)
		}
	}
	for line, want := range map[string]string{
		"SLOWLOG":       "(error) ERR wrong number of arguments for 'slowlog' command",
		"SLOWLOG LEN x": "(error) ERR wrong number of arguments for 'slowlog|len' command",
		"SLOWLOG foo":   "(error) ERR unknown subcommand 'foo'. Try SLOWLOG HELP.",
	} {
		if got := k.do(line); got != want {
			t.Errorf("%s: %s, want %s", line, got, want)
		}
	}
}

// The settings' edge values, as Redis 7.0 accepts and refuses them.
func TestSlowlogLatencyConfig(t *testing.T) {
	k := newCore(t)
	for _, tc := range []struct{ set, want, get string }{
		{"slowlog-log-slower-than 0", "OK", "0"},
		{"slowlog-log-slower-than -1", "OK", "-1"},
		{"slowlog-log-slower-than 9223372036854775807", "OK", "9223372036854775807"},
		{"slowlog-log-slower-than -2", "(error) ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive", "9223372036854775807"},
		{"slowlog-log-slower-than abc", "(error) ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument couldn't be parsed into an integer", "9223372036854775807"},
		{"slowlog-max-len 0", "OK", "0"},
		{"slowlog-max-len 9223372036854775807", "OK", "9223372036854775807"},
		{"slowlog-max-len -1", "(error) ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument must be between 0 and 9223372036854775807 inclusive", "9223372036854775807"},
		{"latency-monitor-threshold 0", "OK", "0"},
		{"latency-monitor-threshold 9223372036854775807", "OK", "9223372036854775807"},
		{"latency-monitor-threshold -1", "(error) ERR CONFIG SET failed (possibly related to argument 'latency-monitor-threshold') - argument must be between 0 and 9223372036854775807 inclusive", "9223372036854775807"},
		{"latency-tracking no", "OK", "no"},
		{"latency-tracking maybe", "(error) ERR CONFIG SET failed (possibly related to argument 'latency-tracking') - argument must be 'yes' or 'no'", "no"},
		{`latency-tracking-info-percentiles "0 100"`, "OK", "0 100"},
		{`latency-tracking-info-percentiles ""`, "OK", ""},
		{`latency-tracking-info-percentiles 99.9999999`, "OK", "100"},
		{`latency-tracking-info-percentiles 101`, "(error) ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]", "100"},
		{`latency-tracking-info-percentiles "50  99"`, "(error) ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters", "100"},
		{`latency-tracking-info-percentiles nan`, "(error) ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters", "100"},
	} {
		name, _, _ := strings.Cut(tc.set, " ")
		if got := k.do("CONFIG SET " + tc.set); got != tc.want {
			t.Errorf("CONFIG SET %s: %s, want %s", tc.set, got, tc.want)
		}
		if got, want := k.do("CONFIG GET "+name), fmt.Sprintf("[%q, %q]", name, tc.get); got != want {
			t.Errorf("after CONFIG SET %s: %s, want %s", tc.set, got, want)
		}
	}
	// Defaults, and the configuration file.
	cfg := defaultConfig()
	if err := readConfig(strings.NewReader("slowlog-log-slower-than 5\nslowlog-max-len 7\nlatency-monitor-threshold 3\nlatency-tracking no\n"), "t.conf", &cfg); err != nil {
		t.Fatal(err)
	}
	if m := cfg.Monitor; m.slowlogSlowerThan() != 5 || m.slowlogMaxLen() != 7 || m.latencyThreshold != 3 || !m.trackingOff {
		t.Fatalf("from a file: %+v", m)
	}
	if err := readConfig(strings.NewReader("slowlog-max-len -5\n"), "t.conf", &cfg); err == nil {
		t.Fatal("slowlog-max-len -5 accepted in a file")
	}
	k = newCore(t)
	if got := k.do("CONFIG GET slowlog-*"); got != `["slowlog-log-slower-than", "10000", "slowlog-max-len", "128"]` {
		t.Fatalf("defaults: %s", got)
	}
	if got := k.do("CONFIG GET latency-*"); got != `["latency-monitor-threshold", "0", "latency-tracking", "yes", "latency-tracking-info-percentiles", "50 99 99.9"]` {
		t.Fatalf("defaults: %s", got)
	}
}
