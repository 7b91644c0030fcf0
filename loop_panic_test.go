//go:build linux

package calloop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Panics: a panic in a callback leaves Dispatch and the loop consistent.

func TestPanicPropagatesAndLoopRecovers(t *testing.T) {
	type setup func(t *testing.T, l *calloop.Loop[testState], boom func())
	cases := []struct {
		name  string
		setup setup
	}{
		{"fd", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			a, b := socketPair(t)
			writeFD(t, b, "x")
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Edge, func(*testState, calloop.Events) calloop.Action {
				boom()
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"timer", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
				boom()
				return calloop.Drop()
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			if _, err := l.AddIdle(func(*testState) { boom() }); err != nil {
				t.Fatal(err)
			}
		}},
		{"ping", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			p, err := calloop.NewPing(l, func(*testState) { boom() })
			if err != nil {
				t.Fatal(err)
			}
			p.Ping()
		}},
		{"channel", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			tx, err := calloop.NewChannel(l, func(_ *testState, _ int, ok bool) {
				if ok {
					boom()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			tx.Send(1)
			t.Cleanup(func() { tx.Close() })
		}},
		{"source", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			src := &ctSource{readyOnce: true, onProcess: boom}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
		{"before sleep hook", func(t *testing.T, l *calloop.Loop[testState], boom func()) {
			src := &ctSource{hook: true, onHook: boom}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		for _, via := range []string{"Dispatch", "Run"} {
			t.Run(c.name+"/"+via, func(t *testing.T) {
				panicRecovers(t, c.setup, via)
			})
		}
	}
}

// panicRecovers is one case of TestPanicPropagatesAndLoopRecovers: the
// panic leaves Dispatch, or Run (which holds the loop across iterations and
// must release it on the panic's way out too).
func panicRecovers(t *testing.T, setup func(t *testing.T, l *calloop.Loop[testState], boom func()), via string) {
	l := newLoop[testState](t)
	var s testState
	boomed := false
	setup(t, l, func() {
		if !boomed { // a hook runs in every iteration: panic once
			boomed = true
			panic("ct boom")
		}
	})
	// Another source that must keep working.
	a, b := socketPair(t)
	other := 0
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		other++
		drainFD(a.fd)
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	if v := ctRecover(func() {
		if via == "Run" {
			l.Run(context.Background(), &s)
		} else {
			l.Dispatch(time.Second, &s)
		}
	}); v != "ct boom" {
		t.Fatalf("%s panicked with %v, want the callback's panic", via, v)
	}
	// The loop is consistent and can be dispatched again.
	for range 3 {
		if v := ctRecover(func() {
			if err := l.Dispatch(0, &s); err != nil {
				t.Errorf("Dispatch after a panic: %v", err)
			}
		}); v != nil {
			// Nothing may be delivered twice (the fd is edge-triggered).
			t.Fatalf("Dispatch after a panic panicked again: %v", v)
		}
	}
	writeFD(t, b, "y")
	dispatchUntil(t, l, &s, func() bool { return other > 0 })
	// And Run holds it and lets go of it again.
	l.Stop()
	if err := l.Run(context.Background(), &s); err != nil {
		t.Fatalf("Run after a panic: %v", err)
	}
}

func TestPanicKeepsRestOfBatch(t *testing.T) {
	t.Run("fd edge events", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		const n = 4
		calls := make([]int, n)
		panicked := false
		for i := range n {
			a, b := socketPair(t)
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Edge, func(*testState, calloop.Events) calloop.Action {
				calls[i]++
				if !panicked {
					panicked = true
					panic("ct boom")
				}
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
			writeFD(t, b, "x") // edge-triggered: reported once, never again
		}
		if v := ctRecover(func() { l.Dispatch(time.Second, &s) }); v != "ct boom" {
			t.Fatalf("Dispatch panicked with %v", v)
		}
		for range 3 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range calls {
			if c != 1 {
				t.Errorf("edge fd %d called %d times after a panic in the batch, want exactly 1", i, c)
			}
		}
	})
	t.Run("timers", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		past := time.Now().Add(-time.Second)
		var log []int
		var toks []calloop.Token
		for i := range 3 {
			tok, err := l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
				log = append(log, i)
				if i == 0 {
					panic("ct boom")
				}
				return calloop.Drop()
			})
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok)
		}
		if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "ct boom" {
			t.Fatalf("Dispatch panicked with %v", v)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(log) != "[0 1 2]" {
			t.Fatalf("timer firings around a panic: %v, want [0 1 2]", log)
		}
		// The timer that panicked is gone.
		if err := l.Remove(toks[0]); !isInvalid(err) {
			t.Fatalf("Remove of the timer that panicked = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("idles", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var log []int
		for i := range 3 {
			if _, err := l.AddIdle(func(*testState) {
				log = append(log, i)
				if i == 1 {
					panic("ct boom")
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "ct boom" {
			t.Fatalf("Dispatch panicked with %v", v)
		}
		d := armWatchdog(t, l)
		err := l.Dispatch(-1, &s) // the rest is pending: no sleep
		exp := d.expired()
		d.stop()
		if err != nil || exp {
			t.Fatalf("Dispatch after an idle panic: err %v, watchdog %v", err, exp)
		}
		if fmt.Sprint(log) != "[0 1 2]" {
			t.Fatalf("idle runs around a panic: %v, want [0 1 2]", log)
		}
	})
}
