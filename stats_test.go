//go:build linux

package calloop_test

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Every counter moves as documented, measured on a virtual clock so that
// the durations are exact.
func TestStatsCounters(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithStats(), calloop.WithClock(vc))
	var s testState
	if got := l.Stats(); got != (calloop.Stats{}) {
		t.Fatalf("fresh loop: %+v", got)
	}
	a, b := socketPair(t)
	_, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		vc.Advance(3 * time.Millisecond) // a 3 ms callback
		s.n++
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.AddTimer(10*time.Millisecond, func(s *testState, _ time.Time) calloop.TimerAction {
		vc.Advance(7 * time.Millisecond) // the longest callback
		s.n++
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	l.AddIdle(func(s *testState) { s.n++ })

	writeFD(t, b, "x")
	p.Ping()
	vc.Advance(25 * time.Millisecond) // the timer is 15 ms late
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	// The fd callback runs first (3 ms), so the timer starts 18 ms late.
	got := l.Stats()
	want := calloop.Stats{
		Iterations: 1, FDEvents: 1, SourceEvents: 1, TimersFired: 1, IdlesRun: 1, Callbacks: 4,
		CallbackTime: 10 * time.Millisecond,
		Busy:         0, Wait: 0, Queued: 0, Idles: 0, Timers: 1,
		MaxCallback: 7 * time.Millisecond,
		MaxTimerLag: 18 * time.Millisecond, TimerLag: 18 * time.Millisecond,
	}
	if got != want {
		t.Fatalf("after one iteration:\n got %+v\nwant %+v", got, want)
	}
	if s.n != 4 {
		t.Fatalf("%d callbacks ran", s.n)
	}

	// A snapshot resets nothing; time between dispatches is busy.
	l.AddIdle(func(*testState) {})
	vc.Advance(5 * time.Millisecond)
	l.AddIdle(func(*testState) {})
	if again := l.Stats(); again != want {
		t.Fatalf("a second snapshot differs:\n got %+v\nwant %+v", again, want)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	got = l.Stats()
	// Busy: from the first poll's end (25 ms) to the second poll (35 ms).
	if got.Iterations != 2 || got.IdlesRun != 3 || got.Busy != 15*time.Millisecond || got.Wait != 0 {
		t.Fatalf("after two iterations: %+v", got)
	}
	if u := got.Utilization(); u != 1 {
		t.Fatalf("utilization %v of a loop that never waited", u)
	}
	if (calloop.Stats{}).Utilization() != 0 {
		t.Fatal("utilization of nothing")
	}

	// Queued gauges: an idle callback added by a callback, and a synthetic
	// event left for the next iteration.
	l.AddIdle(func(*testState) { l.AddIdle(func(*testState) {}) })
	l.Dispatch(0, &s)
	if got := l.Stats(); got.Idles != 1 {
		t.Fatalf("queued idles: %+v", got)
	}
}

// Wait counts the time blocked in the kernel, Busy the time between two
// polls, on the real clock.
func TestStatsWait(t *testing.T) {
	l := newLoop[testState](t, calloop.WithStats())
	var s testState
	const d = 20 * time.Millisecond
	start := time.Now()
	if err := l.Dispatch(d, &s); err != nil {
		t.Fatal(err)
	}
	got := l.Stats()
	if got.Wait < d || got.Wait > time.Since(start) || got.Busy != 0 || got.Iterations != 1 {
		t.Fatalf("one %v wait: %+v", d, got)
	}
	if err := l.Dispatch(d, &s); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	got = l.Stats()
	if got.Wait < 2*d || got.Busy <= 0 || got.Busy+got.Wait > el {
		t.Fatalf("two %v waits in %v: %+v", d, el, got)
	}
	if u := got.Utilization(); u <= 0 || u >= 1 {
		t.Fatalf("utilization %v", u)
	}
}

// Without WithStats every figure stays zero.
func TestStatsOff(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	tok, _ := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	l.AddIdle(func(*testState) {})
	dispatchUntil(t, l, &s, func() bool { _, err := l.Name(tok); return err != nil })
	if got := l.Stats(); got != (calloop.Stats{}) {
		t.Fatalf("stats off: %+v", got)
	}
	if l.SourceStats() != nil {
		t.Fatal("SourceStats without WithSourceStats")
	}
}

// Stats may be read from any goroutine while the loop runs (the race
// detector checks it), and its counters never go back.
func TestStatsConcurrentRead(t *testing.T) {
	l := newLoop[testState](t, calloop.WithStats())
	var s testState
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last calloop.Stats
		for !stop.Load() {
			p.Ping()
			st := l.Stats()
			if st.Iterations < last.Iterations || st.SourceEvents < last.SourceEvents || st.Busy < last.Busy || st.Wait < last.Wait {
				bad.Store(st)
			}
			last = st
		}
	}()
	dispatchUntil(t, l, &s, func() bool { return s.n >= 200 })
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a counter went back: %+v", v)
	}
	if got := l.Stats(); got.SourceEvents < 200 {
		t.Fatalf("%+v", got)
	}
}

