package main

// The command timing and what is built on it: commandstats' usec, the
// latencystats percentiles (latency-tracking), the slowlog (slowlog.go) and
// the latency monitor (LATENCY), as Redis 7.0's call(), latency.c and
// hdr_histogram.

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/calloop-go/calloop"
)

// monitorConfig is the settings of the slowlog, the latency monitor and
// latency tracking. The zero value is Redis's defaults.
type monitorConfig struct {
	slowerThan    int64 // slowlog-log-slower-than, µs (with slowerThanSet)
	slowerThanSet bool
	maxLen        int64 // slowlog-max-len (with maxLenSet)
	maxLenSet     bool

	latencyThreshold int64 // latency-monitor-threshold, ms; 0: off (the default)

	trackingOff    bool      // latency-tracking no
	percentiles    []float64 // latency-tracking-info-percentiles (with percentilesSet)
	percentilesSet bool
}

func (m *monitorConfig) slowlogSlowerThan() int64 {
	if m.slowerThanSet {
		return m.slowerThan
	}
	return defaultSlowlogSlowerThan
}

func (m *monitorConfig) slowlogMaxLen() int64 {
	if m.maxLenSet {
		return m.maxLen
	}
	return defaultSlowlogMaxLen
}

func (m *monitorConfig) trackingPercentiles() []float64 {
	if m.percentilesSet {
		return m.percentiles
	}
	return []float64{50, 99, 99.9}
}

// monitor is the server's timing state; only the loop's goroutine touches
// it.
type monitor struct {
	ready    bool  // the fast fields below reflect the configuration
	slowNs   int64 // log commands that ran this long (ns); < 0: none
	latNs    int64 // latency monitor threshold (ns); 0: off
	tracking bool  // latency-tracking

	cmd    []cmdTiming // by command.id
	slow   slowlog
	events map[string]*latencySeries
	order  []string // event names, in the order of their first sample

	inst [numInstMetrics]instMetric // instantaneous_* (eventloop.go)
}

// cmdTiming is one command's time: the total for usec, and the histogram
// for latencystats.
type cmdTiming struct {
	ns   int64
	hist *latencyHist
}

// applyMonitor derives the fast fields from the configuration; CONFIG SET
// calls it after a change.
func applyMonitor(s *server) {
	m, cfg := &s.mon, &s.cfg.Monitor
	m.ready = true
	// Redis compares whole µs (d/1000 >= t) and whole ms: the same as
	// comparing ns with t*1000 and t*1e6. A threshold no duration in ns
	// can reach is off.
	m.slowNs = -1
	if t := cfg.slowlogSlowerThan(); t >= 0 && t <= math.MaxInt64/1000 {
		m.slowNs = t * 1000
	}
	m.latNs = 0
	if t := cfg.latencyThreshold; t > 0 && t <= math.MaxInt64/1_000_000 {
		m.latNs = t * 1_000_000
	}
	m.tracking = !cfg.trackingOff
}

