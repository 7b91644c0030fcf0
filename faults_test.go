//go:build linux

package calloop_test

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/poller"
)

// Fault injection: poller.SetFaultHook makes the poller's wait and control
// calls fail as if the kernel had failed them. The hook is global to the
// test binary, so these tests never run in parallel and always remove it.

// relFaults is an installed fault hook: each op's queue of errnos is
// consumed one call at a time; calls are counted.
type relFaults struct {
	mu     sync.Mutex
	queue  map[poller.Op][]syscall.Errno
	always map[poller.Op]syscall.Errno
	calls  [2]atomic.Int64
	onWait func(n int64) // called (on the loop goroutine) at every wait
}

func relInstallFaults(t *testing.T) *relFaults {
	t.Helper()
	f := &relFaults{queue: map[poller.Op][]syscall.Errno{}, always: map[poller.Op]syscall.Errno{}}
	poller.SetFaultHook(f.hook)
	t.Cleanup(func() { poller.SetFaultHook(nil) })
	return f
}

func (f *relFaults) hook(op poller.Op) syscall.Errno {
	n := f.calls[op].Add(1)
	f.mu.Lock()
	var e syscall.Errno
	if q := f.queue[op]; len(q) > 0 {
		e, f.queue[op] = q[0], q[1:]
	} else {
		e = f.always[op]
	}
	cb := f.onWait
	f.mu.Unlock()
	if op == poller.OpWait && cb != nil {
		cb(n)
	}
	return e
}

// inject queues errnos for the next calls of op.
func (f *relFaults) inject(op poller.Op, errs ...syscall.Errno) {
	f.mu.Lock()
	f.queue[op] = append(f.queue[op], errs...)
	f.mu.Unlock()
}

func (f *relFaults) setAlways(op poller.Op, e syscall.Errno) {
	f.mu.Lock()
	f.always[op] = e
	f.mu.Unlock()
}

func (f *relFaults) setOnWait(cb func(n int64)) {
	f.mu.Lock()
	f.onWait = cb
	f.mu.Unlock()
}

func (f *relFaults) clear() {
	f.mu.Lock()
	f.queue = map[poller.Op][]syscall.Errno{}
	f.always = map[poller.Op]syscall.Errno{}
	f.onWait = nil
	f.mu.Unlock()
}

// relIsSyscall checks that err is errno, wrapped as an *os.SyscallError.
func relIsSyscall(t *testing.T, what string, err error, errno syscall.Errno) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Fatalf("%s: %v, want errors.Is %v", what, err, errno)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Fatalf("%s: %v (%T) is not an *os.SyscallError", what, err, err)
	}
}

// relFaultWorld is one source of each kind, all with work ready, and
// counters of their callbacks.
type relFaultWorld struct {
	fd, ping, timer, msgs int
	fdTok                 calloop.Token
	p                     *calloop.Ping
	tx                    *calloop.Sender[int]
}

