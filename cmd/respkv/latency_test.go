package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// infoFields returns the fields of an INFO reply.
func infoFields(info string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// coreInfo runs INFO on the core and returns its fields.
func coreInfo(k *core, section string) map[string]string {
	s, err := strconv.Unquote(k.do("INFO " + section))
	if err != nil {
		k.t.Fatal(err)
	}
	return infoFields(s)
}

// Samples of latency-monitor-threshold ms or more are recorded under
// "command" or "fast-command", at most one per second per event (the
// largest), with the all-time maximum; the threshold compares whole ms.
func TestLatencyMonitorEvents(t *testing.T) {
	k := newCore(t)
	get, set := lookup([]byte("get")), lookup([]byte("set"))
	args := [][]byte{[]byte("x")}
	k.s.commandDone(k.c, set, args, 500*time.Millisecond)
	if r := k.do("LATENCY LATEST"); r != "[]" {
		t.Fatalf("monitor off (threshold 0) recorded: %s", r)
	}
	k.do("CONFIG SET latency-monitor-threshold 5")
	k.s.commandDone(k.c, get, args, 4999*time.Microsecond)
	if r := k.do("LATENCY LATEST"); r != "[]" {
		t.Fatalf("4.999 ms recorded at 5: %s", r)
	}
	k.s.commandDone(k.c, get, args, 5*time.Millisecond)
	k.s.commandDone(k.c, set, args, 7*time.Millisecond)
	k.s.commandDone(k.c, set, args, 6*time.Millisecond)
	// Within a second, an event keeps one sample, the largest (the test
	// may straddle a second: then the latest is 6).
	cmdEv := k.s.mon.events["command"]
	last := cmdEv.samples[(cmdEv.idx+latencyTSLen-1)%latencyTSLen]
	want := `[["fast-command", (integer) ` + strconv.FormatInt(k.s.mon.events["fast-command"].samples[0].time, 10) +
		`, (integer) 5, (integer) 5], ["command", (integer) ` + strconv.FormatInt(last.time, 10) +
		`, (integer) ` + strconv.FormatInt(last.latency, 10) + `, (integer) 7]]`
	if r := k.do("LATENCY LATEST"); r != want || (last.latency != 7 && last.latency != 6) || last.time < time.Now().Unix()-60 {
		t.Fatalf("LATENCY LATEST: %s, want %s", r, want)
	}
	h := k.do("LATENCY HISTORY command")
	if !strings.HasPrefix(h, "[[(integer) ") || strings.Count(h, "[(integer)") > 2 {
		t.Fatalf("LATENCY HISTORY command: %s", h)
	}
	if r := k.do("LATENCY HISTORY nosuch"); r != "[]" {
		t.Fatalf("HISTORY of an unknown event: %s", r)
	}
	if r := k.do("LATENCY RESET command nosuch command"); r != "(integer) 1" {
		t.Fatalf("RESET command nosuch command: %s", r)
	}
	if r := k.do("LATENCY LATEST"); !strings.HasPrefix(r, `[["fast-command"`) || strings.Contains(r, `"command"`) {
		t.Fatalf("after RESET command: %s", r)
	}
	if r := k.do("LATENCY RESET"); r != "(integer) 1" {
		t.Fatalf("RESET: %s", r)
	}
	if r := k.do("LATENCY LATEST"); r != "[]" {
		t.Fatalf("after RESET: %s", r)
	}
	// The largest threshold can never be reached.
	k.do("CONFIG SET latency-monitor-threshold 9223372036854775807")
	k.s.commandDone(k.c, set, args, 1<<62)
	if r := k.do("LATENCY LATEST"); r != "[]" {
		t.Fatalf("MaxInt64 ms threshold recorded: %s", r)
	}
}

// An event keeps 160 samples, one per second, oldest first in HISTORY,
// and its all-time maximum survives the ring.
func TestLatencySeriesRing(t *testing.T) {
	var ts latencySeries
	for i := int64(1); i <= 200; i++ {
		ts.add(1000+i, i%50+1)
		ts.add(1000+i, 1) // the same second, smaller: ignored
	}
	if ts.max != 50 {
		t.Fatalf("max %d", ts.max)
	}
	k := newCore(t)
	k.s.mon.events = map[string]*latencySeries{"e": &ts}
	k.s.mon.order = []string{"e"}
	h := k.do("LATENCY HISTORY e")
	if n := strings.Count(h, "[(integer)"); n != latencyTSLen {
		t.Fatalf("%d samples", n)
	}
	if !strings.HasPrefix(h, "[[(integer) 1041, (integer) 42], ") || !strings.HasSuffix(h, "[(integer) 1200, (integer) 1]]") {
		t.Fatalf("HISTORY: %.80s ... %s", h, h[len(h)-60:])
	}
	if r := k.do("LATENCY LATEST"); r != `[["e", (integer) 1200, (integer) 1, (integer) 50]]` {
		t.Fatalf("LATEST: %s", r)
	}
}

func TestLatencyErrors(t *testing.T) {
	k := newCore(t)
	if got := k.do("LATENCY HISTOGRAM"); got != "[]" { // nothing ran yet
		t.Errorf("LATENCY HISTOGRAM: %s", got)
	}
	for line, want := range map[string]string{
		"LATENCY":                 "(error) ERR wrong number of arguments for 'latency' command",
		"LATENCY HISTORY":         "(error) ERR wrong number of arguments for 'latency|history' command",
		"LATENCY LATEST x":        "(error) ERR wrong number of arguments for 'latency|latest' command",
		"LATENCY foo":             "(error) ERR unknown subcommand 'foo'. Try LATENCY HELP.",
		"LATENCY DOCTOR":          "(error) ERR unknown subcommand 'DOCTOR'. Try LATENCY HELP.",
		"LATENCY RESET":           "(integer) 0",
		"LATENCY RESET a b c d e": "(integer) 0",
	} {
		if got := k.do(line); got != want {
			t.Errorf("%s: %s, want %s", line, got, want)
		}
	}
	if h := k.do("LATENCY HELP"); !strings.HasPrefix(h, `[LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:, HISTORY <event>, `) {
		t.Errorf("HELP: %s", h)
	}
}

// The histogram's buckets are HdrHistogram's with Redis's parameters: the
// percentiles are the highest value equivalent to the recorded one.
func TestLatencyHistogram(t *testing.T) {
	for _, tc := range []struct {
		v      int64
		lo, hi int64
	}{
		{1, 1, 1}, {255, 255, 255}, {256, 256, 257}, {1000, 1000, 1003}, {9000, 8960, 9023},
		{100_179_000, 100_139_008, 100_663_295}, {1_000_000_000, 998_244_352, 1_002_438_655},
	} {
		if lo, hi := histRange(tc.v); lo != tc.lo || hi != tc.hi {
			t.Errorf("range of %d: [%d, %d], want [%d, %d]", tc.v, lo, hi, tc.lo, tc.hi)
		}
	}
	var h latencyHist
	for range 98 {
		h.record(time.Microsecond)
	}
	h.record(9 * time.Microsecond)
	h.record(2 * time.Hour) // clamped to 1 s
	for p, want := range map[float64]int64{0: 1000, 50: 1003, 98: 1003, 99: 9023, 99.9: 1_002_438_655, 100: 1_002_438_655} {
		if got := h.percentile(p); got != want {
			t.Errorf("p%v: %d, want %d", p, got, want)
		}
	}
	var z latencyHist
	z.record(0) // 0 µs counts as 1 ns, as Redis
	if z.percentile(50) != 1 {
		t.Errorf("0 µs: p50 %d", z.percentile(50))
	}
}

// commandstats' usec and latencystats move with the time commands take;
// CONFIG RESETSTAT clears them; latency-tracking no stops the histograms.
func TestCommandTiming(t *testing.T) {
	k := newCore(t)
	get := lookup([]byte("get"))
	for range 3 {
		k.s.commandDone(k.c, get, [][]byte{[]byte("GET")}, 1500*time.Microsecond)
	}
	k.s.cmdStat(get).calls += 3 // what exec counts besides commandDone
	f := coreInfo(k, "commandstats")
	if got := f["cmdstat_get"]; got != "calls=3,usec=4500,usec_per_call=1500.00,rejected_calls=0,failed_calls=0" {
		t.Fatalf("cmdstat_get: %s", got)
	}
	f = coreInfo(k, "latencystats")
	if got := f["latency_percentiles_usec_get"]; got != "p50=1507.327,p99=1507.327,p99.9=1507.327" {
		t.Fatalf("latencystats get: %q", got)
	}
	k.do(`CONFIG SET latency-tracking-info-percentiles "0 100"`)
	if got := coreInfo(k, "latencystats")["latency_percentiles_usec_get"]; got != "p0=1499.136,p100=1507.327" {
		t.Fatalf("p0 p100: %q", got)
	}
	// Real commands: an LCS of two 3000-byte strings takes milliseconds.
	k.do("SET a " + strings.Repeat("ab", 1500))
	k.do("SET b " + strings.Repeat("ba", 1500))
	k.do("LCS a b")
	f = coreInfo(k, "commandstats")
	lcs := f["cmdstat_lcs"]
	usec, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(lcs, ",")[1], "usec="), 10, 64)
	if !strings.HasPrefix(lcs, "calls=1,usec=") || usec <= 0 {
		t.Fatalf("cmdstat_lcs: %s", lcs)
	}
	if _, ok := coreInfo(k, "latencystats")["latency_percentiles_usec_lcs"]; !ok {
		t.Fatal("no latencystats for lcs")
	}
	k.do("CONFIG RESETSTAT")
	if f := coreInfo(k, "everything"); f["cmdstat_lcs"] != "" || f["latency_percentiles_usec_lcs"] != "" {
		t.Fatalf("after RESETSTAT: %q %q", f["cmdstat_lcs"], f["latency_percentiles_usec_lcs"])
	}
	k.do("CONFIG SET latency-tracking no")
	k.do("LCS a b")
	f = coreInfo(k, "everything")
	if !strings.HasPrefix(f["cmdstat_lcs"], "calls=1,usec=") || f["latency_percentiles_usec_lcs"] != "" {
		t.Fatalf("tracking off: %q %q", f["cmdstat_lcs"], f["latency_percentiles_usec_lcs"])
	}
	// latencystats is not a default section, as in Redis.
	if strings.Contains(k.do("INFO"), "Latencystats") {
		t.Fatal("latencystats in the default INFO")
	}
}

