//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"testing"
	"time"
)

// fireAllRearming sets n timers due in the past and dispatches one
// iteration in which each fires once and, if rearm, re-arms itself at its
// own (past) deadline, as a periodic timer catching up does. It returns the
// iteration's duration.
func fireAllRearming(t *testing.T, n int, rearm bool) time.Duration {
	l, err := New[struct{}]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	base := time.Now().Add(-time.Hour)
	fired := 0
	fn := func(_ *struct{}, d time.Time) TimerAction {
		fired++
		if rearm {
			return At(d)
		}
		return Drop()
	}
	for i := range n {
		if _, err := l.AddTimerAt(base.Add(time.Duration(i)), fn); err != nil {
			t.Fatal(err)
		}
	}
	var s struct{}
	start := time.Now()
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if fired != n {
		t.Fatalf("%d of %d timers fired", fired, n)
	}
	return d
}

// TestTimerRearmIntoPastIterationIsLinear: an iteration in which n timers
// fire and each re-arms itself into the past (a timer set during the
// iteration waits for the next one, so fireTimers holds it aside) costs
// about what n timers firing once cost, not rounds times more: the entries
// held aside are not taken off the heap again by every later round of
// timerRound timers. Quadratic, the ratio was about n/4000 (25 at n =
// 100,000); the bound leaves room for a noisy machine, each side the best
// of three runs.
func TestTimerRearmIntoPastIterationIsLinear(t *testing.T) {
	const n = 100_000
	best := func(rearm bool) time.Duration {
		b := time.Duration(1<<63 - 1)
		for range 3 {
			b = min(b, fireAllRearming(t, n, rearm))
		}
		return b
	}
	once, rearmed := best(false), best(true)
	if rearmed > 10*once {
		t.Fatalf("%d timers re-arming into the past took %v, %.1f times %v without re-arming", n, rearmed, float64(rearmed)/float64(once), once)
	}
}

// A panic in a later round of an iteration whose earlier rounds re-armed
// timers into the past (held out of the heap until the last round): those
// timers go back into the heap, and fire in the next iteration.
func TestTimerRearmedIntoPastSurvivePanicInLaterRound(t *testing.T) {
	l, err := New[struct{}]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 3 * timerRound
	base := time.Now().Add(-time.Hour)
	fired := make([]int, n)
	for i := range n {
		if _, err := l.AddTimerAt(base.Add(time.Duration(i)), func(_ *struct{}, d time.Time) TimerAction {
			fired[i]++
			if i == timerRound+10 && fired[i] == 1 {
				panic("boom")
			}
			if fired[i] == 1 {
				return At(d)
			}
			return Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	var s struct{}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("Dispatch panicked with %v", v)
			}
		}()
		l.Dispatch(0, &s)
	}()
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range fired {
		want := 2 // once, then once more at the deadline it re-armed to
		if i == timerRound+10 {
			want = 1 // removed by its panic
		}
		if f != want {
			t.Fatalf("timer %d fired %d times, want %d", i, f, want)
		}
	}
	if got := l.timers.len(); got != 0 {
		t.Fatalf("%d timers left", got)
	}
}
