//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

type outerState struct {
	inner testState
}

func newNested(t *testing.T) (outer *calloop.Loop[outerState], inner *calloop.Loop[testState], tok calloop.Token) {
	t.Helper()
	outer = newLoop[outerState](t)
	inner = newLoop[testState](t)
	tok, err := calloop.AddLoop(outer, inner, func(o *outerState) *testState { return &o.inner })
	if err != nil {
		t.Fatal(err)
	}
	return outer, inner, tok
}

func TestNestedLoopRunsAllInnerSources(t *testing.T) {
	outer, inner, _ := newNested(t)
	var o outerState
	a, b := socketPair(t)
	seen := map[string]bool{}
	mark := func(s *testState, what string) {
		if s != &o.inner {
			t.Errorf("%s: inner callback got state %p, want %p", what, s, &o.inner)
		}
		seen[what] = true
		if len(seen) == 4 {
			outer.Stop()
		}
	}
	if _, err := inner.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		mark(s, "fd")
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	p, err := calloop.NewPing(inner, func(s *testState) { mark(s, "ping") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inner.AddTimer(20*time.Millisecond, func(s *testState, _ time.Time) calloop.TimerAction {
		mark(s, "timer")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.AddIdle(func(s *testState) { mark(s, "idle") }); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	go p.Ping()
	d := armWatchdog(t, outer)
	err = outer.Run(context.Background(), &o)
	exp := d.expired()
	d.stop()
	if err != nil || exp {
		t.Fatalf("outer Run: err %v, watchdog %v; inner saw %v", err, exp, seen)
	}
	var got []string
	for k := range seen {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "fd,idle,ping,timer" {
		t.Fatalf("inner sources run through the outer loop: %v", got)
	}
}

func TestNestedLoopWakesOuterFromOtherGoroutine(t *testing.T) {
	outer, inner, _ := newNested(t)
	var o outerState
	p, err := calloop.NewPing(inner, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	rounds := 300
	for i := range rounds {
		want := o.inner.n + 1
		go p.Ping()
		dispatchUntil(t, outer, &o, func() bool { return o.inner.n >= want })
		if o.inner.n != want {
			t.Fatalf("round %d: %d inner callbacks for one ping", i, o.inner.n-want+1)
		}
	}
}

func TestNestedLoopTimersAreNotEarlyAndDoNotSpin(t *testing.T) {
	outer, inner, _ := newNested(t)
	var o outerState
	var fired []time.Time
	var deadlines []time.Time
	if _, err := inner.AddTimer(30*time.Millisecond, func(_ *testState, d time.Time) calloop.TimerAction {
		fired = append(fired, time.Now())
		deadlines = append(deadlines, d)
		if len(fired) == 3 {
			return calloop.Drop()
		}
		return calloop.Again(10 * time.Millisecond)
	}); err != nil {
		t.Fatal(err)
	}
	iters := 0
	dispatchUntil(t, outer, &o, func() bool { iters++; return len(fired) == 3 })
	for i := range fired {
		if fired[i].Before(deadlines[i]) {
			t.Fatalf("inner timer firing %d at %v, before its deadline %v", i, fired[i], deadlines[i])
		}
	}
	// The outer loop slept until the inner deadlines instead of spinning.
	if iters > 30 {
		t.Fatalf("outer loop ran %d iterations for 3 inner timer firings over 50ms", iters)
	}
	// Nothing left: the outer loop sleeps its whole timeout.
	start := time.Now()
	if err := outer.Dispatch(20*time.Millisecond, &o); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("outer Dispatch(20ms) with an idle inner loop returned after %v", el)
	}
}

func TestNestedLoopErrorFailsOuter(t *testing.T) {
	outer, inner, _ := newNested(t)
	var o outerState
	if _, err := inner.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		inner.Fail(errFailed)
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	d := armWatchdog(t, outer)
	err := outer.Run(context.Background(), &o)
	exp := d.expired()
	d.stop()
	if exp || !errors.Is(err, errFailed) {
		t.Fatalf("outer Run = %v (watchdog %v), want the inner failure", err, exp)
	}
}

func TestNestedLoopDetach(t *testing.T) {
	outer, inner, tok := newNested(t)
	var o outerState
	p, err := calloop.NewPing(inner, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	p.Ping()
	dispatchUntil(t, outer, &o, func() bool { return o.inner.n == 1 })
	if err := outer.Remove(tok); err != nil {
		t.Fatal(err)
	}
	// Detached: the outer loop no longer dispatches the inner one...
	p.Ping()
	ctDispatch0Outer(t, outer, &o, 2)
	if o.inner.n != 1 {
		t.Fatal("removed nested loop still dispatched by the outer loop")
	}
	// ...which runs on its own again.
	var s testState
	s.n = o.inner.n
	dispatchUntil(t, inner, &s, func() bool { return s.n == 2 })
}

func ctDispatch0Outer(t *testing.T, l *calloop.Loop[outerState], o *outerState, n int) {
	t.Helper()
	for range n {
		if err := l.Dispatch(0, o); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoopFdIsPollable(t *testing.T) {
	// Any poller can watch a loop through Fd: readable when the loop has
	// something to dispatch, not readable once it is handled.
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		fd := l.Fd()
		readable := func(timeout time.Duration) bool {
			t.Helper()
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					t.Fatalf("poll: %v", err)
				}
				return n == 1 && pfd[0].Revents&unix.POLLIN != 0
			}
		}
		if readable(0) {
			t.Fatal("fresh loop's fd is readable")
		}
		p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
		if err != nil {
			t.Fatal(err)
		}
		go p.Ping() // from another goroutine, between dispatches
		if !readable(watchdogTimeout) {
			t.Fatal("loop fd not readable after a ping")
		}
		dispatchUntil(t, l, &s, func() bool { return s.n == 1 })
		ctDispatch0(t, l, &s, 1)
		if readable(0) {
			t.Fatal("loop fd still readable after the ping was handled")
		}
		a, b := socketPair(t)
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Edge, func(*testState, calloop.Events) calloop.Action {
			return calloop.Continue
		}); err != nil {
			t.Fatal(err)
		}
		writeFD(t, b, "x")
		if !readable(watchdogTimeout) {
			t.Fatal("loop fd not readable with a ready descriptor registered")
		}
		ctDispatch0(t, l, &s, 1)
		if readable(0) {
			t.Fatal("loop fd still readable after the edge event was handled")
		}
		// An idle queued for the next iteration keeps the fd readable.
		if _, err := l.AddIdle(func(s *testState) {
			if _, err := l.AddIdle(func(*testState) {}); err != nil { // queued for the next iteration
				t.Error(err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 1)
		if !readable(0) {
			t.Fatal("loop fd not readable with an idle queued")
		}
		ctDispatch0(t, l, &s, 1)
		if readable(0) {
			t.Fatal("loop fd still readable after the queued idle ran")
		}
	})
}

func TestNestedLoopChannelBatchesContinue(t *testing.T) {
	// The inner loop's channel delivers 1024 messages per inner iteration;
	// the rest must follow through the outer loop without anyone sending
	// again.
	outer, inner, _ := newNested(t)
	var o outerState
	got := 0
	closed := false
	tx, err := calloop.NewChannel(inner, func(_ *testState, _ int, ok bool) {
		if ok {
			got++
		} else {
			closed = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		tx.Send(i)
	}
	tx.Close()
	dispatchUntil(t, outer, &o, func() bool { return closed })
	if got != 5000 {
		t.Fatalf("inner channel delivered %d of 5000 messages", got)
	}
}

// A virtual-clock loop nested in a real-clock loop: the outer loop does not
// wait for the inner's virtual deadlines in real time (nor spin on them);
// the inner's timers fire only when its clock is moved, and moving it wakes
// the outer loop, blocked in the kernel, so that the inner dispatches.
func TestNestedVirtualInReal(t *testing.T) {
	for _, origin := range []time.Time{epoch, time.Now().Add(24 * time.Hour)} {
		vc := calloop.NewVirtualClock(origin)
		outer := newLoop[outerState](t, calloop.WithStats())
		inner := newLoop[testState](t, calloop.WithClock(vc))
		_, err := calloop.AddLoop(outer, inner, func(o *outerState) *testState { return &o.inner })
		must(t, err)
		var o outerState
		for _, d := range []time.Duration{time.Hour, time.Minute} {
			_, err := inner.AddTimer(d, func(s *testState, deadline time.Time) calloop.TimerAction {
				s.log = append(s.log, d.String())
				if !inner.Now().Equal(deadline) && inner.Now().Before(deadline) {
					t.Errorf("timer of %v fired early: %v < %v", d, inner.Now(), deadline)
				}
				return calloop.Drop()
			})
			must(t, err)
		}
		// Nothing to do in real time: the outer loop sleeps its whole timeout,
		// in one iteration, and the inner's timers stay put.
		const nap = 50 * time.Millisecond
		start := time.Now()
		must(t, outer.Dispatch(nap, &o))
		if el := time.Since(start); el < nap {
			t.Fatalf("origin %v: the outer loop woke after %v of %v for a virtual deadline", origin, el, nap)
		}
		if len(o.inner.log) != 0 {
			t.Fatalf("fired without the clock moving: %q", o.inner.log)
		}
		// Moving the clock from another goroutine wakes the outer loop
		// blocked in Dispatch(-1); the timers fire in order, only once due.
		go vc.Advance(time.Minute)
		dispatchUntil(t, outer, &o, func() bool { return len(o.inner.log) == 1 })
		go vc.Advance(30 * time.Minute)
		start = time.Now()
		must(t, outer.Dispatch(nap, &o)) // woken by the move, or not: nothing is due
		for time.Since(start) < nap {
			must(t, outer.Dispatch(nap, &o))
		}
		if len(o.inner.log) != 1 {
			t.Fatalf("fired before its virtual deadline: %q", o.inner.log)
		}
		go vc.Advance(29 * time.Minute)
		dispatchUntil(t, outer, &o, func() bool { return len(o.inner.log) == 2 })
		if o.inner.log[0] != "1m0s" || o.inner.log[1] != "1h0m0s" {
			t.Fatalf("fired %q", o.inner.log)
		}
	}
}

// A real-clock loop nested in a virtual-clock loop: the inner's timers are
// real time and fire in real time, however the outer's virtual clock
// stands; the outer's own timers still wait for its clock.
func TestNestedRealInVirtual(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	outer := newLoop[outerState](t, calloop.WithClock(vc))
	inner := newLoop[testState](t)
	_, err := calloop.AddLoop(outer, inner, func(o *outerState) *testState { return &o.inner })
	must(t, err)
	var o outerState
	const d = 30 * time.Millisecond
	start := time.Now()
	var firedAfter time.Duration
	_, err = inner.AddTimer(d, func(s *testState, _ time.Time) calloop.TimerAction {
		firedAfter = time.Since(start)
		s.log = append(s.log, "inner")
		return calloop.Drop()
	})
	must(t, err)
	_, err = outer.AddTimer(d, func(o *outerState, _ time.Time) calloop.TimerAction {
		o.inner.log = append(o.inner.log, "outer")
		return calloop.Drop()
	})
	must(t, err)
	dispatchUntil(t, outer, &o, func() bool { return len(o.inner.log) > 0 })
	if firedAfter < d || o.inner.log[0] != "inner" {
		t.Fatalf("fired %q after %v", o.inner.log, firedAfter)
	}
	vc.Advance(d)
	dispatchUntil(t, outer, &o, func() bool { return len(o.inner.log) == 2 })
	if o.inner.log[1] != "outer" {
		t.Fatalf("fired %q", o.inner.log)
	}
}

// Two loops on two different virtual clocks: each loop's timers follow
// its own clock.
func TestNestedTwoVirtualClocks(t *testing.T) {
	vo, vi := calloop.NewVirtualClock(epoch), calloop.NewVirtualClock(epoch.Add(time.Hour))
	outer := newLoop[outerState](t, calloop.WithClock(vo))
	inner := newLoop[testState](t, calloop.WithClock(vi))
	_, err := calloop.AddLoop(outer, inner, func(o *outerState) *testState { return &o.inner })
	must(t, err)
	var o outerState
	inner.AddTimer(time.Second, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "inner")
		return calloop.Drop()
	})
	vo.Advance(2 * time.Hour) // the outer's clock passing the inner's deadline means nothing
	must(t, outer.Dispatch(0, &o))
	const nap = 20 * time.Millisecond
	start := time.Now()
	must(t, outer.Dispatch(nap, &o))
	if el := time.Since(start); el < nap || len(o.inner.log) != 0 {
		t.Fatalf("fired on the outer's clock: %q, or woke after %v of %v", o.inner.log, el, nap)
	}
	go vi.Advance(time.Second)
	dispatchUntil(t, outer, &o, func() bool { return len(o.inner.log) == 1 })
}
