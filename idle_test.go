//go:build linux

package calloop_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

func TestIdleDispatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	tok, err := l.AddIdle(func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if s.n != 1 {
		t.Fatalf("idle added before Dispatch(0) ran %d times in it", s.n)
	}
	ctDispatch0(t, l, &s, 2)
	if s.n != 1 {
		t.Fatalf("idle ran %d times, want once", s.n)
	}
	if err := l.Remove(tok); !isInvalid(err) {
		t.Fatalf("Remove after the idle ran = %v, want ErrInvalidToken", err)
	}
}

func TestIdleDoesNotSleep(t *testing.T) {
	// A queued idle makes Dispatch(-1) return at once.
	l := newLoop[testState](t)
	var s testState
	if _, err := l.AddIdle(func(s *testState) { s.n++ }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }); err != nil {
		t.Fatal(err)
	}
	dispatchUntil(t, l, &s, func() bool { return s.n == 1 })
}

func TestIdleCancel(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	tok, err := l.AddIdle(func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatalf("Remove(idle) = %v", err)
	}
	if err := l.Remove(tok); !isInvalid(err) {
		t.Fatalf("second Remove(idle) = %v, want ErrInvalidToken", err)
	}
	// A removed idle does not keep the loop awake either.
	start := time.Now()
	if err := l.Dispatch(20*time.Millisecond, &s); err != nil {
		t.Fatal(err)
	}
	if s.n != 0 {
		t.Fatal("cancelled idle ran")
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("Dispatch(20ms) with only a cancelled idle returned after %v", el)
	}
}

func TestIdleCannotBeDisabled(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	tok, err := l.AddIdle(func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Disable(tok); err == nil || isInvalid(err) {
		t.Fatalf("Disable(idle) = %v, want a misuse error", err)
	}
	if err := l.Enable(tok); err == nil || isInvalid(err) {
		t.Fatalf("Enable(idle) = %v, want a misuse error", err)
	}
	ctDispatch0(t, l, &s, 1)
	if s.n != 1 {
		t.Fatal("idle did not run after a refused Disable")
	}
}

func TestIdleRunsAtEndOfIteration(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	add := func(name string) {
		if _, err := l.AddIdle(func(s *testState) { s.log = append(s.log, name) }); err != nil {
			t.Fatal(err)
		}
	}
	add("idle1")
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		s.log = append(s.log, "fd")
		add("idle from fd") // queued before the idle phase: runs in this one
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "timer")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	add("idle2")
	writeFD(t, b, "x")
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	want := "fd,timer,idle1,idle2,idle from fd"
	if got := strings.Join(s.log, ","); got != want {
		t.Fatalf("iteration ran %q, want %q", got, want)
	}
}

func TestIdleFromIdleRunsNextDispatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	if _, err := l.AddIdle(func(s *testState) {
		s.log = append(s.log, "first")
		if _, err := l.AddIdle(func(s *testState) { s.log = append(s.log, "second") }); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if got := strings.Join(s.log, ","); got != "first" {
		t.Fatalf("first Dispatch ran %q, want first only", got)
	}
	// The loop does not sleep with an idle queued: Dispatch(-1) returns.
	d := armWatchdog(t, l)
	err := l.Dispatch(-1, &s)
	exp := d.expired()
	d.stop()
	if err != nil || exp {
		t.Fatalf("Dispatch(-1) with an idle queued by an idle: err %v, watchdog %v", err, exp)
	}
	if got := strings.Join(s.log, ","); got != "first,second" {
		t.Fatalf("second Dispatch: %q, want first,second", got)
	}
}

func TestIdleChainUnderRun(t *testing.T) {
	// Idles queuing idles, under Run: one per iteration, no deadlock, no sleep.
	l := newLoop[testState](t)
	var s testState
	const n = 1000
	var next func(s *testState)
	next = func(s *testState) {
		s.n++
		if s.n == n {
			l.Stop()
			return
		}
		if _, err := l.AddIdle(next); err != nil {
			t.Error(err)
		}
	}
	if _, err := l.AddIdle(next); err != nil {
		t.Fatal(err)
	}
	d := armWatchdog(t, l)
	err := l.Run(context.Background(), &s)
	exp := d.expired()
	d.stop()
	if err != nil || exp || s.n != n {
		t.Fatalf("Run: err %v, watchdog %v, %d of %d chained idles", err, exp, s.n, n)
	}
}

func TestIdleFIFOAndRemoveFromIdle(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	toks := make([]calloop.Token, 5)
	for i := range toks {
		var err error
		toks[i], err = l.AddIdle(func(s *testState) {
			s.log = append(s.log, fmt.Sprint(i))
			if i == 1 {
				// Cancel a later idle of the same phase.
				if err := l.Remove(toks[3]); err != nil {
					t.Errorf("Remove(queued idle) from an idle = %v", err)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctDispatch0(t, l, &s, 2)
	if got := strings.Join(s.log, ","); got != "0,1,2,4" {
		t.Fatalf("idles ran %q, want 0,1,2,4", got)
	}
}

func TestIdleAddsSources(t *testing.T) {
	// calloop #109: inserting sources from an idle.
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	fdCalls, pings := 0, 0
	var p *calloop.Ping
	if _, err := l.AddIdle(func(*testState) {
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
			fdCalls++
			return calloop.Remove
		}); err != nil {
			t.Error(err)
		}
		var err error
		if p, err = calloop.NewPing(l, func(*testState) { pings++ }); err != nil {
			t.Error(err)
		}
		p.Ping()
	}); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	dispatchUntil(t, l, &s, func() bool { return fdCalls == 1 && pings == 1 })
}
