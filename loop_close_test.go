//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// Close: idempotent, from anywhere, leaves nothing behind.

func TestCloseIsIdempotentAndLaterCallsFail(t *testing.T) {
	l, err := calloop.New[testState]()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := socketPair(t)
	fdTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue })
	if err != nil {
		t.Fatal(err)
	}
	tmTok, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	if err != nil {
		t.Fatal(err)
	}
	p, err := calloop.NewPing(l, func(*testState) {})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := calloop.NewChannel(l, func(*testState, int, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}
	var s testState
	nop := func(*testState, calloop.Events) calloop.Action { return calloop.Continue }
	checks := map[string]error{
		"Dispatch":   l.Dispatch(0, &s),
		"Run":        l.Run(context.Background(), &s),
		"Remove":     l.Remove(fdTok),
		"Enable":     l.Enable(fdTok),
		"Disable":    l.Disable(fdTok),
		"ModifyFD":   l.ModifyFD(fdTok, calloop.Writable, calloop.Level),
		"ResetTimer": l.ResetTimer(tmTok, time.Second),
		"Send":       tx.Send(1),
		"TrySend":    tx.TrySend(1),
	}
	_, checks["AddFD"] = l.AddFD(a.fd, calloop.Readable, calloop.Level, nop)
	_, checks["AddTimer"] = l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	_, checks["AddIdle"] = l.AddIdle(func(*testState) {})
	_, checks["AddSource"] = l.AddSource((&ctSource{}).as())
	_, checks["NewPing"] = calloop.NewPing(l, func(*testState) {})
	_, checks["NewChannel"] = calloop.NewChannel(l, func(*testState, int, bool) {})
	for name, err := range checks {
		if !errors.Is(err, calloop.ErrClosed) {
			t.Errorf("%s on a closed loop = %v, want ErrClosed", name, err)
		}
	}
	// Safe from any goroutine even after Close: no panic, no effect.
	p.Ping()
	l.Stop()
	l.Wakeup()
	tx.Close()
}

func TestCloseLeavesNoDescriptors(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		countFDs(t) // let the runtime open whatever it opens on first use
		before := countFDs(t)
		func() {
			l, err := calloop.New[testState](opts...)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := calloop.New[testState](opts...)
			if err != nil {
				t.Fatal(err)
			}
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if _, err := l.AddFD(fds[0], calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
				t.Fatal(err)
			}
			if _, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() }); err != nil {
				t.Fatal(err)
			}
			p, err := calloop.NewPing(l, func(*testState) {})
			if err != nil {
				t.Fatal(err)
			}
			tx, err := calloop.NewChannel(l, func(*testState, int, bool) {})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := calloop.AddLoop(l, inner, func(s *testState) *testState { return s }); err != nil {
				t.Fatal(err)
			}
			var s testState
			p.Ping()
			tx.Send(1)
			writeFD(t, &testFD{fds[1]}, "x")
			for range 3 {
				if err := l.Dispatch(0, &s); err != nil {
					t.Fatal(err)
				}
			}
			if mid := countFDs(t); mid < before+6 { // two loops, their wakeups, a socketpair
				t.Fatalf("open descriptors: %d before New, %d with two loops: the count is not working", before, mid)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := inner.Close(); err != nil {
				t.Fatal(err)
			}
			tx.Close()
		}()
		if after := countFDs(t); after != before {
			t.Fatalf("open descriptors: %d before New, %d after Close", before, after)
		}
	})
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		ignore := goleak.IgnoreCurrent()
		l, err := calloop.New[testState](opts...)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := calloop.NewBoundedChannel(l, 1, func(*testState, int, bool) {})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Send(1); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error, 1)
		go func() { blocked <- tx.Send(2) }() // blocks: the channel is full
		ctx, cancel := context.WithCancel(context.Background())
		var s testState
		if _, err := l.AddIdle(func(*testState) { cancel() }); err != nil {
			t.Fatal(err)
		}
		if err := l.Run(ctx, &s); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-blocked:
			if err != nil && !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("blocked Send released by Close = %v", err)
			}
		case <-time.After(watchdogTimeout):
			t.Fatal("Close did not release a blocked Send")
		}
		goleak.VerifyNone(t, ignore)
	})
}

func TestCloseFromCallbackTakesEffectWhenDispatchReturns(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var later error
	ran := false
	if _, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		if err := l.Close(); err != nil {
			t.Errorf("Close from a callback = %v", err)
		}
		// Still dispatching: the loop is usable until Dispatch returns.
		_, later = l.AddIdle(func(*testState) { ran = true })
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch that closed the loop = %v", err)
	}
	if later != nil {
		t.Errorf("AddIdle after Close, in the same callback = %v, want nil", later)
	}
	if !ran {
		t.Errorf("idle queued in the iteration that closed the loop did not run")
	}
	if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Dispatch after Close in a callback = %v, want ErrClosed", err)
	}
}

func TestCloseFromOtherGoroutineWhileBlocked(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		entered := make(chan struct{}, 1)
		if _, err := l.AddSource((&ctSource{hook: true, onHook: func() {
			select {
			case entered <- struct{}{}:
			default:
			}
		}}).as()); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Dispatch(-1, &s) }()
		select {
		case <-entered:
		case <-time.After(watchdogTimeout):
			t.Fatal("Dispatch did not start")
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close while dispatching = %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Dispatch ended by Close = %v", err)
			}
		case <-time.After(watchdogTimeout):
			t.Fatal("Close did not wake the blocked Dispatch")
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch after Close = %v, want ErrClosed", err)
		}
	})
}

func TestRunEndsWithErrClosedWhenClosedFromCallback(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		l.Close()
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background(), &s) }()
	select {
	case err := <-done:
		if !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Run after Close from a callback = %v, want ErrClosed", err)
		}
	case <-time.After(watchdogTimeout):
		t.Fatal("Run did not end after the loop was closed from a callback")
	}
}

func TestRunEndsWithErrClosedWhenClosedFromOtherGoroutine(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		if _, err := l.AddIdle(func(*testState) { go l.Close() }); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Run(context.Background(), &s) }()
		select {
		case err := <-done:
			if !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("Run while the loop is closed by another goroutine = %v, want ErrClosed", err)
			}
		case <-time.After(watchdogTimeout):
			t.Fatal("Close from another goroutine did not end Run")
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch after Close = %v", err)
		}
	})
}

// TestRunEndsWithErrClosedWhenClosedWhileBusy: Run holds the loop across
// iterations, so a Close from another goroutine while the loop never sleeps
// (a level-triggered fd that stays readable) is carried out by Run itself,
// at the end of an iteration, and the descriptor is released.
func TestRunEndsWithErrClosedWhenClosedWhileBusy(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	writeFD(t, b, "x") // never drained: readable in every iteration
	busy := make(chan struct{})
	n := 0
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		if n++; n == 100 {
			close(busy)
		}
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background(), &s) }()
	<-busy
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Run of a busy loop closed by another goroutine = %v, want ErrClosed", err)
		}
	case <-time.After(watchdogTimeout):
		t.Fatal("Close from another goroutine did not end a busy Run")
	}
	if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Dispatch after Close = %v, want ErrClosed", err)
	}
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue }); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("AddFD after Close = %v, want ErrClosed", err)
	}
}
