package main

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// send runs one command on both servers and returns the replies, masked
// with mask.
func (d *diffConn) send(mask func(string) string, args ...string) (redis, respkv string) {
	raw := make([][]byte, len(args))
	for i, a := range args {
		raw[i] = []byte(a)
	}
	rs, ks := d.roundTrip(resp.AppendCommand(nil, raw...), 1)
	return mask(rs[0].String()), mask(ks[0].String())
}

var (
	peerRE = regexp.MustCompile(`"127\.0\.0\.1:\d+"`)
	// an entry's id, time and duration: "[5, 1796537432, 15, ["
	slowRE = regexp.MustCompile(`\[\(integer\) (\d+), \(integer\) \d+, \(integer\) \d+, \[`)
)

// maskSlowlog keeps what two servers agree on in SLOWLOG GET: the ids,
// arguments and client names; times, durations and ports are masked.
func maskSlowlog(s string) string {
	s = peerRE.ReplaceAllString(s, `"peer"`)
	return slowRE.ReplaceAllString(s, "[(integer) $1, T, D, [")
}

var histRE = regexp.MustCompile(`"histogram_usec", \[[^\]]*\]`)

// maskHistogram keeps the commands and their calls of LATENCY HISTOGRAM,
// not the distribution of their durations.
func maskHistogram(s string) string { return histRE.ReplaceAllString(s, `"histogram_usec", H`) }

// The slowlog, the latency monitor, their settings and the error counters,
// compared with a real redis-server over the same command sequence: the
// replies must be the same, but for times, durations and client ports, and
// respkv's own loop-callback latency event.
func TestSlowlogLatencyAgainstRedis(t *testing.T) {
	raddr := startRedis(t)
	kaddr := startServer(t, Config{MaxReq: diffMaxBulk})
	d := dialPair(t, raddr, kaddr)
	defer d.close()
	same := func(mask func(string) string, args ...string) string {
		t.Helper()
		r, k := d.send(mask, args...)
		if r != k {
			t.Errorf("%q:\n  redis:  %.600s\n  respkv: %.600s", args, r, k)
		}
		return r
	}
	id := func(s string) string { return s }
	mget := []string{"MGET"}
	for i := range 40 {
		mget = append(mget, "key"+strconv.Itoa(i))
	}
	many := []string{"EXISTS"}
	for i := range 10000 {
		many = append(many, strconv.Itoa(i))
	}
	for _, cmd := range [][]string{
		{"CONFIG", "SET", "slowlog-log-slower-than", "0"},
		{"SET", "a", "b"},
		{"CLIENT", "SETNAME", "conn1"},
		{"SET", "big", strings.Repeat("v", 200)},
		{"SET", "huge", strings.Repeat("w", 1<<20-1)},
		mget,
		many,
		{"AUTH", "secret"},
		{"AUTH", "user", "secret"},
		{"MULTI"}, {"SET", "x", "1"}, {"INCR", "a"}, {"GET", "x"}, {"EXEC"},
		{"MULTI"}, {"NOSUCH"}, {"EXEC"},
		{"CONFIG", "SET", "maxmemory", "0", "requirepass", ""},
		{"GET"},
		{"SLOWLOG", "GET", "-1"},
		{"SLOWLOG", "LEN"},
		{"SLOWLOG", "GET"}, {"SLOWLOG", "GET", "0"}, {"SLOWLOG", "GET", "2"},
		{"SLOWLOG", "GET", "-2"}, {"SLOWLOG", "GET", "abc"}, {"SLOWLOG", "GET", "9223372036854775808"},
		{"SLOWLOG", "GET", "1", "2"}, {"SLOWLOG", "get", "1", "2"}, {"SLOWLOG"}, {"SLOWLOG", "LEN", "x"}, {"SLOWLOG", "foo"},
		{"SLOWLOG", "HELP"},
		{"SLOWLOG", "RESET"}, {"SLOWLOG", "GET", "9223372036854775807"},
		{"CONFIG", "SET", "slowlog-max-len", "2"},
		{"PING"}, {"ECHO", "x"}, {"SLOWLOG", "GET", "-1"},
		{"CONFIG", "SET", "slowlog-max-len", "0"}, {"PING"}, {"SLOWLOG", "LEN"},
		{"CONFIG", "SET", "slowlog-max-len", "128"}, {"SLOWLOG", "GET", "-1"},
		{"CONFIG", "SET", "slowlog-log-slower-than", "-1"}, {"PING"}, {"SLOWLOG", "LEN"},
		{"LATENCY", "LATEST"}, {"LATENCY", "HISTORY", "command"}, {"LATENCY", "RESET"}, {"LATENCY", "RESET", "a", "b"},
		{"LATENCY"}, {"LATENCY", "HISTORY"}, {"LATENCY", "LATEST", "x"}, {"LATENCY", "foo"},
		{"LATENCY", "HISTORY", "a", "b"},
		{"LATENCY", "HISTOGRAM", "set", "nosuch", "GET", "mget", "set"},
		{"CONFIG", "GET", "slowlog-log-slower-than"}, {"CONFIG", "GET", "slowlog-max-len"}, {"CONFIG", "GET", "latency-monitor-threshold"},
		{"CONFIG", "GET", "latency-tracking"}, {"CONFIG", "GET", "latency-tracking-info-percentiles"},
	} {
		mask := id
		switch {
		case strings.EqualFold(cmd[0], "SLOWLOG"):
			mask = maskSlowlog
		case len(cmd) > 1 && strings.EqualFold(cmd[1], "HISTOGRAM"):
			mask = maskHistogram
		}
		same(mask, cmd...)
	}
	// The settings' edge values.
	for _, p := range []string{"slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "latency-tracking", "latency-tracking-info-percentiles"} {
		for _, v := range []string{"0", "-1", "-2", "1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
			"abc", "", " 1", "1.5", "yes", "no", "50 99", "50  99", "100", "101", "1e2", "nan", "inf", "0x10", "0x1_0", "1_0", "-0x1"} {
			same(id, "CONFIG", "SET", p, v)
			same(id, "CONFIG", "GET", p)
		}
	}
	same(id, "CONFIG", "SET", "slowlog-log-slower-than", "10000", "slowlog-max-len", "128", "latency-tracking", "yes", "latency-tracking-info-percentiles", "50 99 99.9")
	// The error counters over the whole sequence.
	info := func(section string) (string, string) {
		r, k := d.send(id, "INFO", section)
		return strings.Trim(r, `"`), strings.Trim(k, `"`)
	}
	rs, ks := info("stats")
	rf, kf := infoFields(strings.ReplaceAll(rs, `\r\n`, "\r\n")), infoFields(strings.ReplaceAll(ks, `\r\n`, "\r\n"))
	if rf["total_error_replies"] == "" || rf["total_error_replies"] != kf["total_error_replies"] {
		t.Errorf("total_error_replies: redis %s, respkv %s", rf["total_error_replies"], kf["total_error_replies"])
	}
	for _, f := range []string{"instantaneous_ops_per_sec", "instantaneous_input_kbps", "instantaneous_output_kbps"} {
		if _, ok := kf[f]; !ok {
			t.Errorf("respkv's INFO stats has no %s", f)
		}
	}
	if r, k := info("errorstats"); r != k {
		t.Errorf("INFO errorstats:\n  redis:  %s\n  respkv: %s", r, k)
	}
	// A slow command on both: KEYS * over 100,000 keys takes milliseconds.
	mset := []string{"MSET"}
	for i := range 100000 {
		mset = append(mset, "k"+strconv.Itoa(i), "v")
	}
	same(id, mset...)
	same(id, "CONFIG", "SET", "latency-monitor-threshold", "1")
	r, k := d.send(id, "KEYS", "*")
	if len(r) != len(k) {
		t.Errorf("KEYS *: %d and %d bytes", len(r), len(k))
	}
	latest := regexp.MustCompile(`\["command", \(integer\) \d+, \(integer\) \d+, \(integer\) \d+\]`)
	r, k = d.send(id, "LATENCY", "LATEST")
	if !latest.MatchString(r) || !latest.MatchString(k) || !strings.Contains(k, `["`+loopCallbackEvent+`", `) {
		t.Errorf("LATENCY LATEST:\n  redis:  %s\n  respkv: %s", r, k)
	}
	history := regexp.MustCompile(`^\[(\[\(integer\) \d+, \(integer\) \d+\](, )?)+\]$`)
	r, k = d.send(id, "LATENCY", "HISTORY", "command")
	if !history.MatchString(r) || !history.MatchString(k) {
		t.Errorf("LATENCY HISTORY command:\n  redis:  %s\n  respkv: %s", r, k)
	}
	same(id, "LATENCY", "RESET", "command", "nosuch")
	same(id, "LATENCY", "HISTORY", "command")
}

