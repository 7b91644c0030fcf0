//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Fail: an error from a callback ends Run with it.

var errFailed = errors.New("ct: callback failure")

func TestFailEndsRunWithError(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	past := time.Now().Add(-time.Second)
	// Two timers due in the same iteration: the first fails, the second must
	// still run (Fail finishes the iteration).
	if _, err := l.AddTimerAt(past, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "fail")
		l.Fail(errFailed)
		l.Fail(errors.New("second failure is dropped"))
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimerAt(past, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "after")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	err := l.Run(context.Background(), &s)
	if !errors.Is(err, errFailed) {
		t.Fatalf("Run = %v, want an error wrapping errFailed", err)
	}
	if got := strings.Join(s.log, ","); got != "fail,after" {
		t.Fatalf("iteration with a failure ran %q, want fail,after", got)
	}
	// The failure is consumed: the loop dispatches again normally.
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch after a failure = %v, want nil", err)
	}
	if _, err := l.AddIdle(func(s *testState) { s.n++ }); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil || s.n != 1 {
		t.Fatalf("Dispatch after a failure: err %v, idle ran %d times", err, s.n)
	}
}

func TestFailFromEveryCallbackKind(t *testing.T) {
	type setup func(t *testing.T, l *calloop.Loop[testState])
	cases := []struct {
		name  string
		setup setup
	}{
		{"fd", func(t *testing.T, l *calloop.Loop[testState]) {
			a, b := socketPair(t)
			writeFD(t, b, "x")
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
				l.Fail(errFailed)
				return calloop.Remove
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"timer", func(t *testing.T, l *calloop.Loop[testState]) {
			if _, err := l.AddTimer(time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
				l.Fail(errFailed)
				return calloop.Drop()
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle", func(t *testing.T, l *calloop.Loop[testState]) {
			if _, err := l.AddIdle(func(*testState) { l.Fail(errFailed) }); err != nil {
				t.Fatal(err)
			}
		}},
		{"ping", func(t *testing.T, l *calloop.Loop[testState]) {
			p, err := calloop.NewPing(l, func(*testState) { l.Fail(errFailed) })
			if err != nil {
				t.Fatal(err)
			}
			go p.Ping()
		}},
		{"channel", func(t *testing.T, l *calloop.Loop[testState]) {
			tx, err := calloop.NewChannel(l, func(_ *testState, _ int, ok bool) {
				if ok {
					l.Fail(errFailed)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			go func() { tx.Send(1); tx.Close() }()
		}},
		{"source process error", func(t *testing.T, l *calloop.Loop[testState]) {
			src := &ctSource{readyOnce: true, processErr: errFailed}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
		{"source before sleep error", func(t *testing.T, l *calloop.Loop[testState]) {
			src := &ctSource{hook: true, hookErr: errFailed}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			c.setup(t, l)
			d := armWatchdog(t, l)
			err := l.Run(context.Background(), &s)
			exp := d.expired()
			d.stop()
			if exp || !errors.Is(err, errFailed) {
				t.Fatalf("Run = %v (watchdog %v), want an error wrapping errFailed", err, exp)
			}
		})
	}
}

func TestSourceProcessErrorKeepsSource(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	src := &ctSource{fds: []int{a.fd}, processErr: errFailed}
	tok, err := l.AddSource(src.as())
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	if err := l.Dispatch(0, &s); !errors.Is(err, errFailed) {
		t.Fatalf("Dispatch = %v, want errFailed", err)
	}
	src.processErr = nil
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch after the error = %v", err)
	}
	if len(src.events) != 2 {
		t.Fatalf("source processed %d events, want 2 (it stays registered after an error)", len(src.events))
	}
	if err := l.Remove(tok); err != nil {
		t.Fatalf("Remove after an error: %v", err)
	}
}