func relNewWorld(t *testing.T, l *calloop.Loop[relFaultWorld], w *relFaultWorld) {
	t.Helper()
	p, q := socketPair(t)
	writeFD(t, q, "\x01") // p is readable: one byte nobody reads
	a := p.fd
	var err error
	w.fdTok, err = l.AddFD(a, calloop.Readable, calloop.Level, func(w *relFaultWorld, ev calloop.Events) calloop.Action {
		w.fd++
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.p, err = calloop.NewPing(l, func(w *relFaultWorld) { w.ping++ }); err != nil {
		t.Fatal(err)
	}
	if _, err = l.AddTimer(0, func(w *relFaultWorld, _ time.Time) calloop.TimerAction {
		w.timer++
		return calloop.Again(0)
	}); err != nil {
		t.Fatal(err)
	}
	if w.tx, err = calloop.NewChannel(l, func(w *relFaultWorld, m int, ok bool) {
		if ok {
			w.msgs++
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// check dispatches once more and verifies every source ran.
func (w *relFaultWorld) check(t *testing.T, l *calloop.Loop[relFaultWorld]) {
	t.Helper()
	fd, ping, timer, msgs := w.fd, w.ping, w.timer, w.msgs
	w.p.Ping()
	if err := w.tx.Send(1); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// The timer re-armed with Again(0) is due by the next Dispatch.
	for i := 0; i < 2; i++ {
		if err := l.Dispatch(0, w); err != nil {
			t.Fatalf("Dispatch after the fault: %v", err)
		}
	}
	if w.fd == fd || w.ping == ping || w.timer == timer || w.msgs == msgs {
		t.Fatalf("a source was lost: fd %d->%d ping %d->%d timer %d->%d msgs %d->%d",
			fd, w.fd, ping, w.ping, timer, w.timer, msgs, w.msgs)
	}
}

// TestFaultWaitEINTRRetried: EINTR from the wait is retried without the
// caller noticing; Dispatch(-1) returns on the real event.
func TestFaultWaitEINTRRetried(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		f := relInstallFaults(t)
		l := newLoop[int](t, opts...)
		ran := 0
		p, err := calloop.NewPing(l, func(*int) { ran++ })
		if err != nil {
			t.Fatal(err)
		}
		// Five interrupted waits; the fifth pings the loop, as a signal
		// handler's goroutine would.
		f.inject(poller.OpWait, unix.EINTR, unix.EINTR, unix.EINTR, unix.EINTR, unix.EINTR)
		f.setOnWait(func(n int64) {
			if n == 5 {
				p.Ping()
			}
		})
		dog := time.AfterFunc(watchdogTimeout, l.Wakeup)
		defer dog.Stop()
		var s int
		start := time.Now()
		if err := l.Dispatch(-1, &s); err != nil {
			t.Fatalf("Dispatch(-1) with EINTR: %v", err)
		}
		if ran != 1 {
			t.Fatalf("ping ran %d times after %v, want 1 (waits: %d)", ran, time.Since(start), f.calls[poller.OpWait].Load())
		}
		if n := f.calls[poller.OpWait].Load(); n < 6 {
			t.Fatalf("%d waits, want the 5 interrupted ones retried", n)
		}
	})
}

// TestFaultWaitEINTRKeepsDeadline: interrupted waits neither cut a timeout
// short nor extend it (beyond the time the interrupted call itself took).
func TestFaultWaitEINTRKeepsDeadline(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		f := relInstallFaults(t)
		l := newLoop[int](t, opts...)
		const timeout = 60 * time.Millisecond
		const step = 10 * time.Millisecond
		// Every wait is interrupted after step: the hook's sleep stands
		// for the time spent in the kernel before the signal.
		f.setAlways(poller.OpWait, unix.EINTR)
		f.setOnWait(func(int64) { time.Sleep(step) })
		var s int
		start := time.Now()
		if err := l.Dispatch(timeout, &s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
		el := time.Since(start)
		if el < timeout {
			t.Fatalf("Dispatch(%v) under EINTR returned after %v: cut short", timeout, el)
		}
		if el > timeout+step+100*time.Millisecond {
			t.Fatalf("Dispatch(%v) under EINTR returned after %v: deadline extended", timeout, el)
		}
		if n := f.calls[poller.OpWait].Load(); n > int64(timeout/step)+2 {
			t.Fatalf("%d waits for a %v timeout interrupted every %v", n, timeout, step)
		}

		// The same with the timeout coming from a timer: it fires once,
		// not early, and Dispatch(-1) returns soon after.
		f.calls[poller.OpWait].Store(0)
		var fired time.Time
		deadline := time.Now().Add(timeout)
		if _, err := l.AddTimer(timeout, func(*int, time.Time) calloop.TimerAction {
			fired = time.Now()
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
		dog := time.AfterFunc(watchdogTimeout, l.Wakeup)
		defer dog.Stop()
		for fired.IsZero() && time.Until(deadline) > -watchdogTimeout {
			if err := l.Dispatch(-1, &s); err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
		}
		if fired.Before(deadline) {
			t.Fatalf("timer fired %v early under EINTR", deadline.Sub(fired))
		}
		if late := fired.Sub(deadline); late > step+100*time.Millisecond {
			t.Fatalf("timer fired %v late under EINTR", late)
		}
	})
}

var relWaitErrnos = []syscall.Errno{unix.EAGAIN, unix.EMFILE, unix.ENFILE, unix.ENOMEM, unix.EBADF}

// TestFaultWaitErrors: a failed wait is Dispatch's error (an
// *os.SyscallError matching the errno); the next Dispatch works and every
// source is still registered; Run returns the error rather than spinning.
func TestFaultWaitErrors(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		for _, errno := range relWaitErrnos {
			t.Run(errno.Error(), func(t *testing.T) {
				f := relInstallFaults(t)
				l := newLoop[relFaultWorld](t, opts...)
				w := &relFaultWorld{}
				relNewWorld(t, l, w)
				w.p.Ping()
				w.tx.Send(0)

				f.inject(poller.OpWait, errno)
				err := l.Dispatch(0, w)
				relIsSyscall(t, "Dispatch", err, errno)
				w.check(t, l)

				// A blocking Dispatch fails the same way.
				f.inject(poller.OpWait, errno)
				relIsSyscall(t, "Dispatch(-1)", l.Dispatch(-1, w), errno)
				w.check(t, l)

				// Run stops with the error at once: one wait, no retry loop.
				f.setAlways(poller.OpWait, errno)
				f.calls[poller.OpWait].Store(0)
				relIsSyscall(t, "Run", l.Run(t.Context(), w), errno)
				if n := f.calls[poller.OpWait].Load(); n != 1 {
					t.Fatalf("Run waited %d times before returning the error, want 1", n)
				}
				f.clear()
				w.check(t, l)
			})
		}
	})
}

// TestFaultWaitErrorNoSpin: after a failed wait, an idle loop sleeps again
// for its whole timeout with a single wait: no flag left behind makes it
// return early or spin.
func TestFaultWaitErrorNoSpin(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		f := relInstallFaults(t)
		l := newLoop[int](t, opts...)
		var s int
		f.inject(poller.OpWait, unix.ENOMEM)
		if err := l.Dispatch(-1, &s); !errors.Is(err, unix.ENOMEM) {
			t.Fatalf("Dispatch: %v, want ENOMEM", err)
		}
		f.calls[poller.OpWait].Store(0)
		const timeout = 40 * time.Millisecond
		start := time.Now()
		if err := l.Dispatch(timeout, &s); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < timeout {
			t.Fatalf("idle Dispatch(%v) after a failed wait returned after %v", timeout, el)
		}
		if n := f.calls[poller.OpWait].Load(); n != 1 {
			t.Fatalf("idle Dispatch waited %d times, want 1", n)
		}
	})
}

var relCtlErrnos = []syscall.Errno{unix.ENOMEM, unix.ENOSPC, unix.EMFILE, unix.ENFILE, unix.EBADF, unix.EAGAIN, unix.EINTR}

// TestFaultCtlAddFD: a failed registration returns the error and leaves
// nothing behind: no token, no kernel registration (the same fd can be added
// afterwards), no spurious callback.
func TestFaultCtlAddFD(t *testing.T) {
	for _, errno := range relCtlErrnos {
		t.Run(errno.Error(), func(t *testing.T) {
			f := relInstallFaults(t)
			l := newLoop[int](t)
			p, q := socketPair(t)
			writeFD(t, q, "\x01") // p is readable: one byte nobody reads
			a := p.fd
			calls := 0
			f.inject(poller.OpCtl, errno)
			tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
				calls++
				return calloop.Continue
			})
			relIsSyscall(t, "AddFD", err, errno)
			if !tok.IsZero() {
				t.Fatalf("failed AddFD returned token %v", tok)
			}
			var s int
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
			if calls != 0 {
				t.Fatalf("callback of a failed AddFD ran %d times", calls)
			}
			tok2, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
				calls++
				return calloop.Continue
			})
			if err != nil {
				t.Fatalf("AddFD after a failed AddFD: %v", err)
			}
			if tok2 == tok {
				t.Fatalf("new token %v equals the failed one", tok2)
			}
			if err := l.Dispatch(0, &s); err != nil || calls != 1 {
				t.Fatalf("Dispatch: %v, %d calls, want 1", err, calls)
			}
		})
	}
}

