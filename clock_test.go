//go:build linux

package calloop_test

import (
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// 100,000 timers at random deadlines fire in (deadline, insertion) order as
// the test advances a virtual clock, each once, never before its deadline,
// and with no real sleeping.
func TestVirtualClock100kTimers(t *testing.T) {
	const n = 100000
	const step = 10 * time.Millisecond // the clock moves 10 ms at a time
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	type want struct {
		at time.Duration
		i  int
	}
	rng := rand.New(rand.NewSource(1))
	wants := make([]want, n)
	var got []int
	late := 0
	for i := range n {
		at := time.Duration(rng.Intn(10000)) * time.Millisecond
		wants[i] = want{at, i}
		_, err := l.AddTimer(at, func(s *testState, deadline time.Time) calloop.TimerAction {
			now := l.Now()
			if now.Before(deadline) || deadline != epoch.Add(at) {
				t.Errorf("timer %d: deadline %v at %v", i, deadline, now)
			}
			if now.Sub(deadline) >= step {
				late++
			}
			got = append(got, i)
			return calloop.Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.SliceStable(wants, func(a, b int) bool { return wants[a].at < wants[b].at })
	start := time.Now()
	for ms := 0; len(got) < n; ms += int(step / time.Millisecond) {
		if ms > 10000 {
			t.Fatalf("%d timers fired by %d ms", len(got), ms)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		// Exactly the timers due by now have fired.
		due := sort.Search(n, func(k int) bool { return wants[k].at > vc.Now().Sub(epoch) })
		if len(got) != due {
			t.Fatalf("at %d ms: %d fired, %d due", ms, len(got), due)
		}
		vc.Advance(step)
	}
	for k := range wants {
		if got[k] != wants[k].i {
			t.Fatalf("firing %d: timer %d, want %d", k, got[k], wants[k].i)
		}
	}
	if late != 0 {
		t.Fatalf("%d timers fired a step or more late", late)
	}
	if el := time.Since(start); el > 8*watchdogTimeout {
		t.Fatalf("took %v", el)
	}
}

// A blocking Dispatch on a virtual clock does not wake for a pending timer
// by itself: it returns when another goroutine advances the clock to it.
func TestVirtualClockWakesLoop(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	l.AddTimer(time.Hour, func(s *testState, _ time.Time) calloop.TimerAction { s.n++; return calloop.Drop() })
	// A real timeout shorter than the virtual hour: the timer does not fire.
	if err := l.Dispatch(5*time.Millisecond, &s); err != nil || s.n != 0 {
		t.Fatalf("fired %d times after a real 5 ms: %v", s.n, err)
	}
	vc.Advance(59 * time.Minute)
	l.Dispatch(0, &s)
	if s.n != 0 {
		t.Fatal("fired early")
	}
	go vc.Set(epoch.Add(time.Hour))
	dispatchUntil(t, l, &s, func() bool { return s.n == 1 })
	if !l.Now().Equal(epoch.Add(time.Hour)) {
		t.Fatalf("Now %v", l.Now())
	}
}

// The clock never goes back and saturates instead of overflowing; Now
// outside a dispatch reads it; Again re-arms on it.
func TestVirtualClockEdges(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	vc.Advance(-time.Hour)
	vc.Advance(0)
	vc.Set(epoch.Add(-time.Second))
	if !vc.Now().Equal(epoch) {
		t.Fatalf("went back: %v", vc.Now())
	}
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	if !l.Now().Equal(epoch) {
		t.Fatalf("Now outside a dispatch: %v", l.Now())
	}
	var at []time.Duration
	l.AddTimer(10*time.Second, func(s *testState, d time.Time) calloop.TimerAction {
		at = append(at, d.Sub(epoch))
		if len(at) == 3 {
			return calloop.Drop()
		}
		return calloop.Again(10 * time.Second)
	})
	for range 5 {
		vc.Advance(15 * time.Second)
		l.Dispatch(0, &s)
	}
	if len(at) != 3 || at[0] != 10*time.Second || at[1] != 25*time.Second || at[2] != 40*time.Second {
		t.Fatalf("fired at %v", at)
	}
	vc.Advance(time.Duration(1<<63 - 1))
	vc.Advance(time.Duration(1<<63 - 1))
	if vc.Now().Before(epoch.Add(290 * 365 * 24 * time.Hour)) {
		t.Fatalf("saturated at %v", vc.Now())
	}
	// A loop closed detaches: advancing the clock afterwards is harmless.
	l.Close()
	vc.Advance(time.Second)
}

// Task.Sleep runs on the virtual clock too.
func TestVirtualClockTaskSleep(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	var woke []time.Duration
	_, err := calloop.Spawn(l, func(tk *calloop.Task[testState]) error {
		for range 3 {
			if err := tk.Sleep(time.Minute); err != nil {
				return err
			}
			woke = append(woke, vc.Now().Sub(epoch))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		l.Dispatch(0, &s)
		vc.Advance(time.Second)
	}
	if len(woke) != 3 || woke[0] != time.Minute || woke[1] != 2*time.Minute || woke[2] != 3*time.Minute {
		t.Fatalf("woke at %v", woke)
	}
}
