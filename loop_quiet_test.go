//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// TestDispatchWithNothingFromKernel: a Dispatch whose poll returns no kernel
// event still dispatches whatever else is there (Dispatch ends early only
// when there is nothing at all): idle callbacks, due timers, synthetic
// events, pings rung from the loop's own goroutine (no kernel event: the
// loop is not armed), and a failure recorded between dispatches.
func TestDispatchWithNothingFromKernel(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		l := newLoop[testState](t)
		ran := 0
		if _, err := l.AddIdle(func(*testState) { ran++ }); err != nil {
			t.Fatal(err)
		}
		var s testState
		if err := l.Dispatch(0, &s); err != nil || ran != 1 {
			t.Fatalf("Dispatch(0) = %v, idle ran %d times, want 1", err, ran)
		}
	})
	t.Run("due timer", func(t *testing.T) {
		vc := calloop.NewVirtualClock(time.Unix(1000, 0))
		l := newLoop[testState](t, calloop.WithClock(vc))
		fired := 0
		if _, err := l.AddTimer(10*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
			fired++
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		var s testState
		if err := l.Dispatch(0, &s); err != nil || fired != 0 {
			t.Fatalf("Dispatch(0) before the deadline = %v, fired %d", err, fired)
		}
		vc.Advance(10 * time.Millisecond)
		if err := l.Dispatch(0, &s); err != nil || fired != 1 {
			t.Fatalf("Dispatch(0) at the deadline = %v, timer fired %d times, want 1", err, fired)
		}
	})
	t.Run("timer pending, none due", func(t *testing.T) {
		vc := calloop.NewVirtualClock(time.Unix(1000, 0))
		l := newLoop[testState](t, calloop.WithClock(vc))
		ran := 0
		if _, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddIdle(func(*testState) { ran++ }); err != nil {
			t.Fatal(err)
		}
		var s testState
		if err := l.Dispatch(0, &s); err != nil || ran != 1 {
			t.Fatalf("Dispatch(0) = %v, idle ran %d times, want 1", err, ran)
		}
	})
	t.Run("synthetic event", func(t *testing.T) {
		l := newLoop[testState](t)
		src := &ctSource{readyOnce: true} // Register raises one synthetic event
		if _, err := l.AddSource(src.as()); err != nil {
			t.Fatal(err)
		}
		var s testState
		if err := l.Dispatch(0, &s); err != nil || len(src.events) != 1 {
			t.Fatalf("Dispatch(0) = %v, Process called %d times, want 1", err, len(src.events))
		}
	})
	t.Run("ping from the loop goroutine", func(t *testing.T) {
		l := newLoop[testState](t)
		ran := 0
		p, err := calloop.NewPing(l, func(*testState) { ran++ })
		if err != nil {
			t.Fatal(err)
		}
		if calloop.Armed(l) {
			t.Fatal("an idle loop between dispatches is armed: the ping would reach the kernel")
		}
		p.Ping()
		var s testState
		if err := l.Dispatch(0, &s); err != nil || ran != 1 {
			t.Fatalf("Dispatch(0) = %v, ping ran %d times, want 1", err, ran)
		}
	})
	t.Run("failure between dispatches", func(t *testing.T) {
		l := newLoop[testState](t)
		boom := errors.New("boom")
		l.Fail(boom)
		var s testState
		if err := l.Dispatch(0, &s); !errors.Is(err, boom) {
			t.Fatalf("Dispatch(0) = %v, want the recorded failure", err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatalf("the next Dispatch(0) = %v, want nil", err)
		}
	})
	t.Run("stats count it", func(t *testing.T) {
		l := newLoop[testState](t, calloop.WithStats())
		var s testState
		for range 3 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		if n := l.Stats().Iterations; n != 3 {
			t.Fatalf("Stats().Iterations = %d after 3 empty dispatches, want 3", n)
		}
		// The queue lengths are published by an iteration with nothing
		// to dispatch too.
		tm, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if n := l.Stats().Timers; n != 1 {
			t.Fatalf("Stats().Timers = %d with a timer set, want 1", n)
		}
		if err := l.Remove(tm); err != nil {
			t.Fatal(err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if n := l.Stats().Timers; n != 0 {
			t.Fatalf("Stats().Timers = %d after an empty dispatch with no timer left, want 0", n)
		}
	})
	t.Run("close from another goroutine during a sleep", func(t *testing.T) {
		l := newLoop[testState](t)
		closed := make(chan error, 1)
		go func() {
			for !calloop.Armed(l) { // asleep, or about to be
				runtime.Gosched()
			}
			closed <- l.Close()
		}()
		var s testState
		if err := l.Dispatch(-1, &s); err != nil {
			t.Fatalf("Dispatch(-1) woken by Close = %v", err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch(0) after Close = %v, want ErrClosed: the woken Dispatch did not close", err)
		}
	})
}

// TestRunNoticesCancelInBusyLoop: Run looks at its context at the end of
// every 64th iteration even when the context package's goroutine, which
// tells the loop at once, cannot run (one P, a loop that never sleeps): a
// context cancelled from a callback ends Run within 64 iterations.
func TestRunNoticesCancelInBusyLoop(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, at := range []int{1, 5, 63, 64, 65, 100} {
		l := newLoop[testState](t)
		ctx, cancel := context.WithCancel(context.Background())
		iters, cancelledAt := 0, 0
		var again func(*testState)
		again = func(*testState) {
			iters++
			if iters == at {
				cancel()
				cancelledAt = iters
			}
			if _, err := l.AddIdle(again); err != nil { // the loop never sleeps
				t.Error(err)
			}
		}
		if _, err := l.AddIdle(again); err != nil {
			t.Fatal(err)
		}
		var s testState
		d := armWatchdog(t, l)
		err := l.Run(ctx, &s)
		exp := d.expired()
		d.stop()
		cancel()
		if exp || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel at iteration %d: Run = %v (watchdog %v), want context.Canceled", at, err, exp)
		}
		if late := iters - cancelledAt; late >= 64 {
			t.Fatalf("cancel at iteration %d: Run ran %d more iterations, want fewer than 64", at, late)
		}
	}
}

// TestRunCancelledBeforeStart: a context done before Run starts ends it
// after exactly one iteration, whether or not that iteration had work.
func TestRunCancelledBeforeStart(t *testing.T) {
	l := newLoop[testState](t)
	iters := 0
	var again func(*testState)
	again = func(*testState) {
		iters++
		if _, err := l.AddIdle(again); err != nil {
			t.Error(err)
		}
	}
	if _, err := l.AddIdle(again); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var s testState
	if err := l.Run(ctx, &s); !errors.Is(err, context.Canceled) || iters != 1 {
		t.Fatalf("Run = %v after %d iterations, want context.Canceled after 1", err, iters)
	}
}