// TestFaultCtlModifyFD: a failed ModifyFD returns the error and keeps the
// old interest and mode.
func TestFaultCtlModifyFD(t *testing.T) {
	for _, errno := range relCtlErrnos {
		t.Run(errno.Error(), func(t *testing.T) {
			f := relInstallFaults(t)
			l := newLoop[int](t)
			p, q := socketPair(t)
			writeFD(t, q, "\x01") // p is readable: one byte nobody reads
			a := p.fd
			var got []calloop.Events
			tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(_ *int, ev calloop.Events) calloop.Action {
				got = append(got, ev)
				return calloop.Continue
			})
			if err != nil {
				t.Fatal(err)
			}
			f.inject(poller.OpCtl, errno)
			relIsSyscall(t, "ModifyFD", l.ModifyFD(tok, calloop.Writable, calloop.OneShot), errno)
			var s int
			for i := 0; i < 2; i++ {
				if err := l.Dispatch(0, &s); err != nil {
					t.Fatal(err)
				}
			}
			// Still Readable and Level: reported twice, readable only.
			if len(got) != 2 || got[0] != calloop.Readable || got[1] != calloop.Readable {
				t.Fatalf("after a failed ModifyFD the fd reported %v, want [Readable Readable]", got)
			}
			// A later ModifyFD works.
			if err := l.ModifyFD(tok, calloop.Writable, calloop.Level); err != nil {
				t.Fatal(err)
			}
			got = nil
			if err := l.Dispatch(0, &s); err != nil || len(got) != 1 || got[0] != calloop.Writable {
				t.Fatalf("after ModifyFD(Writable): %v %v", err, got)
			}
		})
	}
}

