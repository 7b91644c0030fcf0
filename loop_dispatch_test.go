//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// Dispatch itself: one at a time, its clock, its event batch, its thread, its allocations, its timeout.

func TestConcurrentDispatchIsDetected(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s1, s2 testState
		entered := make(chan struct{}, 1)
		src := &ctSource{hook: true, onHook: func() {
			select {
			case entered <- struct{}{}:
			default:
			}
		}}
		if _, err := l.AddSource(src.as()); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Dispatch(-1, &s1) }()
		select {
		case <-entered: // the other goroutine is inside Dispatch
		case <-time.After(watchdogTimeout):
			t.Fatal("Dispatch did not start")
		}
		if err := l.Dispatch(0, &s2); !errors.Is(err, calloop.ErrDispatching) {
			t.Errorf("second concurrent Dispatch = %v, want ErrDispatching", err)
		}
		if err := l.Run(context.Background(), &s2); !errors.Is(err, calloop.ErrDispatching) {
			t.Errorf("concurrent Run = %v, want ErrDispatching", err)
		}
		l.Wakeup()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("first Dispatch = %v", err)
			}
		case <-time.After(watchdogTimeout):
			t.Fatal("Wakeup did not end the first Dispatch")
		}
		// Ownership passes back: this goroutine may dispatch now.
		if err := l.Dispatch(0, &s2); err != nil {
			t.Fatalf("Dispatch after the other one ended = %v", err)
		}
	})
}

func TestDispatchFromCallbackIsDetected(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var dErr, rErr error
	if _, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		dErr = l.Dispatch(0, s)
		rErr = l.Run(context.Background(), s)
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dErr, calloop.ErrDispatching) || !errors.Is(rErr, calloop.ErrDispatching) {
		t.Fatalf("Dispatch/Run from a callback = %v / %v, want ErrDispatching", dErr, rErr)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch afterwards = %v", err)
	}
}

func TestNowDuringDispatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	var seen []time.Time
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		drainFD(a.fd)
		seen = append(seen, l.Now())
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		before := time.Now()
		writeFD(t, b, "x")
		if err := l.Dispatch(time.Second, &s); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		if len(seen) != i+1 {
			t.Fatalf("fd callback ran %d times, want %d", len(seen), i+1)
		}
		if now := seen[i]; now.Before(before) || now.After(after) {
			t.Fatalf("iteration %d: Now() in a callback = %v, not within the Dispatch call [%v, %v]", i, now, before, after)
		}
	}
}

func TestEventBatchGrows(t *testing.T) {
	l := newLoop[testState](t, calloop.WithEventBatch(2))
	var s testState
	const n = 7
	calls := make([]int, n)
	for i := range n {
		a, b := socketPair(t)
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
			calls[i]++
			return calloop.Continue
		}); err != nil {
			t.Fatal(err)
		}
		writeFD(t, b, "x")
	}
	// A poll that fills the batch makes the next one bigger; soon one
	// Dispatch sees every ready fd.
	for range 5 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	clear(calls)
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		if c != 1 {
			t.Fatalf("after growth, fd %d called %d times in one Dispatch, want 1 (calls %v)", i, c, calls)
		}
	}
}

func TestLockOSThreadRunsCallbacksOnOneThread(t *testing.T) {
	l := newLoop[testState](t, calloop.WithLockOSThread())
	var s testState
	tids := map[int]bool{}
	var mu sync.Mutex
	n := 0
	if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		mu.Lock()
		tids[unix.Gettid()] = true
		mu.Unlock()
		n++
		runtime.Gosched()
		if n == 50 {
			l.Stop()
			return calloop.Drop()
		}
		return calloop.Again(0)
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	if len(tids) != 1 {
		t.Fatalf("callbacks ran on %d OS threads with WithLockOSThread, want 1", len(tids))
	}
}

func TestSteadyStateDispatchDoesNotAllocate(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, l *calloop.Loop[testState]) func()
	}{
		{"fd event", func(t *testing.T, l *calloop.Loop[testState]) func() {
			a, b := socketPair(t)
			buf := make([]byte, 1)
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
				unix.Read(a.fd, buf)
				s.n++
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
			one := []byte{1}
			return func() { unix.Write(b.fd, one) }
		}},
		{"timer re-arm", func(t *testing.T, l *calloop.Loop[testState]) func() {
			if _, err := l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
				s.n++
				return calloop.Again(0)
			}); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}},
		{"wakeup", func(t *testing.T, l *calloop.Loop[testState]) func() {
			return l.Wakeup
		}},
		{"custom source synthetic event", func(t *testing.T, l *calloop.Loop[testState]) func() {
			src := &ctSource{}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
			src.events = make([]ctEv, 0, 4096)
			return func() { src.reg.Ready(1, calloop.Readable) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			trigger := c.setup(t, l)
			round := func() {
				trigger()
				l.Dispatch(0, &s)
			}
			for range 20 {
				round()
			}
			if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
				t.Fatalf("%s: %v allocations per dispatch, want 0", c.name, allocs)
			}
		})
	}
}

func TestDispatchTimeoutSurvivesSignals(t *testing.T) {
	// Signals interrupting the kernel wait (EINTR) must neither end the
	// wait early nor extend it: the iteration keeps its deadline.
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		l := newLoop[testState](t, opts...)
		var s testState
		pid, tid := unix.Getpid(), unix.Gettid()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tk := time.NewTicker(500 * time.Microsecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					unix.Tgkill(pid, tid, unix.SIGURG) // the runtime ignores it, but it interrupts syscalls
				}
			}
		}()
		defer func() { close(stop); <-done }()
		var firedAt time.Time
		var deadline time.Time
		if _, err := l.AddTimer(40*time.Millisecond, func(_ *testState, d time.Time) calloop.TimerAction {
			firedAt, deadline = time.Now(), d
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := l.Dispatch(20*time.Millisecond, &s); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		if el < 20*time.Millisecond {
			t.Fatalf("Dispatch(20ms) under signals returned after %v", el)
		}
		if !firedAt.IsZero() && firedAt.Before(deadline) {
			t.Fatalf("40ms timer fired early, in a Dispatch(20ms) that took %v", el)
		}
		dispatchUntil(t, l, &s, func() bool { return !firedAt.IsZero() })
		if firedAt.Before(deadline) {
			t.Fatalf("timer fired at %v, before its deadline %v", firedAt, deadline)
		}
		// Wakeup still works under a signal storm.
		go l.Wakeup()
		d := armWatchdog(t, l)
		err := l.Dispatch(-1, &s)
		exp := d.expired()
		d.stop()
		if err != nil || exp {
			t.Fatalf("Wakeup under signals: err %v, watchdog %v", err, exp)
		}
	})
}
