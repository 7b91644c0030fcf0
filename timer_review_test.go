//go:build linux

package calloop_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// A panic in a timer callback puts the due timers it kept from firing back
// in the heap: they keep their place among the timers of the same deadline,
// including one set (by the panicking callback) after them.
func TestTimerPanicKeepsFIFOOfRequeuedTimers(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	at := time.Now().Add(-time.Second)
	var log []string
	add := func(name string, fn func()) {
		t.Helper()
		if _, err := l.AddTimerAt(at, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, name)
			if fn != nil {
				fn()
			}
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("a", func() {
		add("c", nil) // same deadline, set after b: fires after b
		panic("ct boom")
	})
	add("b", nil)
	if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "ct boom" {
		t.Fatalf("Dispatch panicked with %v", v)
	}
	for range 2 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(log); got != "[a b c]" {
		t.Fatalf("firings %v, want [a b c] (equal deadlines in the order they were set)", got)
	}
}

// Stats().Timers counts the timers pending (set, enabled, with a finite
// deadline) through resets, disables, class moves and firings, whatever dead
// heap entries these leave behind.
func TestStatsTimersCountWithLazyDeletion(t *testing.T) {
	l := newLoop[testState](t, calloop.WithStats())
	var s testState
	drop := func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }
	var toks []calloop.Token
	for range 200 {
		tok, err := l.AddTimer(time.Hour, drop)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	want := func(n int, what string) {
		t.Helper()
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if got := l.Stats().Timers; got != n {
			t.Fatalf("after %s: Stats().Timers = %d, want %d", what, got, n)
		}
	}
	want(200, "adding 200")
	for i := range 1000 { // many dead entries, compactions
		if err := l.ResetTimer(toks[i%len(toks)], time.Hour+time.Duration(i)); err != nil {
			t.Fatal(err)
		}
	}
	want(200, "1000 resets")
	for _, tok := range toks[:50] {
		if err := l.Disable(tok); err != nil {
			t.Fatal(err)
		}
	}
	want(150, "50 disabled")
	for i, tok := range toks[50:150] {
		if err := l.SetPriority(tok, calloop.Priority(i%3-1)); err != nil {
			t.Fatal(err)
		}
	}
	want(150, "100 class moves")
	for _, tok := range toks[:25] {
		if err := l.ResetTimer(tok, time.Hour); err != nil { // disabled: stays out
			t.Fatal(err)
		}
		if err := l.Remove(tok); err != nil {
			t.Fatal(err)
		}
	}
	want(150, "25 disabled removed")
	for _, tok := range toks[25:50] {
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
	}
	want(175, "25 enabled")
	for _, tok := range toks[150:] {
		if err := l.ResetTimer(tok, 0); err != nil { // due: fires and drops
			t.Fatal(err)
		}
	}
	want(125, "50 fired")
	for _, tok := range toks[25:150] {
		if err := l.Remove(tok); err != nil {
			t.Fatal(err)
		}
	}
	want(0, "all removed")
}

// A loop nested in another wakes it for its earliest live timer: a dead
// entry on top of its heap (a timer reset to later, another disabled) makes
// the outer loop neither sleep past the live deadline nor spin before it.
func TestNestedLoopWakesForLiveTimerUnderDeadTop(t *testing.T) {
	outer := newLoop[testState](t)
	inner := newLoop[testState](t)
	var s testState
	if _, err := calloop.AddLoop(outer, inner, func(s *testState) *testState { return s }); err != nil {
		t.Fatal(err)
	}
	var firedAt time.Time
	start := time.Now()
	drop := func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }
	a, err := inner.AddTimer(10*time.Millisecond, drop)
	if err != nil {
		t.Fatal(err)
	}
	b, err := inner.AddTimer(15*time.Millisecond, drop)
	if err != nil {
		t.Fatal(err)
	}
	deadline := start.Add(40 * time.Millisecond)
	if _, err := inner.AddTimerAt(deadline, func(*testState, time.Time) calloop.TimerAction {
		firedAt = time.Now()
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if err := inner.ResetTimer(a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := inner.Disable(b); err != nil {
		t.Fatal(err)
	}
	iters := 0
	dispatchUntil(t, outer, &s, func() bool { iters++; return !firedAt.IsZero() })
	if firedAt.Before(deadline) {
		t.Fatalf("inner timer fired %v before its deadline", deadline.Sub(firedAt))
	}
	if late := firedAt.Sub(deadline); late > 2*time.Second {
		t.Fatalf("inner timer fired %v late", late)
	}
	if iters > 20 {
		t.Fatalf("outer loop ran %d iterations for one inner timer", iters)
	}
}

// A BeforeSleep hook of a quiet loop (the iteration ends after its poll,
// without a dispatch phase) that closes the loop or fails it: Dispatch(-1)
// does not block, the failure is its result, and the Close takes effect as
// it returns.
func TestQuietIterationHookClosesOrFails(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		src := &ctSource{hook: true}
		src.onHook = func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close from BeforeSleep: %v", err)
			}
		}
		if _, err := l.AddSource(src.as()); err != nil {
			t.Fatal(err)
		}
		d := armWatchdog(t, l)
		err := l.Dispatch(-1, &s)
		exp := d.expired()
		d.stop()
		if err != nil || exp {
			t.Fatalf("Dispatch(-1) with a Close from BeforeSleep: err %v, watchdog %v", err, exp)
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch after a Close from BeforeSleep = %v, want ErrClosed", err)
		}
	})
	t.Run("fail", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		src := &ctSource{hook: true}
		failed := false
		src.onHook = func() {
			if !failed {
				failed = true
				l.Fail(errFailed)
			}
		}
		if _, err := l.AddSource(src.as()); err != nil {
			t.Fatal(err)
		}
		d := armWatchdog(t, l)
		err := l.Dispatch(-1, &s)
		exp := d.expired()
		d.stop()
		if !errors.Is(err, errFailed) || exp {
			t.Fatalf("Dispatch(-1) with a Fail from BeforeSleep: err %v, watchdog %v", err, exp)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatalf("the next Dispatch = %v, want nil (the failure was reported)", err)
		}
	})
}
