//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// ---- Wakeup and Stop ----

func TestWakeupEndsBlockedDispatch(t *testing.T) {
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
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
			d := ctArmWatchdog(t, l)
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
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
		l.Wakeup()
		d := ctArmWatchdog(t, l)
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
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
		rounds := 100
		for i := range rounds {
			// The idle runs inside Run: the Stop races with the loop going to sleep.
			if _, err := l.AddIdle(func(*ctState) {
				go func() {
					if i%2 == 0 {
						runtime.Gosched()
					}
					l.Stop()
				}()
			}); err != nil {
				t.Fatal(err)
			}
			d := ctArmWatchdog(t, l)
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
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
		// Nothing to do: Run must not sleep through the earlier Stop.
		l.Stop()
		d0 := ctArmWatchdog(t, l)
		err0 := l.Run(context.Background(), &s)
		exp0 := d0.expired()
		d0.stop()
		if err0 != nil || exp0 {
			t.Fatalf("Run after Stop on an idle loop: err %v, watchdog %v", err0, exp0)
		}
		// With work queued: Run returns after exactly one iteration.
		if _, err := l.AddIdle(func(s *ctState) { s.n++ }); err != nil {
			t.Fatal(err)
		}
		l.Stop()
		d := ctArmWatchdog(t, l)
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
		if _, err := l.AddTimer(20*time.Millisecond, func(*ctState, time.Time) calloop.TimerAction {
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
	l := ctLoop[ctState](t)
	var s ctState
	a, b := ctPair(t)
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *ctState, _ calloop.Events) calloop.Action {
		s.log = append(s.log, "fd")
		l.Stop()
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimer(0, func(s *ctState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "timer")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddIdle(func(s *ctState) { s.log = append(s.log, "idle") }); err != nil {
		t.Fatal(err)
	}
	ctWrite(t, b, "x")
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
		l := ctLoop[ctState](t)
		var s ctState
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, err := l.AddIdle(func(*ctState) { go cancel() }); err != nil {
			t.Fatal(err)
		}
		d := ctArmWatchdog(t, l)
		err := l.Run(ctx, &s)
		exp := d.expired()
		d.stop()
		if exp || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v (watchdog %v), want context.Canceled", err, exp)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		l := ctLoop[ctState](t)
		var s ctState
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d := ctArmWatchdog(t, l)
		err := l.Run(ctx, &s)
		exp := d.expired()
		d.stop()
		if exp || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v (watchdog %v), want context.Canceled", err, exp)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		l := ctLoop[ctState](t)
		var s ctState
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := l.Run(ctx, &s)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el < 25*time.Millisecond || el > ctWatchdog {
			t.Fatalf("Run with a 30ms context returned after %v", el)
		}
	})
}

// ---- Failures ----

var errCT = errors.New("ct: callback failure")

func TestFailEndsRunWithError(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	past := time.Now().Add(-time.Second)
	// Two timers due in the same iteration: the first fails, the second must
	// still run (Fail finishes the iteration).
	if _, err := l.AddTimerAt(past, func(s *ctState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "fail")
		l.Fail(errCT)
		l.Fail(errors.New("second failure is dropped"))
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddTimerAt(past, func(s *ctState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "after")
		return calloop.Drop()
	}); err != nil {
		t.Fatal(err)
	}
	err := l.Run(context.Background(), &s)
	if !errors.Is(err, errCT) {
		t.Fatalf("Run = %v, want an error wrapping errCT", err)
	}
	if got := strings.Join(s.log, ","); got != "fail,after" {
		t.Fatalf("iteration with a failure ran %q, want fail,after", got)
	}
	// The failure is consumed: the loop dispatches again normally.
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch after a failure = %v, want nil", err)
	}
	if _, err := l.AddIdle(func(s *ctState) { s.n++ }); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil || s.n != 1 {
		t.Fatalf("Dispatch after a failure: err %v, idle ran %d times", err, s.n)
	}
}

func TestFailFromEveryCallbackKind(t *testing.T) {
	type setup func(t *testing.T, l *calloop.Loop[ctState])
	cases := []struct {
		name  string
		setup setup
	}{
		{"fd", func(t *testing.T, l *calloop.Loop[ctState]) {
			a, b := ctPair(t)
			ctWrite(t, b, "x")
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
				l.Fail(errCT)
				return calloop.Remove
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"timer", func(t *testing.T, l *calloop.Loop[ctState]) {
			if _, err := l.AddTimer(time.Millisecond, func(*ctState, time.Time) calloop.TimerAction {
				l.Fail(errCT)
				return calloop.Drop()
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle", func(t *testing.T, l *calloop.Loop[ctState]) {
			if _, err := l.AddIdle(func(*ctState) { l.Fail(errCT) }); err != nil {
				t.Fatal(err)
			}
		}},
		{"ping", func(t *testing.T, l *calloop.Loop[ctState]) {
			p, err := calloop.NewPing(l, func(*ctState) { l.Fail(errCT) })
			if err != nil {
				t.Fatal(err)
			}
			go p.Ping()
		}},
		{"channel", func(t *testing.T, l *calloop.Loop[ctState]) {
			tx, err := calloop.NewChannel(l, func(_ *ctState, _ int, ok bool) {
				if ok {
					l.Fail(errCT)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			go func() { tx.Send(1); tx.Close() }()
		}},
		{"source process error", func(t *testing.T, l *calloop.Loop[ctState]) {
			src := &ctSource{readyOnce: true, processErr: errCT}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
		{"source before sleep error", func(t *testing.T, l *calloop.Loop[ctState]) {
			src := &ctSource{hook: true, hookErr: errCT}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := ctLoop[ctState](t)
			var s ctState
			c.setup(t, l)
			d := ctArmWatchdog(t, l)
			err := l.Run(context.Background(), &s)
			exp := d.expired()
			d.stop()
			if exp || !errors.Is(err, errCT) {
				t.Fatalf("Run = %v (watchdog %v), want an error wrapping errCT", err, exp)
			}
		})
	}
}

func TestSourceProcessErrorKeepsSource(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	a, b := ctPair(t)
	src := &ctSource{fds: []int{a.fd}, processErr: errCT}
	tok, err := l.AddSource(src.as())
	if err != nil {
		t.Fatal(err)
	}
	ctWrite(t, b, "x")
	if err := l.Dispatch(0, &s); !errors.Is(err, errCT) {
		t.Fatalf("Dispatch = %v, want errCT", err)
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

// ---- Panics ----

func TestPanicPropagatesAndLoopRecovers(t *testing.T) {
	type setup func(t *testing.T, l *calloop.Loop[ctState], boom func())
	cases := []struct {
		name  string
		setup setup
	}{
		{"fd", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			a, b := ctPair(t)
			ctWrite(t, b, "x")
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Edge, func(*ctState, calloop.Events) calloop.Action {
				boom()
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"timer", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			if _, err := l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
				boom()
				return calloop.Drop()
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			if _, err := l.AddIdle(func(*ctState) { boom() }); err != nil {
				t.Fatal(err)
			}
		}},
		{"ping", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			p, err := calloop.NewPing(l, func(*ctState) { boom() })
			if err != nil {
				t.Fatal(err)
			}
			p.Ping()
		}},
		{"channel", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			tx, err := calloop.NewChannel(l, func(_ *ctState, _ int, ok bool) {
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
		{"source", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			src := &ctSource{readyOnce: true, onProcess: boom}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
		{"before sleep hook", func(t *testing.T, l *calloop.Loop[ctState], boom func()) {
			src := &ctSource{hook: true, onHook: boom}
			if _, err := l.AddSource(src.as()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := ctLoop[ctState](t)
			var s ctState
			boomed := false
			c.setup(t, l, func() {
				if !boomed { // a hook runs in every iteration: panic once
					boomed = true
					panic("ct boom")
				}
			})
			// Another source that must keep working.
			a, b := ctPair(t)
			other := 0
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
				other++
				ctDrain(a.fd)
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
			if v := ctRecover(func() { l.Dispatch(time.Second, &s) }); v != "ct boom" {
				t.Fatalf("Dispatch panicked with %v, want the callback's panic", v)
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
			ctWrite(t, b, "y")
			ctUntil(t, l, &s, func() bool { return other > 0 })
		})
	}
}

func TestPanicKeepsRestOfBatch(t *testing.T) {
	t.Run("fd edge events", func(t *testing.T) {
		l := ctLoop[ctState](t)
		var s ctState
		const n = 4
		calls := make([]int, n)
		panicked := false
		for i := range n {
			a, b := ctPair(t)
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Edge, func(*ctState, calloop.Events) calloop.Action {
				calls[i]++
				if !panicked {
					panicked = true
					panic("ct boom")
				}
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
			ctWrite(t, b, "x") // edge-triggered: reported once, never again
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
		l := ctLoop[ctState](t)
		var s ctState
		past := time.Now().Add(-time.Second)
		var log []int
		var toks []calloop.Token
		for i := range 3 {
			tok, err := l.AddTimerAt(past, func(*ctState, time.Time) calloop.TimerAction {
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
		if err := l.Remove(toks[0]); !ctIsInvalid(err) {
			t.Fatalf("Remove of the timer that panicked = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("idles", func(t *testing.T) {
		l := ctLoop[ctState](t)
		var s ctState
		var log []int
		for i := range 3 {
			if _, err := l.AddIdle(func(*ctState) {
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
		d := ctArmWatchdog(t, l)
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

// ---- Dispatch re-entrance ----

func TestConcurrentDispatchIsDetected(t *testing.T) {
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s1, s2 ctState
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
		case <-time.After(ctWatchdog):
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
		case <-time.After(ctWatchdog):
			t.Fatal("Wakeup did not end the first Dispatch")
		}
		// Ownership passes back: this goroutine may dispatch now.
		if err := l.Dispatch(0, &s2); err != nil {
			t.Fatalf("Dispatch after the other one ended = %v", err)
		}
	})
}

func TestDispatchFromCallbackIsDetected(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	var dErr, rErr error
	if _, err := l.AddTimer(0, func(s *ctState, _ time.Time) calloop.TimerAction {
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

// ---- Close ----

func TestCloseIsIdempotentAndLaterCallsFail(t *testing.T) {
	l, err := calloop.New[ctState]()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ctPair(t)
	fdTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action { return calloop.Continue })
	if err != nil {
		t.Fatal(err)
	}
	tmTok, err := l.AddTimer(time.Hour, func(*ctState, time.Time) calloop.TimerAction { return calloop.Drop() })
	if err != nil {
		t.Fatal(err)
	}
	p, err := calloop.NewPing(l, func(*ctState) {})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := calloop.NewChannel(l, func(*ctState, int, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}
	var s ctState
	nop := func(*ctState, calloop.Events) calloop.Action { return calloop.Continue }
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
	_, checks["AddTimer"] = l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction { return calloop.Drop() })
	_, checks["AddIdle"] = l.AddIdle(func(*ctState) {})
	_, checks["AddSource"] = l.AddSource((&ctSource{}).as())
	_, checks["NewPing"] = calloop.NewPing(l, func(*ctState) {})
	_, checks["NewChannel"] = calloop.NewChannel(l, func(*ctState, int, bool) {})
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
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		ctCountFDs(t) // let the runtime open whatever it opens on first use
		before := ctCountFDs(t)
		func() {
			l, err := calloop.New[ctState](opts...)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := calloop.New[ctState](opts...)
			if err != nil {
				t.Fatal(err)
			}
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if _, err := l.AddFD(fds[0], calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
				t.Fatal(err)
			}
			if _, err := l.AddTimer(time.Hour, func(*ctState, time.Time) calloop.TimerAction { return calloop.Drop() }); err != nil {
				t.Fatal(err)
			}
			p, err := calloop.NewPing(l, func(*ctState) {})
			if err != nil {
				t.Fatal(err)
			}
			tx, err := calloop.NewChannel(l, func(*ctState, int, bool) {})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := calloop.AddLoop(l, inner, func(s *ctState) *ctState { return s }); err != nil {
				t.Fatal(err)
			}
			var s ctState
			p.Ping()
			tx.Send(1)
			ctWrite(t, &ctFD{fds[1]}, "x")
			for range 3 {
				if err := l.Dispatch(0, &s); err != nil {
					t.Fatal(err)
				}
			}
			if mid := ctCountFDs(t); mid < before+6 { // two loops, their wakeups, a socketpair
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
		if after := ctCountFDs(t); after != before {
			t.Fatalf("open descriptors: %d before New, %d after Close", before, after)
		}
	})
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		ignore := goleak.IgnoreCurrent()
		l, err := calloop.New[ctState](opts...)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := calloop.NewBoundedChannel(l, 1, func(*ctState, int, bool) {})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Send(1); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error, 1)
		go func() { blocked <- tx.Send(2) }() // blocks: the channel is full
		ctx, cancel := context.WithCancel(context.Background())
		var s ctState
		if _, err := l.AddIdle(func(*ctState) { cancel() }); err != nil {
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
		case <-time.After(ctWatchdog):
			t.Fatal("Close did not release a blocked Send")
		}
		goleak.VerifyNone(t, ignore)
	})
}

func TestCloseFromCallbackTakesEffectWhenDispatchReturns(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	var later error
	ran := false
	if _, err := l.AddTimer(0, func(s *ctState, _ time.Time) calloop.TimerAction {
		if err := l.Close(); err != nil {
			t.Errorf("Close from a callback = %v", err)
		}
		// Still dispatching: the loop is usable until Dispatch returns.
		_, later = l.AddIdle(func(*ctState) { ran = true })
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
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
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
		case <-time.After(ctWatchdog):
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
		case <-time.After(ctWatchdog):
			t.Fatal("Close did not wake the blocked Dispatch")
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch after Close = %v, want ErrClosed", err)
		}
	})
}

// ---- Tokens ----

func TestStaleAndZeroTokensAreInvalid(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	a, _ := ctPair(t)
	nop := func(*ctState, calloop.Events) calloop.Action { return calloop.Continue }
	mk := map[string]func() calloop.Token{
		"fd": func() calloop.Token {
			tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, nop)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"timer": func() calloop.Token {
			tok, err := l.AddTimer(time.Hour, func(*ctState, time.Time) calloop.TimerAction { return calloop.Drop() })
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"idle": func() calloop.Token {
			tok, err := l.AddIdle(func(*ctState) {})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"source": func() calloop.Token {
			tok, err := l.AddSource((&ctSource{}).as())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"ping": func() calloop.Token {
			p, err := calloop.NewPing(l, func(*ctState) {})
			if err != nil {
				t.Fatal(err)
			}
			return p.Token()
		},
		"channel": func() calloop.Token {
			tx, err := calloop.NewChannel(l, func(*ctState, int, bool) {})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tx.Close() })
			return tx.Token()
		},
	}
	ops := map[string]func(calloop.Token) error{
		"Remove":     l.Remove,
		"Enable":     l.Enable,
		"Disable":    l.Disable,
		"ModifyFD":   func(tok calloop.Token) error { return l.ModifyFD(tok, calloop.Readable, calloop.Level) },
		"ResetTimer": func(tok calloop.Token) error { return l.ResetTimer(tok, time.Second) },
		"ResetTimerAt": func(tok calloop.Token) error {
			return l.ResetTimerAt(tok, time.Now())
		},
	}
	for kind, add := range mk {
		old := add()
		if err := l.Remove(old); err != nil {
			t.Fatalf("%s: Remove = %v", kind, err)
		}
		// A new source of the same kind reuses the slot with a new generation.
		fresh := add()
		if fresh == old {
			t.Fatalf("%s: token %v reissued after removal", kind, old)
		}
		for name, op := range ops {
			if err := op(old); !ctIsInvalid(err) {
				t.Errorf("%s: %s(stale token) = %v, want ErrInvalidToken", kind, name, err)
			}
		}
		if err := l.Remove(fresh); err != nil {
			t.Errorf("%s: the stale token's operations touched the new source: Remove = %v", kind, err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	var zero calloop.Token
	if !zero.IsZero() {
		t.Fatal("zero Token: IsZero = false")
	}
	for name, op := range ops {
		if err := op(zero); !ctIsInvalid(err) {
			t.Errorf("%s(zero Token) = %v, want ErrInvalidToken", name, err)
		}
	}
	// A token of the wrong kind: ResetTimer on a source, ModifyFD on a timer.
	tm := mk["timer"]()
	src := mk["source"]()
	if err := l.ResetTimer(src, time.Second); !ctIsInvalid(err) {
		t.Errorf("ResetTimer(source token) = %v, want ErrInvalidToken", err)
	}
	if err := l.ModifyFD(tm, calloop.Readable, calloop.Level); err == nil {
		t.Errorf("ModifyFD(timer token) = nil, want an error")
	}
	if err := l.ModifyFD(src, calloop.Readable, calloop.Level); err == nil {
		t.Errorf("ModifyFD(custom source token) = nil, want an error")
	}
}

func TestNilCallbacksAreErrors(t *testing.T) {
	l := ctLoop[ctState](t)
	a, _ := ctPair(t)
	checks := map[string]error{}
	_, checks["AddFD"] = l.AddFD(a.fd, calloop.Readable, calloop.Level, nil)
	_, checks["AddTimer"] = l.AddTimer(0, nil)
	_, checks["AddTimerAt"] = l.AddTimerAt(time.Now(), nil)
	_, checks["AddIdle"] = l.AddIdle(nil)
	_, checks["AddSource"] = l.AddSource(nil)
	_, checks["NewPing"] = calloop.NewPing[ctState](l, nil)
	_, checks["NewChannel"] = calloop.NewChannel[ctState, int](l, nil)
	_, checks["NewBoundedChannel"] = calloop.NewBoundedChannel[ctState, int](l, 1, nil)
	_, checks["NewBoundedChannel(0)"] = calloop.NewBoundedChannel(l, 0, func(*ctState, int, bool) {})
	_, checks["AddLoop(nil)"] = calloop.AddLoop[ctState, ctState](l, nil, func(s *ctState) *ctState { return s })
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s with a nil callback or bad argument = nil, want an error", name)
		} else if !strings.HasPrefix(err.Error(), "calloop:") {
			t.Errorf("%s error %q lacks the calloop: prefix", name, err)
		}
	}
}

// ---- Slot reuse within one batch ----

func TestRemoveSourceWithPendingEventInBatch(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	a1, b1 := ctPair(t)
	a2, b2 := ctPair(t)
	var tok1, tok2 calloop.Token
	calls := map[string]int{}
	var err error
	tok1, err = l.AddFD(a1.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
		calls["1"]++
		l.Remove(tok2)
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	tok2, err = l.AddFD(a2.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
		calls["2"]++
		l.Remove(tok1)
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	ctWrite(t, b1, "x")
	ctWrite(t, b2, "x")
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	// Both were readable in the same batch: whichever ran first removed the
	// other, whose event must be dropped.
	if (calls["1"] == 0) == (calls["2"] == 0) {
		t.Fatalf("callbacks: %v; want exactly one of the two sources called", calls)
	}
}

func TestRemoveSelfAndInsertIntoSameSlotDropsStaleEvents(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	// A source with two descriptors, both ready in one batch. Its first event
	// removes it and inserts a new source, which takes the freed slot. The
	// second event of the old source must not reach the new one.
	a1, b1 := ctPair(t)
	a2, b2 := ctPair(t)
	c1, d1 := ctPair(t)
	newSrc := &ctSource{fds: []int{c1.fd}, subBase: 10}
	var oldTok, newTok calloop.Token
	oldSrc := &ctSource{fds: []int{a1.fd, a2.fd}, subBase: 1}
	oldSrc.onProcess = func() {
		if !newTok.IsZero() {
			return
		}
		if err := l.Remove(oldTok); err != nil {
			t.Errorf("Remove(self) = %v", err)
		}
		var err error
		newTok, err = l.AddSource(newSrc.as())
		if err != nil {
			t.Errorf("AddSource from a callback = %v", err)
		}
	}
	var err error
	oldTok, err = l.AddSource(oldSrc.as())
	if err != nil {
		t.Fatal(err)
	}
	ctWrite(t, b1, "x")
	ctWrite(t, b2, "x")
	ctWrite(t, d1, "x")
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if len(oldSrc.events) != 1 {
		t.Fatalf("old source processed %d events, want 1 (the rest are stale)", len(oldSrc.events))
	}
	if len(newSrc.events) != 0 {
		t.Fatalf("new source got %v in the iteration it was added; want nothing until the next", newSrc.events)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if len(newSrc.events) == 0 {
		t.Fatal("new source did not fire in the next iteration")
	}
	for _, ev := range newSrc.events {
		if ev.sub != 10 {
			t.Fatalf("new source got sub-token %d: a stale event of the old source was routed to it", ev.sub)
		}
	}
	if len(oldSrc.events) != 1 {
		t.Fatalf("old source processed %d events after its removal", len(oldSrc.events)-1)
	}
}

func TestTimerRemoveSelfAndInsertImmediateTimer(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	var first calloop.Token
	fired := 0
	var err error
	first, err = l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
		if err := l.Remove(first); err != nil {
			t.Errorf("Remove(self) = %v", err)
		}
		if _, err := l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
			fired++
			return calloop.Drop()
		}); err != nil {
			t.Errorf("AddTimer = %v", err)
		}
		return calloop.Again(0) // ignored: the timer was removed
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if fired != 0 {
		t.Fatal("a timer added during the iteration fired in it")
	}
	ctUntil(t, l, &s, func() bool { return fired > 0 })
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if fired != 1 {
		t.Fatalf("new timer fired %d times, want 1", fired)
	}
}

func TestSourceAddedDuringIterationWaitsForNext(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	a, b := ctPair(t)
	var log []string
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
		ctDrain(a.fd)
		log = append(log, "fd")
		if _, err := l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
			log = append(log, "timer")
			return calloop.Drop()
		}); err != nil {
			t.Error(err)
		}
		if _, err := l.AddSource((&ctSource{readyOnce: true, onProcess: func() { log = append(log, "source") }}).as()); err != nil {
			t.Error(err)
		}
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	ctWrite(t, b, "x")
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "fd" {
		t.Fatalf("first iteration ran %q, want fd only", got)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "fd,source,timer" {
		t.Fatalf("second iteration: %q, want fd,source,timer (synthetic events before timers)", got)
	}
}

func TestNowDuringDispatch(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	a, b := ctPair(t)
	var seen []time.Time
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
		ctDrain(a.fd)
		seen = append(seen, l.Now())
		return calloop.Continue
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		before := time.Now()
		ctWrite(t, b, "x")
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
	l := ctLoop[ctState](t, calloop.WithEventBatch(2))
	var s ctState
	const n = 7
	calls := make([]int, n)
	for i := range n {
		a, b := ctPair(t)
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
			calls[i]++
			return calloop.Continue
		}); err != nil {
			t.Fatal(err)
		}
		ctWrite(t, b, "x")
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

// ---- Stress ----

// TestRandomMutationsDuringDispatch adds, removes, disables and enables fds,
// timers and idles at random from inside callbacks and checks that no
// callback runs for a source that is removed or disabled.
func TestRandomMutationsDuringDispatch(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	rng := rand.New(rand.NewSource(1))
	type entry struct {
		kind    string
		enabled bool
		fd      *ctFD
	}
	live := map[calloop.Token]*entry{}
	var pairs [][2]*ctFD
	for range 16 {
		a, b := ctPair(t)
		ctWrite(t, b, "x") // level-triggered and never drained: always ready
		pairs = append(pairs, [2]*ctFD{a, b})
	}
	inUse := map[int]bool{}
	var bad []string
	check := func(tok calloop.Token, kind string) {
		e, ok := live[tok]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s %v called after removal", kind, tok))
		} else if !e.enabled {
			bad = append(bad, fmt.Sprintf("%s %v called while disabled", kind, tok))
		}
	}
	var mutate func()
	addFD := func() {
		for _, p := range pairs {
			if inUse[p[0].fd] {
				continue
			}
			var tok calloop.Token
			var err error
			tok, err = l.AddFD(p[0].fd, calloop.Readable, calloop.Level, func(*ctState, calloop.Events) calloop.Action {
				check(tok, "fd")
				mutate()
				return calloop.Continue
			})
			if err != nil {
				t.Fatalf("AddFD: %v", err)
			}
			inUse[p[0].fd] = true
			live[tok] = &entry{kind: "fd", enabled: true, fd: p[0]}
			return
		}
	}
	addTimer := func() {
		var tok calloop.Token
		var err error
		tok, err = l.AddTimer(time.Duration(rng.Intn(3))*time.Millisecond, func(*ctState, time.Time) calloop.TimerAction {
			check(tok, "timer")
			mutate()
			if rng.Intn(2) == 0 {
				delete(live, tok)
				return calloop.Drop()
			}
			return calloop.Again(time.Duration(rng.Intn(2)) * time.Millisecond)
		})
		if err != nil {
			t.Fatalf("AddTimer: %v", err)
		}
		live[tok] = &entry{kind: "timer", enabled: true}
	}
	addIdle := func() {
		var tok calloop.Token
		var err error
		tok, err = l.AddIdle(func(*ctState) {
			check(tok, "idle")
			delete(live, tok)
			mutate()
		})
		if err != nil {
			t.Fatalf("AddIdle: %v", err)
		}
		live[tok] = &entry{kind: "idle", enabled: true}
	}
	pick := func() (calloop.Token, *entry) {
		if len(live) == 0 {
			return calloop.Token{}, nil
		}
		k := rng.Intn(len(live))
		for tok, e := range live {
			if k == 0 {
				return tok, e
			}
			k--
		}
		return calloop.Token{}, nil
	}
	mutate = func() {
		switch rng.Intn(7) {
		case 0:
			addFD()
		case 1:
			addTimer()
		case 2:
			addIdle()
		case 3, 4:
			if tok, e := pick(); e != nil {
				if err := l.Remove(tok); err != nil {
					t.Fatalf("Remove(%s %v) = %v", e.kind, tok, err)
				}
				if e.fd != nil {
					inUse[e.fd.fd] = false
				}
				delete(live, tok)
			}
		case 5:
			if tok, e := pick(); e != nil && e.kind != "idle" {
				if err := l.Disable(tok); err != nil {
					t.Fatalf("Disable(%s %v) = %v", e.kind, tok, err)
				}
				e.enabled = false
			}
		case 6:
			if tok, e := pick(); e != nil && e.kind != "idle" {
				if err := l.Enable(tok); err != nil {
					t.Fatalf("Enable(%s %v) = %v", e.kind, tok, err)
				}
				e.enabled = true
			}
		}
	}
	for range 8 {
		addFD()
		addTimer()
		addIdle()
	}
	iters := 2000
	if raceEnabled {
		iters = 500
	}
	for i := 0; i < iters && len(bad) == 0; i++ {
		if err := l.Dispatch(time.Millisecond, &s); err != nil {
			t.Fatal(err)
		}
		if len(live) < 4 {
			addFD()
			addTimer()
			addIdle()
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d misrouted callbacks, first: %s", len(bad), bad[0])
	}
	// Every live token is still valid; every removed one is not.
	for tok, e := range live {
		if err := l.Remove(tok); err != nil {
			t.Errorf("Remove(live %s %v) = %v", e.kind, tok, err)
		}
	}
}

// ---- Threads ----

func TestLockOSThreadRunsCallbacksOnOneThread(t *testing.T) {
	l := ctLoop[ctState](t, calloop.WithLockOSThread())
	var s ctState
	tids := map[int]bool{}
	var mu sync.Mutex
	n := 0
	if _, err := l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
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
		setup func(t *testing.T, l *calloop.Loop[ctState]) func()
	}{
		{"fd event", func(t *testing.T, l *calloop.Loop[ctState]) func() {
			a, b := ctPair(t)
			buf := make([]byte, 1)
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *ctState, _ calloop.Events) calloop.Action {
				unix.Read(a.fd, buf)
				s.n++
				return calloop.Continue
			}); err != nil {
				t.Fatal(err)
			}
			one := []byte{1}
			return func() { unix.Write(b.fd, one) }
		}},
		{"timer re-arm", func(t *testing.T, l *calloop.Loop[ctState]) func() {
			if _, err := l.AddTimer(0, func(s *ctState, _ time.Time) calloop.TimerAction {
				s.n++
				return calloop.Again(0)
			}); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}},
		{"wakeup", func(t *testing.T, l *calloop.Loop[ctState]) func() {
			return l.Wakeup
		}},
		{"custom source synthetic event", func(t *testing.T, l *calloop.Loop[ctState]) func() {
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
			l := ctLoop[ctState](t)
			var s ctState
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

func TestStringers(t *testing.T) {
	cases := map[string]fmt.Stringer{
		"Readable|Hangup":         calloop.Readable | calloop.Hangup,
		"Readable|Writable|Error": calloop.Readable | calloop.Writable | calloop.Error,
		"0":                       calloop.Events(0),
		"Level":                   calloop.Level,
		"Edge":                    calloop.Edge,
		"OneShot":                 calloop.OneShot,
		"Mode(9)":                 calloop.Mode(9),
		"Continue":                calloop.Continue,
		"Disable":                 calloop.Disable,
		"Remove":                  calloop.Remove,
		"Action(7)":               calloop.Action(7),
	}
	for want, v := range cases {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	l := ctLoop[ctState](t)
	tok, err := l.AddIdle(func(*ctState) {})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := l.AddTimer(time.Hour, func(*ctState, time.Time) calloop.TimerAction { return calloop.Drop() })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.String(), "source ") || !strings.HasPrefix(tm.String(), "timer ") || tok.String() == tm.String() {
		t.Errorf("token strings %q and %q", tok, tm)
	}
}

func TestDispatchTimeoutSurvivesSignals(t *testing.T) {
	// Signals interrupting the kernel wait (EINTR) must neither end the
	// wait early nor extend it: the iteration keeps its deadline.
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		l := ctLoop[ctState](t, opts...)
		var s ctState
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
		if _, err := l.AddTimer(40*time.Millisecond, func(_ *ctState, d time.Time) calloop.TimerAction {
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
		ctUntil(t, l, &s, func() bool { return !firedAt.IsZero() })
		if firedAt.Before(deadline) {
			t.Fatalf("timer fired at %v, before its deadline %v", firedAt, deadline)
		}
		// Wakeup still works under a signal storm.
		go l.Wakeup()
		d := ctArmWatchdog(t, l)
		err := l.Dispatch(-1, &s)
		exp := d.expired()
		d.stop()
		if err != nil || exp {
			t.Fatalf("Wakeup under signals: err %v, watchdog %v", err, exp)
		}
	})
}

func TestRunEndsWithErrClosedWhenClosedFromCallback(t *testing.T) {
	l := ctLoop[ctState](t)
	var s ctState
	if _, err := l.AddTimer(0, func(*ctState, time.Time) calloop.TimerAction {
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
	case <-time.After(ctWatchdog):
		t.Fatal("Run did not end after the loop was closed from a callback")
	}
}

func TestRunEndsWithErrClosedWhenClosedFromOtherGoroutine(t *testing.T) {
	ctEachMode(t, func(t *testing.T, opts []calloop.Option) {
		l := ctLoop[ctState](t, opts...)
		var s ctState
		if _, err := l.AddIdle(func(*ctState) { go l.Close() }); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Run(context.Background(), &s) }()
		select {
		case err := <-done:
			if !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("Run while the loop is closed by another goroutine = %v, want ErrClosed", err)
			}
		case <-time.After(ctWatchdog):
			t.Fatal("Close from another goroutine did not end Run")
		}
		if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Dispatch after Close = %v", err)
		}
	})
}