// Over the network: instantaneous_ops_per_sec and the kbps figures become
// positive under traffic; a slow command shows in the slowlog, the
// latency monitor ("command", and respkv's "loop-callback" for the
// callback that ran it) and in cpu time from getrusage.
func TestMonitorOverNetwork(t *testing.T) {
	addr := startServer(t, Config{})
	rdb := newClient(t, addr, 2)
	ctx := context.Background()
	must(rdb.ConfigSet(ctx, "latency-monitor-threshold", "1").Result())
	must(rdb.ConfigSet(ctx, "slowlog-log-slower-than", "1000").Result())
	must(rdb.Set(ctx, "a", strings.Repeat("ab", 2000), 0).Result())
	must(rdb.Set(ctx, "b", strings.Repeat("ba", 2000), 0).Result())
	cpu0 := infoFields(must(rdb.Info(ctx, "cpu").Result()))
	must(rdb.Do(ctx, "LCS", "a", "b").Result())
	logs := must(rdb.SlowLogGet(ctx, -1).Result())
	if len(logs) == 0 || strings.Join(logs[0].Args, " ") != "LCS a b" || logs[0].Duration < time.Millisecond ||
		!strings.HasPrefix(logs[0].ClientAddr, "127.0.0.1:") {
		t.Fatalf("slowlog: %+v", logs)
	}
	latest := must(rdb.Do(ctx, "LATENCY", "LATEST").Slice())
	names := map[string]bool{}
	for _, e := range latest {
		names[e.([]any)[0].(string)] = true
	}
	if !names["command"] || !names[loopCallbackEvent] {
		t.Fatalf("LATENCY LATEST: %v", latest)
	}
	cpu1 := infoFields(must(rdb.Info(ctx, "cpu").Result()))
	u0, _ := strconv.ParseFloat(cpu0["used_cpu_user"], 64)
	u1, _ := strconv.ParseFloat(cpu1["used_cpu_user"], 64)
	s1, _ := strconv.ParseFloat(cpu1["used_cpu_sys"], 64)
	if u1 <= u0 || s1 <= 0 {
		t.Fatalf("cpu: user %v -> %v, sys %v", u0, u1, s1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for range 20 {
			must(rdb.Get(ctx, "a").Result())
		}
		f := infoFields(must(rdb.Info(ctx, "stats").Result()))
		ops, _ := strconv.ParseInt(f["instantaneous_ops_per_sec"], 10, 64)
		in, _ := strconv.ParseFloat(f["instantaneous_input_kbps"], 64)
		out, _ := strconv.ParseFloat(f["instantaneous_output_kbps"], 64)
		if ops > 0 && in > 0 && out > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instantaneous figures stay at zero: %v", f)
		}
	}
}

