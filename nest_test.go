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