// TestFaultCtlEnable: a failed Enable returns the error and leaves the
// source disabled; a later Enable works.
func TestFaultCtlEnable(t *testing.T) {
	for _, mode := range []calloop.Mode{calloop.Level, calloop.OneShot} {
		t.Run(mode.String(), func(t *testing.T) {
			f := relInstallFaults(t)
			l := newLoop[int](t)
			p, q := socketPair(t)
			writeFD(t, q, "\x01") // p is readable: one byte nobody reads
			a := p.fd
			calls := 0
			tok, err := l.AddFD(a, calloop.Readable, mode, func(*int, calloop.Events) calloop.Action {
				calls++
				return calloop.Disable
			})
			if err != nil {
				t.Fatal(err)
			}
			var s int
			if err := l.Dispatch(0, &s); err != nil || calls != 1 {
				t.Fatalf("first Dispatch: %v, %d calls", err, calls)
			}
			f.inject(poller.OpCtl, unix.ENOMEM)
			relIsSyscall(t, "Enable", l.Enable(tok), unix.ENOMEM)
			if err := l.Dispatch(0, &s); err != nil || calls != 1 {
				t.Fatalf("a source whose Enable failed ran: %v, %d calls", err, calls)
			}
			if err := l.Enable(tok); err != nil {
				t.Fatalf("Enable after a failed Enable: %v", err)
			}
			if err := l.Dispatch(0, &s); err != nil || calls != 2 {
				t.Fatalf("after Enable: %v, %d calls, want 2", err, calls)
			}
		})
	}
}