// The error counters count as Redis's: after each seeded random sequence of
// the differential tester's commands (wrong arities, bad numbers, wrong
// types, transactions...), total_error_replies and every errorstat_ line
// are the same on both servers.
func TestErrorCountersAgainstRedis(t *testing.T) {
	raddr := startRedis(t)
	kaddr := startServer(t, Config{MaxReq: diffMaxBulk})
	g := &gen{r: rand.New(rand.NewPCG(20261206, 7))}
	// The counters are the server's: read them on a connection of their
	// own (a sequence may leave a transaction open).
	counters := func() (string, string) {
		d := dialPair(t, raddr, kaddr)
		defer d.close()
		r, k := d.send(func(s string) string { return s }, "INFO", "everything")
		pick := func(s string) string {
			var out []string
			for _, l := range strings.Split(s, `\r\n`) {
				if strings.HasPrefix(l, "total_error_replies:") || strings.HasPrefix(l, "errorstat_") {
					out = append(out, l)
				}
			}
			return strings.Join(out, " ")
		}
		return pick(r), pick(k)
	}
	for seq := range 40 {
		d := dialPair(t, raddr, kaddr)
		d.roundTrip(resp.AppendCommand(nil, []byte("FLUSHALL")), 1)
		var history []string
		for range 30 {
			cmd := g.command()
			raw := make([][]byte, len(cmd))
			for i, a := range cmd {
				raw[i] = []byte(a)
			}
			rs, _ := d.roundTrip(resp.AppendCommand(nil, raw...), 1)
			history = append(history, fmt.Sprintf("%s -> %.80s", quoteCmd(cmd), rs[0]))
			if rs[0].leaf == "(closed)" {
				break
			}
		}
		r, k := counters()
		if !strings.HasPrefix(r, "total_error_replies:") || (seq == 39 && strings.HasPrefix(r, "total_error_replies:0 ")) {
			t.Fatalf("redis-server's counters: %q", r)
		}
		if r != k {
			t.Fatalf("sequence %d: error counters differ\n  redis:  %s\n  respkv: %s\n  sequence:\n    %s", seq, r, k, strings.Join(history, "\n    "))
		}
		d.close()
	}
}
