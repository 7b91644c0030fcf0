package main

import (
	"strconv"
	"time"

	"github.com/calloop-go/calloop"
)

// The event loop's figures in INFO stats, under Redis 7.2's names, read from
// the loop's own counters (calloop.WithStats):
//
//	eventloop_cycles                        iterations of the loop
//	eventloop_duration_sum                  µs the loop was busy (not waiting in the poll)
//	eventloop_duration_cmd_sum              µs spent in callbacks: reading, parsing and
//	                                        running commands, writing replies
//	instantaneous_eventloop_cycles_per_sec  iterations per second, and
//	instantaneous_eventloop_duration_usec   busy µs per iteration, both averaged over
//	                                        the last 16 samples taken every 100 ms, as Redis

// eventloopSamples is how many samples the instantaneous figures average
// (Redis's STATS_METRIC_SAMPLES).
const eventloopSamples = 16

// eventloopPeriod is the sampling period (Redis samples in serverCron).
const eventloopPeriod = 100 * time.Millisecond

type eventloopSampler struct {
	last   calloop.Stats
	lastAt time.Time
	pos    int
	cycles [eventloopSamples]float64 // iterations per second
	dur    [eventloopSamples]float64 // busy µs per iteration
}

var eventloopKey = calloop.NewKey("respkv.eventloop")

// startEventloopSampler registers the sampling timer on l.
func startEventloopSampler(l *calloop.Loop[server]) error {
	sm, err := calloop.Value(l, eventloopKey, func() (*eventloopSampler, error) {
		return &eventloopSampler{last: l.Stats(), lastAt: time.Now()}, nil
	})
	if err != nil {
		return err
	}
	_, err = l.AddTimer(eventloopPeriod, func(s *server, _ time.Time) calloop.TimerAction {
		now := time.Now()
		sm.sample(l.Stats(), now)
		s.trackInstantaneous(now.UnixMilli())
		return calloop.Again(eventloopPeriod)
	})
	return err
}

// The instantaneous metrics of INFO stats, as Redis's trackInstantaneousMetric:
// every 100 ms, the rate since the previous sample (per second, integer),
// averaged over the last 16 samples.
const (
	instCommands  = iota // instantaneous_ops_per_sec
	instNetInput         // instantaneous_input_kbps
	instNetOutput        // instantaneous_output_kbps
	numInstMetrics
)

type instMetric struct {
	lastTime  int64 // unix ms of the last sample; 0: none yet
	lastCount uint64
	idx       int
	samples   [eventloopSamples]int64
}

func (im *instMetric) track(now int64, reading uint64) {
	if im.lastTime == 0 || reading < im.lastCount {
		// The first sample (or counters reset under us): a base only.
		im.lastTime, im.lastCount = now, reading
		return
	}
	var rate int64
	if t := now - im.lastTime; t > 0 {
		rate = int64(reading-im.lastCount) * 1000 / t
	}
	im.samples[im.idx] = rate
	im.idx = (im.idx + 1) % eventloopSamples
	im.lastTime, im.lastCount = now, reading
}

func (im *instMetric) value() int64 {
	var sum int64
	for _, v := range im.samples {
		sum += v
	}
	return sum / eventloopSamples
}

// trackInstantaneous takes one sample of each instantaneous metric.
func (s *server) trackInstantaneous(nowMs int64) {
	s.mon.inst[instCommands].track(nowMs, s.stats.commands)
	s.mon.inst[instNetInput].track(nowMs, s.stats.netIn)
	s.mon.inst[instNetOutput].track(nowMs, s.stats.netOut)
}

func (sm *eventloopSampler) sample(st calloop.Stats, now time.Time) {
	el := now.Sub(sm.lastAt)
	n := st.Iterations - sm.last.Iterations
	var cps, dur float64
	if el > 0 {
		cps = float64(n) / el.Seconds()
	}
	if n > 0 {
		dur = float64((st.Busy-sm.last.Busy)/time.Microsecond) / float64(n)
	}
	sm.cycles[sm.pos], sm.dur[sm.pos] = cps, dur
	sm.pos = (sm.pos + 1) % eventloopSamples
	sm.last, sm.lastAt = st, now
}

func average(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// eventloopInfo returns the INFO stats lines of the loop's figures (zeros
// without a loop: the command core's tests run without one).
func eventloopInfo(l *calloop.Loop[server]) []string {
	var st calloop.Stats
	var cps, dur int64
	if l != nil {
		st = l.Stats()
		if sm, ok := calloop.LookupValue[server, *eventloopSampler](l, eventloopKey); ok {
			cps, dur = int64(average(sm.cycles[:])+0.5), int64(average(sm.dur[:])+0.5)
		}
	}
	return []string{
		"eventloop_cycles:" + strconv.FormatUint(st.Iterations, 10),
		"eventloop_duration_sum:" + strconv.FormatInt(int64(st.Busy/time.Microsecond), 10),
		"eventloop_duration_cmd_sum:" + strconv.FormatInt(int64(st.CallbackTime/time.Microsecond), 10),
		"instantaneous_eventloop_cycles_per_sec:" + strconv.FormatInt(cps, 10),
		"instantaneous_eventloop_duration_usec:" + strconv.FormatInt(dur, 10),
	}
}