// The instantaneous metrics are Redis's: the per-second rate of each
// 100 ms step, averaged over 16 samples, integer arithmetic.
func TestInstantaneousMetric(t *testing.T) {
	var im instMetric
	im.track(1000, 0) // the base
	for i := range 16 {
		im.track(1100+int64(i)*100, uint64(i+1)*50) // 50 per 100 ms
	}
	if v := im.value(); v != 500 {
		t.Fatalf("%d, want 500", v)
	}
	im.track(2700, 800) // 0 more: one sample of 0
	if v := im.value(); v != 500*15/16 {
		t.Fatalf("%d, want %d", v, 500*15/16)
	}
	im.track(2800, 10) // the counter went back (RESETSTAT): a new base
	im.track(2800, 20) // no time elapsed: a rate of 0, no division by zero
	if v := im.value(); v != 500*14/16 {
		t.Fatalf("%d, want %d", v, 500*14/16)
	}
}

// The expiry and eviction cycles are latency events, as in Redis: 30,000
// keys expiring at once keep the active expiry cycle busy for milliseconds,
// and evicting them all (maxmemory far below) too.
func TestLatencyCycleEvents(t *testing.T) {
	addr := startServer(t, Config{})
	rdb := newClient(t, addr, 2)
	ctx := context.Background()
	must(rdb.ConfigSet(ctx, "latency-monitor-threshold", "1").Result())
	events := func() map[string]bool {
		out := map[string]bool{}
		for _, e := range must(rdb.Do(ctx, "LATENCY", "LATEST").Slice()) {
			out[e.([]any)[0].(string)] = true
		}
		return out
	}
	fill := func(ttl time.Duration) {
		p := rdb.Pipeline()
		for i := range 30000 {
			p.Set(ctx, "k"+strconv.Itoa(i), "v", ttl)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fill(time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for !events()["expire-cycle"] {
		if time.Now().After(deadline) {
			t.Fatalf("no expire-cycle event: %v", events())
		}
		time.Sleep(10 * time.Millisecond) // polling the server for the event
	}
	fill(0)
	must(rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Result())
	must(rdb.ConfigSet(ctx, "maxmemory", "1").Result())
	for !events()["eviction-cycle"] {
		if time.Now().After(deadline) {
			t.Fatalf("no eviction-cycle event: %v", events())
		}
		must(rdb.Set(ctx, "x", "y", 0).Result())
	}
}

// LATENCY HISTOGRAM walks the histogram as Redis's (HdrHistogram's
// logarithmic iterator from 1024 ns by powers of 2): the levels reported
// are the highest values equivalent to 1024·2^k ns, in µs (1, 2, 4, 8, 16,
// 33, 66, 132... as redis-server shows them), with the cumulative count,
// where it grew.
func TestLatencyHistogramCDF(t *testing.T) {
	var h latencyHist
	for range 3 {
		h.record(time.Microsecond)
	}
	h.record(3 * time.Microsecond)
	h.record(1500 * time.Microsecond)
	h.record(1500 * time.Microsecond)
	var got []int64
	h.cdf(func(usec, cum int64) { got = append(got, usec, cum) })
	if want := []int64{1, 3, 4, 4, 2113, 6}; !slices.Equal(got, want) {
		t.Fatalf("cdf %v, want %v", got, want)
	}
	var levels []int64
	var all latencyHist
	for v := int64(1024); v <= 1<<30; v *= 2 {
		all.record(time.Duration(v/1000) * time.Microsecond)
	}
	all.cdf(func(usec, _ int64) { levels = append(levels, usec) })
	if want := []int64{1, 2, 4, 8, 16, 33, 66, 132, 264, 528}; !slices.Equal(levels[:10], want) {
		t.Fatalf("levels %v", levels)
	}
	k := newCore(t)
	k.s.commandDone(k.c, lookup([]byte("get")), nil, 3*time.Microsecond)
	want := `["get", ["calls", (integer) 1, "histogram_usec", [(integer) 4, (integer) 1]], "get", ["calls", (integer) 1, "histogram_usec", [(integer) 4, (integer) 1]]]`
	if got := k.do("LATENCY HISTOGRAM GET nosuch set get"); got != want {
		t.Fatalf("LATENCY HISTOGRAM: %s", got)
	}
	// All: the commands that ran (the previous LATENCY HISTOGRAM too).
	if got := k.do("LATENCY HISTOGRAM"); strings.Count(got, `"calls"`) != 2 || !strings.Contains(got, `"get", ["calls", (integer) 1, `) || !strings.Contains(got, `"latency", ["calls", (integer) 1, `) {
		t.Fatalf("LATENCY HISTOGRAM (all): %s", got)
	}
}