// commandDone accounts a command that ran for d, as Redis's call() does
// after the command: its time (commandstats usec, latencystats), the
// slowlog and the latency monitor's "command" or "fast-command" event.
// EXEC's time includes the commands it ran, which are accounted each on
// its own too; EXEC itself is not logged in the slowlog. A command that
// blocked its client adds its time to usec, and is neither logged nor
// sampled (Redis does both when it is served).
func (s *server) commandDone(c *client, cmd *command, args [][]byte, d time.Duration) {
	m := &s.mon
	if !m.ready {
		applyMonitor(s)
	}
	if cmd.id >= len(m.cmd) {
		m.cmd = append(m.cmd, make([]cmdTiming, len(commandList)-len(m.cmd))...)
	}
	t := &m.cmd[cmd.id]
	t.ns += int64(d)
	if s.loading || c.block != nil {
		// Redis accounts a blocked command once served, with its
		// arguments; respkv does not keep them, so it logs nothing.
		return
	}
	if m.tracking {
		if t.hist == nil {
			t.hist = new(latencyHist)
		}
		t.hist.record(d)
	}
	if m.slowNs >= 0 && int64(d) >= m.slowNs && cmd.name != "exec" {
		s.slowlogPush(c, args, d)
	}
	if m.latNs > 0 && int64(d) >= m.latNs {
		ev := "command"
		if cmd.flags&flagFast != 0 {
			ev = "fast-command"
		}
		s.latencySample(ev, d)
	}
}

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow reads the monotonic clock only (time.Now also reads the wall
// clock): the command timing costs two clock readings per command.
func monoNow() time.Duration { return time.Since(monoBase) }

// cmdUsec is the time cmd has run, in µs (commandstats' usec).
func (s *server) cmdUsec(cmd *command) int64 {
	if cmd.id < len(s.mon.cmd) {
		return s.mon.cmd[cmd.id].ns / 1000
	}
	return 0
}

// resetMonitorStats is CONFIG RESETSTAT's part: the commands' times and
// histograms, and the instantaneous metrics. The slowlog and the latency
// events stay, as in Redis.
func (s *server) resetMonitorStats() {
	clear(s.mon.cmd)
	s.mon.inst = [numInstMetrics]instMetric{}
}

// ---- latency monitor ----

// latencyTSLen is the number of samples an event keeps (LATENCY_TS_LEN).
const latencyTSLen = 160

// loopCallbackEvent is respkv's own latency event: one callback of the
// event loop (reading and running a client's commands, a timer...) that
// ran for latency-monitor-threshold or longer, from calloop's
// WithSlowCallback hook.
const loopCallbackEvent = "loop-callback"

type latencySample struct {
	time    int64 // unix seconds; 0: unused slot
	latency int64 // ms
}

// latencySeries is one event's samples: a ring of 160, at most one per
// second (the largest), and the largest ever.
type latencySeries struct {
	idx     int
	max     int64
	samples [latencyTSLen]latencySample
}

// latencySample records that event took d, if the latency monitor is on
// and d reaches its threshold (Redis's latencyAddSampleIfNeeded).
func (s *server) latencySample(event string, d time.Duration) {
	m := &s.mon
	if !m.ready {
		applyMonitor(s)
	}
	if m.latNs <= 0 || int64(d) < m.latNs {
		return
	}
	ms := int64(d / time.Millisecond)
	ts := m.events[event]
	if ts == nil {
		if m.events == nil {
			m.events = make(map[string]*latencySeries)
		}
		ts = new(latencySeries)
		m.events[event] = ts
		m.order = append(m.order, event)
	}
	ts.add(time.Now().Unix(), ms)
}

func (ts *latencySeries) add(now, ms int64) {
	ts.max = max(ts.max, ms)
	prev := &ts.samples[(ts.idx+latencyTSLen-1)%latencyTSLen]
	if prev.time == now {
		prev.latency = max(prev.latency, ms)
		return
	}
	ts.samples[ts.idx] = latencySample{time: now, latency: ms}
	ts.idx = (ts.idx + 1) % latencyTSLen
}

// loopOptions is the loop's instrumentation: its figures (INFO stats) and
// the slow-callback hook feeding the loop-callback latency event. The hook
// is called for callbacks of 1 ms or more (the smallest threshold of the
// latency monitor), on the loop's goroutine.
func (s *server) loopOptions() []calloop.Option {
	return []calloop.Option{calloop.WithStats(), calloop.WithSlowCallback(time.Millisecond, func(sc calloop.SlowCallback) {
		s.latencySample(loopCallbackEvent, sc.Duration)
	})}
}

// cmdLatency is LATENCY LATEST, HISTORY event, RESET [event ...], HELP.
func cmdLatency(s *server, c *client, args [][]byte) {
	m := &s.mon
	sub := args[1]
	switch {
	case eqFold(sub, "latest") && len(args) == 2:
		c.array(len(m.order))
		for _, name := range m.order {
			ts := m.events[name]
			last := ts.samples[(ts.idx+latencyTSLen-1)%latencyTSLen]
			c.array(4)
			c.bulkStr(name)
			c.int(last.time)
			c.int(last.latency)
			c.int(ts.max)
		}
	case eqFold(sub, "history") && len(args) == 3:
		ts := m.events[string(args[2])]
		if ts == nil {
			c.array(0)
			return
		}
		n := 0
		for _, smp := range ts.samples {
			if smp.time != 0 {
				n++
			}
		}
		c.array(n)
		for j := range latencyTSLen {
			smp := ts.samples[(ts.idx+j)%latencyTSLen]
			if smp.time == 0 {
				continue
			}
			c.array(2)
			c.int(smp.time)
			c.int(smp.latency)
		}
	case eqFold(sub, "reset"):
		if len(args) == 2 {
			n := len(m.order)
			m.events, m.order = nil, nil
			c.int(int64(n))
			return
		}
		n := 0
		for _, ev := range args[2:] {
			if _, ok := m.events[string(ev)]; ok {
				delete(m.events, string(ev))
				m.order = slices.DeleteFunc(m.order, func(x string) bool { return x == string(ev) })
				n++
			}
		}
		c.int(int64(n))
	case eqFold(sub, "histogram"):
		s.latencyHistogram(c, args[2:])
	case eqFold(sub, "help") && len(args) == 2:
		c.help([]string{
			"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"HISTORY <event>",
			"    Return time-latency samples for the <event> class.",
			"LATEST",
			"    Return the latest latency samples for all events.",
			"RESET [<event> ...]",
			"    Reset latency data of one or more <event> classes.",
			"    (default: reset all data for all event classes)",
			"HISTOGRAM [COMMAND ...]",
			"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
			"    If no commands are specified then all histograms are replied.",
			"HELP",
			"    Prints this help.",
		})
	default:
		c.errReply(errSubSyntax(sub, "LATENCY"))
	}
}

// ---- latency tracking: Redis's per-command HdrHistogram ----

// latencyHist is an HdrHistogram as Redis configures it for its commands
// (hdr_init(1, 1000000000, 2)): values in ns from 1 to 1 s, two significant
// digits, that is 256 sub-buckets (128 per bucket after the first) and 23
// buckets. The bucket arithmetic is HdrHistogram's, so the percentiles are
// the values Redis reports for the same durations.
type latencyHist struct {
	total  int64
	counts [histCountsLen]int64
}

const (
	histSubBucketMask          = 255 // sub_bucket_count - 1
	histSubHalfMagnitude       = 7   // log2(sub_bucket_half_count)
	histSubHalfCount           = 128
	histBucketCount            = 23
	histCountsLen              = (histBucketCount + 1) * histSubHalfCount
	histMin, histMax     int64 = 1, 1_000_000_000 // CMD_LATENCY_HISTOGRAM_MIN/MAX_VALUE
)

// histIndex returns the bucket and sub-bucket of v (> 0).
func histIndex(v int64) (bucket, sub int) {
	bucket = 64 - bits.LeadingZeros64(uint64(v)|histSubBucketMask) - (histSubHalfMagnitude + 1)
	return bucket, int(v >> bucket)
}

// record adds a command's duration as Redis does: in whole µs (Redis times
// commands in µs), converted to ns and clamped to the histogram's range.
func (h *latencyHist) record(d time.Duration) {
	v := min(max(int64(d/time.Microsecond)*1000, histMin), histMax)
	b, sb := histIndex(v)
	h.counts[((b+1)<<histSubHalfMagnitude)+sb-histSubHalfCount]++
	h.total++
}

// valueAt is hdr_value_at_index: the lowest value counted at index idx.
func histValueAt(idx int) int64 {
	b := idx>>histSubHalfMagnitude - 1
	sb := idx&(histSubHalfCount-1) + histSubHalfCount
	if b < 0 {
		sb -= histSubHalfCount
		b = 0
	}
	return int64(sb) << b
}

// histRange returns the lowest and the highest value equivalent to v.
func histRange(v int64) (lo, hi int64) {
	b, sb := histIndex(v)
	lo = int64(sb) << b
	return lo, lo + 1<<b - 1
}

// percentile is hdr_value_at_percentile, in ns.
func (h *latencyHist) percentile(p float64) int64 {
	p = min(p, 100)
	want := max(int64(p/100*float64(h.total)+0.5), 1)
	var v, n int64
	for i, cnt := range h.counts {
		n += cnt
		if n >= want {
			v = histValueAt(i)
			break
		}
	}
	if v == 0 {
		return 0 // empty
	}
	lo, hi := histRange(v)
	if p == 0 {
		return lo
	}
	return hi
}

// cdf walks the histogram as HdrHistogram's logarithmic iterator does from
// 1024 ns by powers of 2 (what Redis's LATENCY HISTOGRAM uses), calling emit
// with each level's highest equivalent value in µs and the count of values
// up to it, for the levels whose count grew.
func (h *latencyHist) cdf(emit func(usec, cumulative int64)) {
	idx := -1
	var cum, value, high, prev int64
	level := int64(1024)
	lowest := func(v int64) int64 { lo, _ := histRange(v); return lo }
	next := lowest(level)
	for cum < h.total || (idx < histCountsLen && histValueAt(idx+1) > next) {
		for value < next {
			idx++
			if idx >= histCountsLen {
				break
			}
			cum += h.counts[idx]
			value = histValueAt(idx)
			_, high = histRange(max(value, 1))
			if value == 0 {
				high = 0
			}
		}
		if value >= next {
			level *= 2
			next = lowest(level)
		}
		if cum > prev {
			emit(high/1000, cum)
		}
		prev = cum
	}
}

// latencyHistogram is LATENCY HISTOGRAM [command ...]: for each command
// named (all by default) that has run, its calls and the cumulative
// distribution of its durations, as Redis 7.0 replies (RESP2 maps as
// arrays). Unknown commands and commands that have not run are left out.
func (s *server) latencyHistogram(c *client, names [][]byte) {
	var cmds []*command
	if len(names) == 0 {
		cmds = commandList
	} else {
		for _, n := range names {
			if cmd := lookup(n); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	var with []*command
	for _, cmd := range cmds {
		if cmd.id < len(s.mon.cmd) && s.mon.cmd[cmd.id].hist != nil {
			with = append(with, cmd)
		}
	}
	c.array(2 * len(with))
	for _, cmd := range with {
		h := s.mon.cmd[cmd.id].hist
		c.bulkStr(cmd.name)
		c.array(4)
		c.bulkStr("calls")
		c.int(h.total)
		c.bulkStr("histogram_usec")
		var pairs []int64
		h.cdf(func(usec, cum int64) { pairs = append(pairs, usec, cum) })
		c.array(len(pairs))
		for _, v := range pairs {
			c.int(v)
		}
	}
}

// latencyStatsLines returns INFO latencystats: per command that ran,
// latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=.. (µs, 3 decimals).
func (s *server) latencyStatsLines() []string {
	pcts := s.cfg.Monitor.trackingPercentiles()
	var lines []string
	for _, cmd := range commandList {
		if cmd.id >= len(s.mon.cmd) || s.mon.cmd[cmd.id].hist == nil || s.mon.cmd[cmd.id].hist.total == 0 {
			continue
		}
		h := s.mon.cmd[cmd.id].hist
		var b strings.Builder
		b.WriteString("latency_percentiles_usec_" + cmd.name + ":")
		for i, p := range pcts {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "p%s=%.3f", formatPercentile(p), float64(h.percentile(p))/1000)
		}
		lines = append(lines, b.String())
	}
	return lines
}

// formatPercentile is C's "%f" with the trailing zeros (and point) removed,
// as Redis names percentiles: 50, 99, 99.9.
func formatPercentile(p float64) string {
	f := strconv.FormatFloat(p, 'f', 6, 64)
	f = strings.TrimRight(f, "0")
	return strings.TrimSuffix(f, ".")
}

// parsePercentiles parses latency-tracking-info-percentiles: numbers from 0
// to 100 separated by single spaces; "" is none.
func parsePercentiles(v string) ([]float64, error) {
	if v == "" {
		return []float64{}, nil
	}
	var out []float64
	for _, f := range strings.Split(v, " ") {
		p, err := strconv.ParseFloat(strtodHex(f), 64)
		if err != nil || math.IsNaN(p) || strings.Contains(f, "_") {
			//lint:ignore ST1005 Redis's text, sent to clients as is
			return nil, errors.New("Invalid latency-tracking-info-percentiles parameters")
		}
		if p < 0 || p > 100 {
			return nil, errors.New("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
		}
		out = append(out, p)
	}
	return out, nil
}

// strtodHex adds the binary exponent strtod does not require to a
// hexadecimal number ("0x10" is 16 for Redis), for strconv.ParseFloat.
func strtodHex(f string) string {
	h := strings.TrimLeft(f, "+-")
	if len(h) > 2 && (h[:2] == "0x" || h[:2] == "0X") && !strings.ContainsAny(h, "pP") {
		return f + "p0"
	}
	return f
}

func formatPercentiles(ps []float64) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = formatPercentile(p)
	}
	return strings.Join(parts, " ")
}

func init() {
	registerCommands(&command{name: "latency", arity: -2, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: "server", since: "2.8.13",
		summary: "A container for latency diagnostics commands", fn: cmdLatency,
		subs: map[string]int{"history": 3, "latest": 2, "reset": -2, "histogram": -2, "help": 2}})
}