// The slow hook fires for a callback that sleeps, and not for the others;
// it reports the source's name, kind and duration.
func TestSlowCallbackSleeps(t *testing.T) {
	const threshold = 100 * time.Millisecond
	var slow []calloop.SlowCallback
	l := newLoop[testState](t, calloop.WithSlowCallback(threshold, func(c calloop.SlowCallback) {
		slow = append(slow, c)
	}))
	var s testState
	sleeper, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		time.Sleep(3 * threshold)
		s.n++
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	l.SetName(sleeper, "sleeper")
	for range 10 {
		l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction { s.n++; return calloop.Drop() })
		l.AddIdle(func(s *testState) { s.n++ })
	}
	dispatchUntil(t, l, &s, func() bool { return s.n == 21 })
	if len(slow) != 1 {
		t.Fatalf("%d slow callbacks reported: %+v", len(slow), slow)
	}
	c := slow[0]
	if c.Token != sleeper || c.Name != "sleeper" || c.Kind != "timer" || c.Duration < 3*threshold {
		t.Fatalf("reported %+v", c)
	}
}

// With a virtual clock the hook's report is exact; the default name is the
// kind and the token; the threshold is inclusive; the hook's own time is
// charged to no one.
func TestSlowCallbackExact(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	var slow []calloop.SlowCallback
	l := newLoop[testState](t, calloop.WithClock(vc), calloop.WithSlowCallback(10*time.Millisecond, func(c calloop.SlowCallback) {
		slow = append(slow, c)
		vc.Advance(time.Hour)
	}))
	var s testState
	a, b := socketPair(t)
	fdTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		vc.Advance(10 * time.Millisecond)
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := calloop.NewPing(l, func(*testState) { vc.Advance(9 * time.Millisecond) })
	writeFD(t, b, "x")
	p.Ping()
	l.Dispatch(0, &s)
	name, _ := l.Name(fdTok)
	want := calloop.SlowCallback{Token: fdTok, Name: name, Kind: "fd", Duration: 10 * time.Millisecond}
	if len(slow) != 1 || slow[0] != want {
		t.Fatalf("reported %+v, want [%+v]", slow, want)
	}
	if name == "" || name[:3] != "fd " {
		t.Fatalf("default name %q", name)
	}
	if got := l.Stats(); got.MaxCallback != 10*time.Millisecond {
		t.Fatalf("the hook's time was charged: %+v", got)
	}
}

