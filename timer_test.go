//go:build linux

package calloop_test

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// ctFiring is one timer callback: which timer, with what deadline, at what
// loop time.
type ctFiring struct {
	id       int
	deadline time.Time
	now      time.Time
}

func TestTimerSimple(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		var got []ctFiring
		start := time.Now()
		if _, err := l.AddTimer(100*time.Millisecond, func(_ *testState, d time.Time) calloop.TimerAction {
			got = append(got, ctFiring{0, d, l.Now()})
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatal("100ms timer fired at Dispatch(0)")
		}
		// One Dispatch with a longer timeout wakes up for the deadline and fires it.
		if err := l.Dispatch(watchdogTimeout, &s); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		if len(got) != 1 {
			t.Fatalf("one Dispatch(%v) fired %d timers, want the 100ms one", watchdogTimeout, len(got))
		}
		if el < 100*time.Millisecond || el >= watchdogTimeout {
			t.Fatalf("Dispatch returned after %v, want about 100ms", el)
		}
		if got[0].now.Before(got[0].deadline) {
			t.Fatalf("fired early: Now %v before deadline %v", got[0].now, got[0].deadline)
		}
	})
}

func TestTimerImmediate(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	n := 0
	for _, d := range []time.Duration{0, -time.Hour, math.MinInt64} {
		if _, err := l.AddTimer(d, func(*testState, time.Time) calloop.TimerAction {
			n++
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d of 3 immediate (zero and negative duration) timers fired at Dispatch(0)", n)
	}
}

func TestTimerHighPrecision(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		fired := false
		var deadline time.Time
		start := time.Now()
		if _, err := l.AddTimer(100*time.Millisecond, func(_ *testState, d time.Time) calloop.TimerAction {
			fired, deadline = true, d
			if l.Now().Before(d) || time.Now().Before(d) {
				t.Errorf("fired before its deadline")
			}
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		start10 := time.Now()
		if err := l.Dispatch(10200*time.Microsecond, &s); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start10); el < 10*time.Millisecond {
			t.Fatalf("Dispatch(10.2ms) returned after %v", el)
		}
		if fired {
			t.Fatal("100ms timer fired within Dispatch(10.2ms)")
		}
		dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return fired })
		if time.Since(start) < 100*time.Millisecond || deadline.Sub(start) < 100*time.Millisecond {
			t.Fatal("100ms timer fired early")
		}
	})
}

func TestTimersNeverFireEarlyAndInOrder(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rng := rand.New(rand.NewSource(2))
	const n = 300
	base := time.Now()
	type spec struct {
		id       int
		deadline time.Time
	}
	var specs []spec
	var got []ctFiring
	for i := range n {
		d := base.Add(time.Duration(rng.Intn(40)) * time.Millisecond / 2)
		specs = append(specs, spec{i, d})
		if _, err := l.AddTimerAt(d, func(_ *testState, dl time.Time) calloop.TimerAction {
			got = append(got, ctFiring{i, dl, l.Now()})
			if wall := time.Now(); wall.Before(dl) {
				t.Errorf("timer %d fired at %v, before its deadline %v", i, wall, dl)
			}
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	dispatchUntil(t, l, &s, func() bool { return len(got) == n })
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].deadline.Before(specs[j].deadline) })
	for i, f := range got {
		if f.now.Before(f.deadline) {
			t.Fatalf("timer %d: Now %v before deadline %v", f.id, f.now, f.deadline)
		}
		if f.id != specs[i].id || !f.deadline.Equal(specs[i].deadline) {
			t.Fatalf("firing #%d is timer %d (deadline %v), want timer %d (deadline %v): not in (deadline, insertion) order",
				i, f.id, f.deadline, specs[i].id, specs[i].deadline)
		}
	}
}