// relSpins reports how many Dispatch(-1) calls return within window on a
// loop where nothing should happen (a Wakeup ends the window).
func relSpins(t *testing.T, l *calloop.Loop[int], window time.Duration) int {
	t.Helper()
	var s int
	stop := time.Now().Add(window)
	tm := time.AfterFunc(window, l.Wakeup)
	defer tm.Stop()
	n := 0
	for time.Now().Before(stop) {
		if err := l.Dispatch(-1, &s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
		n++
		if n > 1000 {
			break
		}
	}
	return n
}

// TestFaultCtlDisableNoSpin: when the control call that silences a disabled
// fd fails, either Disable reports it (and the source stays enabled) or the
// loop keeps the fd silent: a disabled level-triggered fd that is ready must
// not make every Dispatch(-1) return at once.
func TestFaultCtlDisableNoSpin(t *testing.T) {
	f := relInstallFaults(t)
	l := newLoop[int](t)
	p, q := socketPair(t)
	writeFD(t, q, "\x01") // p is readable: one byte nobody reads
	a := p.fd
	calls := 0
	tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		calls++
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	f.inject(poller.OpCtl, unix.ENOMEM)
	derr := l.Disable(tok)
	if derr != nil {
		relIsSyscall(t, "Disable", derr, unix.ENOMEM)
		var s int
		if err := l.Dispatch(0, &s); err != nil || calls != 1 {
			t.Fatalf("Disable failed but the source did not stay enabled: %v, %d calls", err, calls)
		}
		return
	}
	if n := relSpins(t, l, 100*time.Millisecond); n > 10 {
		t.Fatalf("Disable swallowed a failed control call (ENOMEM) and the disabled ready fd makes the loop spin: %d Dispatch(-1) returned in 100ms", n)
	}
	if calls != 0 {
		t.Fatalf("disabled fd ran %d times", calls)
	}
}

// TestFaultCtlRemoveFD: when the control call that deregisters a removed
// fd fails, either Remove reports it and the source stays (token valid,
// callback still running, a later Remove works), or the loop neither spins
// on the fd's events nor refuses the fd's registration later (the
// descriptor is still open and the caller may register it again).
func TestFaultCtlRemoveFD(t *testing.T) {
	f := relInstallFaults(t)
	l := newLoop[int](t)
	p, q := socketPair(t)
	writeFD(t, q, "\x01") // p is readable: one byte nobody reads
	a := p.fd
	oldCalls := 0
	tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		oldCalls++
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	var s int
	f.inject(poller.OpCtl, unix.ENOMEM)
	rerr := l.Remove(tok)
	if rerr != nil {
		relIsSyscall(t, "Remove", rerr, unix.ENOMEM)
		if err := l.Dispatch(0, &s); err != nil || oldCalls != 1 {
			t.Fatalf("Remove failed but the source did not stay: %v, %d calls", err, oldCalls)
		}
		if err := l.Remove(tok); err != nil {
			t.Fatalf("Remove after a failed Remove: %v", err)
		}
	} else if n := relSpins(t, l, 100*time.Millisecond); n > 10 {
		t.Errorf("Remove swallowed a failed control call (ENOMEM) and the removed ready fd makes the loop spin: %d Dispatch(-1) returned in 100ms", n)
	}
	calls := 0
	if _, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		calls++
		return calloop.Continue
	}); err != nil {
		t.Fatalf("AddFD of an fd whose Remove hit a failed control call: %v", err)
	}
	before := oldCalls
	if err := l.Dispatch(0, &s); err != nil || calls != 1 || oldCalls != before {
		t.Fatalf("re-added fd: %v, %d calls (want 1), removed source %d more", err, calls, oldCalls-before)
	}
}

// TestFaultRandomNoLoss: random wait and control faults while a Run-like
// driver works with every source kind; afterwards, with the faults off,
// every source still works, and nothing ran while a fault was reported.
func TestFaultRandomNoLoss(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		f := relInstallFaults(t)
		l := newLoop[relFaultWorld](t, opts...)
		w := &relFaultWorld{}
		relNewWorld(t, l, w)
		errnos := append([]syscall.Errno{unix.EINTR, unix.EINTR}, relWaitErrnos...)
		var failed, ok int
		end := time.Now().Add(300 * time.Millisecond)
		for i := 0; time.Now().Before(end); i++ {
			if i%3 == 0 {
				f.inject(poller.OpWait, errnos[i%len(errnos)])
			}
			if i%5 == 0 {
				w.p.Ping()
			}
			if i%7 == 0 {
				w.tx.Send(i)
			}
			err := l.Dispatch(time.Millisecond, w)
			if err != nil {
				var se *os.SyscallError
				if !errors.As(err, &se) {
					t.Fatalf("Dispatch: %v is not an *os.SyscallError", err)
				}
				failed++
				continue
			}
			ok++
		}
		f.clear()
		w.check(t, l)
		if failed == 0 || ok == 0 {
			t.Fatalf("%d failed and %d good dispatches: the injection did not work", failed, ok)
		}
	})
}