// SourceStats accounts events and time per source, under the given names.
func TestSourceStats(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc), calloop.WithSourceStats())
	var s testState
	a, b := socketPair(t)
	fdTok, _ := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		vc.Advance(2 * time.Millisecond)
		return calloop.Continue
	})
	p, _ := calloop.NewPing(l, func(*testState) { vc.Advance(time.Millisecond) })
	if err := l.SetName(p.Token(), "pinger"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		writeFD(t, b, "x")
		p.Ping()
		tm, _ := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			vc.Advance(5 * time.Millisecond)
			return calloop.Drop()
		})
		if i == 0 {
			l.SetName(tm, "named timer")
		}
		l.Dispatch(0, &s)
	}
	got := l.SourceStats()
	fdName, _ := l.Name(fdTok)
	want := []calloop.SourceStats{
		{Name: "timers", Kind: "timer", Events: 2, Time: 10 * time.Millisecond, Max: 5 * time.Millisecond},
		{Token: fdTok, Name: fdName, Kind: "fd", Events: 3, Time: 6 * time.Millisecond, Max: 2 * time.Millisecond},
		{Name: "named timer", Kind: "timer", Events: 1, Time: 5 * time.Millisecond, Max: 5 * time.Millisecond},
		{Token: p.Token(), Name: "pinger", Kind: "source", Events: 3, Time: 3 * time.Millisecond, Max: time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// A removed source's figures go with it; its slot's next source starts at zero.
	l.Remove(fdTok)
	for _, e := range l.SourceStats() {
		if e.Token == fdTok {
			t.Fatalf("removed source still reported: %+v", e)
		}
	}
}

// SetName and Name reject stale, foreign and zero tokens; an empty name
// restores the default.
func TestSetNameErrors(t *testing.T) {
	l := newLoop[testState](t)
	other := newLoop[testState](t)
	tok, _ := l.AddIdle(func(*testState) {})
	foreign, _ := other.AddIdle(func(*testState) {})
	tm, _ := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	for _, bad := range []calloop.Token{{}, foreign} {
		if err := l.SetName(bad, "x"); !isInvalid(err) {
			t.Fatalf("SetName(%v): %v", bad, err)
		}
		if _, err := l.Name(bad); !isInvalid(err) {
			t.Fatalf("Name(%v): %v", bad, err)
		}
	}
	def, _ := l.Name(tm)
	l.SetName(tm, "t")
	if n, _ := l.Name(tm); n != "t" {
		t.Fatalf("named %q", n)
	}
	l.SetName(tm, "")
	if n, _ := l.Name(tm); n != def || def[:6] != "timer " {
		t.Fatalf("default %q, after reset %q", def, n)
	}
	l.Remove(tm)
	if err := l.SetName(tm, "x"); !isInvalid(err) {
		t.Fatalf("stale timer: %v", err)
	}
	l.Remove(tok)
	if err := l.SetName(tok, "x"); !isInvalid(err) {
		t.Fatalf("stale source: %v", err)
	}
}

// The instrumentation allocates nothing per event, on or off.
func TestInsightNoAllocs(t *testing.T) {
	for _, opts := range [][]calloop.Option{nil, {calloop.WithStats()},
		{calloop.WithSourceStats(), calloop.WithSlowCallback(time.Hour, func(calloop.SlowCallback) {})}} {
		l := newLoop[testState](t, opts...)
		r := l.NewStatsReader() // an open reader's window costs no allocation either
		defer r.Close()
		var s testState
		a, b := socketPair(t)
		buf := make([]byte, 1)
		for _, fd := range []*testFD{a, b} {
			fd := fd.fd
			if _, err := l.AddFD(fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
				syscall.Read(fd, buf)
				syscall.Write(fd, buf)
				s.n++
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
		}
		l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { return calloop.Again(0) })
		writeFD(t, a, "x")
		l.Dispatch(0, &s) // warm up: the per-source table grows once
		l.Dispatch(0, &s)
		if n := testing.AllocsPerRun(1000, func() { l.Dispatch(0, &s) }); n != 0 {
			t.Fatalf("%d options: %v allocations per iteration", len(opts), n)
		}
		if s.n < 1000 {
			t.Fatalf("%d callbacks", s.n)
		}
		l.Stats()
	}
}

// Two readers of the maxima do not steal from each other: Loop.Stats
// reports the maxima since the start however often it is read, and each
// StatsReader has a window of its own, from its previous Read.
func TestStatsReaders(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithStats(), calloop.WithClock(vc))
	var s testState
	cb := func(d time.Duration) {
		l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			vc.Advance(d)
			return calloop.Drop()
		})
	}
	logger, exporter := l.NewStatsReader(), l.NewStatsReader()
	defer exporter.Close()
	cb(7 * time.Millisecond)
	vc.Advance(4 * time.Millisecond) // the timer fires 4 ms late
	l.Dispatch(0, &s)
	for range 2 {
		if got := l.Stats(); got.MaxCallback != 7*time.Millisecond || got.MaxTimerLag != 4*time.Millisecond ||
			got.WindowMaxCallback != 0 || got.WindowMaxTimerLag != 0 {
			t.Fatalf("Stats: %+v", got)
		}
	}
	if got := logger.Read(); got.WindowMaxCallback != 7*time.Millisecond || got.WindowMaxTimerLag != 4*time.Millisecond ||
		got.MaxCallback != 7*time.Millisecond {
		t.Fatalf("first reader: %+v", got)
	}
	if got := logger.Read(); got.WindowMaxCallback != 0 || got.WindowMaxTimerLag != 0 || got.MaxCallback != 7*time.Millisecond {
		t.Fatalf("first reader's empty window: %+v", got)
	}
	cb(2 * time.Millisecond)
	l.Dispatch(0, &s)
	if got := logger.Read(); got.WindowMaxCallback != 2*time.Millisecond || got.WindowMaxTimerLag != 0 {
		t.Fatalf("first reader's second window: %+v", got)
	}
	// The second reader's window spans both callbacks.
	got := exporter.Read()
	if got.WindowMaxCallback != 7*time.Millisecond || got.WindowMaxTimerLag != 4*time.Millisecond || got.TimersFired != 2 {
		t.Fatalf("second reader: %+v", got)
	}
	if prev := exporter.Prev(); prev != got {
		t.Fatalf("Prev %+v, want the last Read %+v", prev, got)
	}
	// A closed reader's windows stay empty; the others go on.
	logger.Close()
	logger.Close()
	cb(3 * time.Millisecond)
	l.Dispatch(0, &s)
	if got := logger.Read(); got.WindowMaxCallback != 0 || got.TimersFired != 3 {
		t.Fatalf("closed reader: %+v", got)
	}
	if got := exporter.Read(); got.WindowMaxCallback != 3*time.Millisecond {
		t.Fatalf("second reader after the first closed: %+v", got)
	}
	// Without WithStats a reader reads zeros.
	off := newLoop[testState](t)
	r := off.NewStatsReader()
	if got := r.Read(); got != (calloop.Stats{}) {
		t.Fatalf("reader without stats: %+v", got)
	}
	r.Close()
}

// Readers are created, read and closed from other goroutines while the
// loop runs (the race detector checks it); each window's maximum is one
// the loop saw.
func TestStatsReadersConcurrent(t *testing.T) {
	l := newLoop[testState](t, calloop.WithStats())
	var s testState
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				r := l.NewStatsReader()
				for range 10 {
					p.Ping()
					if got := r.Read(); got.WindowMaxCallback > got.MaxCallback {
						t.Errorf("window max %v above the overall max %v", got.WindowMaxCallback, got.MaxCallback)
					}
				}
				r.Close()
			}
		})
	}
	dispatchUntil(t, l, &s, func() bool { return s.n >= 300 })
	stop.Store(true)
	wg.Wait()
}