func TestTimerEqualDeadlinesFireInInsertionOrder(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	at := time.Now().Add(-time.Millisecond)
	var got []int
	var toks []calloop.Token
	for i := range 50 {
		tok, err := l.AddTimerAt(at, func(*testState, time.Time) calloop.TimerAction {
			got = append(got, i)
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	// Re-setting a timer to the same instant makes it the newest of that instant.
	if err := l.ResetTimerAt(toks[3], at); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := range 50 {
		if i != 3 {
			want = append(want, i)
		}
	}
	want = append(want, 3)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("equal deadlines fired in order %v, want %v", got, want)
	}
}

func TestTimerDueTimersFireInDeadlineOrder(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	now := time.Now()
	var got []int
	for _, ms := range []int{3, 1, 5, 2, 4} {
		if _, err := l.AddTimerAt(now.Add(-time.Duration(10-ms)*time.Millisecond), func(*testState, time.Time) calloop.TimerAction {
			got = append(got, ms)
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("due timers fired in order %v, want [1 2 3 4 5]", got)
	}
}

func TestTimerDeadlineBeforeLoopCreation(t *testing.T) {
	// A deadline in the past, even before the loop existed, is due at once,
	// is passed to the callback unchanged, and keeps its order.
	l := newLoop[testState](t)
	var s testState
	t1 := time.Now().Add(-time.Hour)
	t2 := t1.Add(time.Minute)
	var got []time.Time
	for _, at := range []time.Time{t2, t1} {
		if _, err := l.AddTimerAt(at, func(_ *testState, d time.Time) calloop.TimerAction {
			got = append(got, d)
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctDispatch0(t, l, &s, 1)
	if len(got) != 2 || !got[0].Equal(t1) || !got[1].Equal(t2) {
		t.Fatalf("deadlines passed to the callbacks: %v, want [%v %v]", got, t1, t2)
	}
}

func TestTimerActions(t *testing.T) {
	t.Run("Drop", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		n := 0
		tok, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { n++; return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 3)
		if n != 1 {
			t.Fatalf("dropped timer fired %d times", n)
		}
		if err := l.Remove(tok); !isInvalid(err) {
			t.Fatalf("Remove after Drop = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("Again", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var got []ctFiring
		const period = 15 * time.Millisecond
		if _, err := l.AddTimer(0, func(_ *testState, d time.Time) calloop.TimerAction {
			got = append(got, ctFiring{0, d, l.Now()})
			if len(got) == 4 {
				return calloop.Drop()
			}
			return calloop.Again(period)
		}); err != nil {
			t.Fatal(err)
		}
		dispatchUntil(t, l, &s, func() bool { return len(got) == 4 })
		for i := 1; i < len(got); i++ {
			// Again re-arms relative to the firing iteration's clock reading.
			if want := got[i-1].now.Add(period); !got[i].deadline.Equal(want) {
				t.Fatalf("firing %d: deadline %v, want previous Now + period = %v", i, got[i].deadline, want)
			}
			if got[i].now.Before(got[i].deadline) {
				t.Fatalf("firing %d early", i)
			}
		}
	})
	t.Run("At", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var got []time.Time
		next := time.Now().Add(20 * time.Millisecond)
		if _, err := l.AddTimer(0, func(_ *testState, d time.Time) calloop.TimerAction {
			got = append(got, d)
			if len(got) == 2 {
				return calloop.Drop()
			}
			return calloop.At(next)
		}); err != nil {
			t.Fatal(err)
		}
		dispatchUntil(t, l, &s, func() bool { return len(got) == 2 })
		if !got[1].Equal(next) {
			t.Fatalf("re-armed with At(%v), fired with deadline %v", next, got[1])
		}
	})
}

func TestTimerRepeatingCounts(t *testing.T) {
	// repeating_timer, scaled down, on a virtual clock: a 50ms repeating
	// timer fires 0 times within 25ms, then exactly once per 50ms.
	vc := calloop.NewVirtualClock(time.Unix(1000, 0))
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	n := 0
	if _, err := l.AddTimer(50*time.Millisecond, func(_ *testState, d time.Time) calloop.TimerAction {
		n++
		return calloop.At(d.Add(50 * time.Millisecond))
	}); err != nil {
		t.Fatal(err)
	}
	for ms := 0; ms <= 400; ms += 5 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if want := ms / 50; n != want {
			t.Fatalf("at %d ms: fired %d times, want %d", ms, n, want)
		}
		vc.Advance(5 * time.Millisecond)
	}
}

func TestTimerAgainZeroFiresNextIteration(t *testing.T) {
	for _, name := range []string{"Again(0)", "At(past)", "Again(-1s)"} {
		t.Run(name, func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			n := 0
			if _, err := l.AddTimer(0, func(_ *testState, d time.Time) calloop.TimerAction {
				n++
				switch name {
				case "Again(0)":
					return calloop.Again(0)
				case "At(past)":
					return calloop.At(d.Add(-time.Hour))
				}
				return calloop.Again(-time.Second)
			}); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 5; i++ {
				ctDispatch0(t, l, &s, 1)
				if n != i {
					t.Fatalf("after %d Dispatch(0): %d firings; a re-armed due timer must fire once per iteration", i, n)
				}
			}
			// And the loop does not sleep while it is due.
			dispatchUntil(t, l, &s, func() bool { return n >= 8 })
		})
	}
}

func TestTimerRearmedInPastDoesNotStarveOthers(t *testing.T) {
	// A timer re-arming itself in the past must not keep other due timers
	// from firing: every timer due when the iteration polled fires in it.
	l := newLoop[testState](t)
	var s testState
	now := time.Now()
	early := now.Add(-10 * time.Millisecond)
	a, b := 0, 0
	if _, err := l.AddTimerAt(early, func(_ *testState, d time.Time) calloop.TimerAction {
		a++
		return calloop.At(d) // same past deadline: due again at once
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimerAt(now.Add(-5*time.Millisecond), func(*testState, time.Time) calloop.TimerAction {
		b++
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5 && b == 0; i++ {
		ctDispatch0(t, l, &s, 1)
	}
	if b != 1 {
		t.Fatalf("after %d iterations the second due timer fired %d times, want 1 in the first iteration (starved by a timer re-armed in the past)", a, b)
	}
	if a != 1 {
		t.Fatalf("the second due timer fired only in iteration %d, want the first", a)
	}
}

func TestTimerCancel(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	fired := map[string]bool{}
	tok, err := l.AddTimer(10*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
		fired["removed"] = true
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
	// Two due timers: the first removes the second, which must not fire.
	past := time.Now().Add(-time.Millisecond)
	var second calloop.Token
	if _, err := l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
		fired["first"] = true
		if err := l.Remove(second); err != nil {
			t.Errorf("Remove(due timer) = %v", err)
		}
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	second, err = l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
		fired["second"] = true
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	sentinel := false
	if _, err := l.AddTimer(30*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
		sentinel = true
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	dispatchUntil(t, l, &s, func() bool { return sentinel })
	if fired["removed"] || fired["second"] || !fired["first"] {
		t.Fatalf("fired %v; want only first", fired)
	}
}

func TestResetTimer(t *testing.T) {
	t.Run("earlier", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		n := 0
		tok, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { n++; return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ResetTimer(tok, 0); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 1)
		if n != 1 {
			t.Fatal("timer reset to 0 did not fire")
		}
	})
	t.Run("later", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		n := 0
		tok, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { n++; return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ResetTimer(tok, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := l.Dispatch(20*time.Millisecond, &s); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("timer reset to an hour fired")
		}
		if err := l.Remove(tok); err != nil {
			t.Fatalf("Remove of the pending reset timer = %v", err)
		}
	})
	t.Run("at", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var got time.Time
		tok, err := l.AddTimer(time.Hour, func(_ *testState, d time.Time) calloop.TimerAction { got = d; return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(5 * time.Millisecond)
		if err := l.ResetTimerAt(tok, at); err != nil {
			t.Fatal(err)
		}
		dispatchUntil(t, l, &s, func() bool { return !got.IsZero() })
		if !got.Equal(at) {
			t.Fatalf("deadline %v, want %v", got, at)
		}
	})
	t.Run("from own callback, action wins", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		n := 0
		var tok calloop.Token
		var err error
		tok, err = l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			n++
			if err := l.ResetTimer(tok, 0); err != nil {
				t.Errorf("ResetTimer(self) = %v", err)
			}
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 3)
		if n != 1 {
			t.Fatalf("fired %d times; the Drop returned after ResetTimer(self) must win", n)
		}
		if err := l.ResetTimer(tok, 0); !isInvalid(err) {
			t.Fatalf("ResetTimer after Drop = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("another due timer from a callback", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		past := time.Now().Add(-time.Millisecond)
		var log []string
		var second calloop.Token
		if _, err := l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, "first")
			if err := l.ResetTimer(second, time.Hour); err != nil {
				t.Errorf("ResetTimer = %v", err)
			}
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		var err error
		second, err = l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, "second")
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 2)
		if fmt.Sprint(log) != "[first]" {
			t.Fatalf("log %v: a due timer postponed by another's callback fired anyway", log)
		}
	})
	t.Run("disabled keeps new deadline until enabled", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		n := 0
		tok, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { n++; return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Disable(tok); err != nil {
			t.Fatal(err)
		}
		if err := l.ResetTimer(tok, 0); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 2)
		if n != 0 {
			t.Fatal("disabled timer fired after ResetTimer")
		}
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 1)
		if n != 1 {
			t.Fatal("enabled timer with a past deadline did not fire in the next iteration")
		}
	})
}

func TestTimerDisableKeepsDeadline(t *testing.T) {
	vc := calloop.NewVirtualClock(time.Unix(1000, 0))
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	at := vc.Now().Add(10 * time.Millisecond)
	var got []time.Time
	tok, err := l.AddTimerAt(at, func(_ *testState, d time.Time) calloop.TimerAction {
		got = append(got, d)
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Disable(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Disable(tok); err != nil {
		t.Fatalf("second Disable = %v", err)
	}
	// Past the deadline while disabled: nothing fires.
	vc.Advance(30 * time.Millisecond)
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatal("disabled timer fired")
	}
	if err := l.Enable(tok); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(got) != 1 || !got[0].Equal(at) {
		t.Fatalf("after Enable: fired with %v, want once with the original deadline %v", got, at)
	}
}

func TestTimerDisableFromOwnCallback(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	n := 0
	var tok calloop.Token
	var err error
	tok, err = l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		n++
		if err := l.Disable(tok); err != nil {
			t.Errorf("Disable(self) = %v", err)
		}
		return calloop.Again(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 3)
	if n != 1 {
		t.Fatalf("timer that disabled itself fired %d times", n)
	}
	if err := l.Enable(tok); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if n != 2 {
		t.Fatalf("re-enabled timer (re-armed with Again(0) while disabled) fired %d times in total, want 2", n)
	}
}

func TestTimerHugeDurations(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	fired := map[string]int{}
	add := func(name string, d time.Duration) calloop.Token {
		tok, err := l.AddTimer(d, func(*testState, time.Time) calloop.TimerAction {
			fired[name]++
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	add("max", math.MaxInt64)
	add("max-1", math.MaxInt64-1)
	if _, err := l.AddTimerAt(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), func(*testState, time.Time) calloop.TimerAction {
		fired["year 3000"]++
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	reset := add("reset to max", 0)
	if err := l.ResetTimer(reset, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	again := 0
	againTok, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		again++
		return calloop.Again(math.MaxInt64)
	})
	if err != nil {
		t.Fatal(err)
	}
	add("small", 5*time.Millisecond)
	// With only never-firing timers left, Dispatch sleeps its full timeout.
	dispatchUntil(t, l, &s, func() bool { return fired["small"] == 1 })
	start := time.Now()
	if err := l.Dispatch(30*time.Millisecond, &s); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("Dispatch(30ms) with only huge timers returned after %v", el)
	}
	if fired["max"]+fired["max-1"]+fired["year 3000"]+fired["reset to max"] != 0 || again != 1 {
		t.Fatalf("huge timers fired: %v, Again(max) timer fired %d times", fired, again)
	}
	// They are still valid timers and can be moved back into range.
	if err := l.ResetTimer(reset, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.ResetTimer(againTok, 0); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if fired["reset to max"] != 1 || again != 2 {
		t.Fatalf("huge timers reset to 0: fired %v, again %d", fired, again)
	}
}

func TestTimersMillionHalfCancelled(t *testing.T) {
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 200_000
	}
	l := newLoop[testState](t)
	var s testState
	count := 0
	last := time.Time{}
	ordered := true
	fn := func(_ *testState, d time.Time) calloop.TimerAction {
		count++
		if d.Before(last) {
			ordered = false
		}
		last = d
		return calloop.Drop()
	}
	base := time.Now().Add(-time.Second)
	toks := make([]calloop.Token, n)
	for i := range n {
		tok, err := l.AddTimerAt(base.Add(time.Duration((i*7919)%n)*time.Nanosecond), fn)
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = tok
	}
	for i := 1; i < n; i += 2 {
		if err := l.Remove(toks[i]); err != nil {
			t.Fatalf("Remove #%d: %v", i, err)
		}
	}
	ctDispatch0(t, l, &s, 1)
	if count != n/2 {
		t.Fatalf("%d timers, %d cancelled: %d fired, want %d", n, n/2, count, n/2)
	}
	if !ordered {
		t.Fatal("timers fired out of deadline order")
	}
	ctDispatch0(t, l, &s, 1)
	if count != n/2 {
		t.Fatalf("%d more timers fired after all were due", count-n/2)
	}
	for i := 0; i < n; i += n / 100 {
		if err := l.Remove(toks[i]); !isInvalid(err) {
			t.Fatalf("Remove(fired timer #%d) = %v, want ErrInvalidToken", i, err)
		}
	}
}

func TestTimerCancelAndReinsertManyTimes(t *testing.T) {
	// calloop #238: extending a timeout by cancel + insert must not grow
	// anything. Many cycles must stay fast; a leaked heap entry per cycle
	// would make each later operation slower and the dispatches longer.
	n := 300_000
	if raceEnabled {
		n = 100_000
	}
	l := newLoop[testState](t)
	var s testState
	fn := func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }
	other, err := l.AddTimer(time.Hour, fn)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.AddTimer(10*time.Minute, fn)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Remove(tok); err != nil {
			t.Fatal(err)
		}
		if tok, err = l.AddTimer(10*time.Minute, fn); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			ctDispatch0(t, l, &s, 1)
		}
	}
	if err := l.Remove(other); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
}

func TestTimerManyDueWithRearmsIntoThePast(t *testing.T) {
	// More due timers than one internal round, each re-arming itself into
	// the past once: every one fires exactly once per iteration, in
	// deadline order, and a due timer postponed by an earlier callback
	// does not fire.
	l := newLoop[testState](t)
	var s testState
	const n = 3000
	base := time.Now().Add(-15 * time.Millisecond)
	fired := make([]int, n)
	var order []int
	var toks [n]calloop.Token
	for i := range n {
		var err error
		toks[i], err = l.AddTimerAt(base.Add(time.Duration(i)*time.Microsecond), func(_ *testState, d time.Time) calloop.TimerAction {
			fired[i]++
			order = append(order, i)
			if i == 10 {
				if err := l.ResetTimer(toks[2500], time.Hour); err != nil {
					t.Errorf("ResetTimer = %v", err)
				}
			}
			if fired[i] == 1 {
				return calloop.At(d)
			}
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for iter := 1; iter <= 2; iter++ {
		order = order[:0]
		ctDispatch0(t, l, &s, 1)
		for i, f := range fired {
			want := iter
			if i == 2500 {
				want = 0
			}
			if f != want {
				t.Fatalf("iteration %d: timer %d fired %d times, want %d", iter, i, f, want)
			}
		}
		for k := 1; k < len(order); k++ {
			if order[k] <= order[k-1] {
				t.Fatalf("iteration %d: timer %d fired after timer %d", iter, order[k], order[k-1])
			}
		}
	}
	ctDispatch0(t, l, &s, 1)
	if len(order) != n-1 {
		t.Fatalf("third iteration fired %d timers, want none", len(order)-(n-1))
	}
}

func TestTimerDisabledByEarlierCallbackInSameIteration(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	past := time.Now().Add(-5 * time.Millisecond)
	var log []string
	var second calloop.Token
	if _, err := l.AddTimerAt(past, func(*testState, time.Time) calloop.TimerAction {
		log = append(log, "first")
		if err := l.Disable(second); err != nil {
			t.Errorf("Disable(due timer) = %v", err)
		}
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	var err error
	second, err = l.AddTimerAt(past.Add(time.Millisecond), func(_ *testState, d time.Time) calloop.TimerAction {
		log = append(log, "second")
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 2)
	if strings.Join(log, ",") != "first" {
		t.Fatalf("log %v: a due timer disabled by an earlier callback fired", log)
	}
	if err := l.Enable(second); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if strings.Join(log, ",") != "first,second" {
		t.Fatalf("log %v: the re-enabled timer (deadline passed) did not fire in the next iteration", log)
	}
}
