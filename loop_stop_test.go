//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Wakeup and Stop: a sleeping loop wakes, and a request made before Run or Dispatch is not lost.

func TestWakeupEndsBlockedDispatch(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		rounds := 200
		if raceEnabled {
			rounds = 100
		}
		for i := range rounds {
			go func() {
				if i%2 == 0 {
					runtime.Gosched()
				}
				l.Wakeup()
			}()
			d := armWatchdog(t, l)
			if err := l.Dispatch(-1, &s); err != nil {
				t.Fatal(err)
			}
			exp := d.expired()
			d.stop()
			if exp {
				t.Fatalf("round %d: Wakeup did not end Dispatch(-1)", i)
			}
		}
	})
}

func TestWakeupBeforeDispatchIsNotLost(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		l.Wakeup()
		d := armWatchdog(t, l)
		defer d.stop()
		if err := l.Dispatch(-1, &s); err != nil {
			t.Fatal(err)
		}
		if d.expired() {
			t.Fatal("a Wakeup sent before Dispatch was lost")
		}
	})
}

func TestStopFromGoroutineEndsRun(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		rounds := 100
		for i := range rounds {
			// The idle runs inside Run: the Stop races with the loop going to sleep.
			if _, err := l.AddIdle(func(*testState) {
				go func() {
					if i%2 == 0 {
						runtime.Gosched()
					}
					l.Stop()
				}()
			}); err != nil {
				t.Fatal(err)
			}
			d := armWatchdog(t, l)
			err := l.Run(context.Background(), &s)
			exp := d.expired()
			d.stop()
			if err != nil {
				t.Fatalf("round %d: Run: %v", i, err)
			}
			if exp {
				t.Fatalf("round %d: Stop from another goroutine did not end Run", i)
			}
		}
	})
}

func TestStopBeforeRunIsNotLost(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		// Nothing to do: Run must not sleep through the earlier Stop.
		l.Stop()
		d0 := armWatchdog(t, l)
		err0 := l.Run(context.Background(), &s)
		exp0 := d0.expired()
		d0.stop()
		if err0 != nil || exp0 {
			t.Fatalf("Run after Stop on an idle loop: err %v, watchdog %v", err0, exp0)
		}
		// With work queued: Run returns after exactly one iteration.
		if _, err := l.AddIdle(func(s *testState) { s.n++ }); err != nil {
			t.Fatal(err)
		}
		l.Stop()
		d := armWatchdog(t, l)
		err := l.Run(context.Background(), &s)
		exp := d.expired()
		d.stop()
		if err != nil || exp {
			t.Fatalf("Run after Stop: err %v, watchdog %v", err, exp)
		}
		if s.n != 1 {
			t.Fatalf("Run after an early Stop ran %d idle callbacks, want 1 (one iteration)", s.n)
		}

		// The Stop was consumed: the next Run runs until the next Stop.
		fired := false
		if _, err := l.AddTimer(20*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
			fired = true
			l.Stop()
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		if err := l.Run(context.Background(), &s); err != nil {
			t.Fatal(err)
		}
		if !fired {
			t.Fatal("second Run returned before its Stop: the first Stop was not consumed")
		}
	})
}

func TestStopFromCallbackEndsRunAfterIteration(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		s.log = append(s.log, "fd")
		l.Stop()
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "timer")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddIdle(func(s *testState) { s.log = append(s.log, "idle") }); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	if err := l.Run(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	// The iteration in which Stop was called is completed: timers and idles run.
	if got := strings.Join(s.log, ","); got != "fd,timer,idle" {
		t.Fatalf("Run with Stop in a callback ran %q, want fd,timer,idle", got)
	}
}

func TestRunContext(t *testing.T) {
	t.Run("cancel from goroutine", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, err := l.AddIdle(func(*testState) { go cancel() }); err != nil {
			t.Fatal(err)
		}
		d := armWatchdog(t, l)
		err := l.Run(ctx, &s)
		exp := d.expired()
		d.stop()
		if exp || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v (watchdog %v), want context.Canceled", err, exp)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d := armWatchdog(t, l)
		err := l.Run(ctx, &s)
		exp := d.expired()
		d.stop()
		if exp || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v (watchdog %v), want context.Canceled", err, exp)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := l.Run(ctx, &s)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el < 25*time.Millisecond || el > watchdogTimeout {
			t.Fatalf("Run with a 30ms context returned after %v", el)
		}
	})
}
