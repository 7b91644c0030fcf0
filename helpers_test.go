package calloop_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// The helpers of the package's tests: one way to make a loop (newLoop), to
// dispatch until a condition holds (dispatchUntil, dispatchUntilTimeout)
// under one watchdog (armWatchdog, watchdogTimeout). helpers_linux_test.go
// adds the socketpair and descriptor helpers of the Linux-only tests.

// raceEnabled is set by race_test.go when the race detector is on, to size
// the heaviest tests.
var raceEnabled bool

// watchdogTimeout bounds every wait of these tests: a wait that should end at
// once and does not within this time is a failure, not a hang.
const watchdogTimeout = 10 * time.Second

// testState is the shared state most tests use.
type testState struct {
	n   int
	log []string
}

// newLoop creates a loop closed at the end of the test.
func newLoop[S any](t testing.TB, opts ...calloop.Option) *calloop.Loop[S] {
	t.Helper()
	l, err := calloop.New[S](opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dispatchUntil dispatches l until cond holds, failing after watchdogTimeout. It blocks
// in Dispatch(-1) unless the test's own events wake it, so it also checks
// that the loop does wake up.
func dispatchUntil[S any](t testing.TB, l *calloop.Loop[S], s *S, cond func() bool) {
	t.Helper()
	dispatchUntilTimeout(t, l, s, -1, cond)
}

// dispatchUntilTimeout is dispatchUntil with a Dispatch timeout per iteration.
func dispatchUntilTimeout[S any](t testing.TB, l *calloop.Loop[S], s *S, timeout time.Duration, cond func() bool) {
	t.Helper()
	d := armWatchdog(t, l)
	defer d.stop()
	for !cond() {
		if err := l.Dispatch(timeout, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
		if d.expired() {
			t.Fatalf("condition not met within %v", watchdogTimeout)
		}
	}
}

// watchdog, when it expires, makes a pipe of its own readable, registered
// with the loop, so that a Dispatch(-1) that missed its wakeup
// returns through the kernel rather than through the mechanism under test.
type watchdog struct {
	timer   *time.Timer
	fired   chan struct{} // closed when the watchdog expires
	written chan struct{} // closed once it has written to its pipe
	cleanup func()
}

func armWatchdog[S any](t testing.TB, l *calloop.Loop[S]) *watchdog {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	d := &watchdog{fired: make(chan struct{}), written: make(chan struct{})}
	tok, err := l.AddFD(int(r.Fd()), calloop.Readable, calloop.Level, func(*S, calloop.Events) calloop.Action {
		return calloop.Disable
	})
	if err != nil {
		r.Close()
		w.Close()
		t.Fatalf("watchdog AddFD: %v", err)
	}
	d.timer = time.AfterFunc(watchdogTimeout, func() {
		close(d.fired)
		w.Write([]byte{1})
		close(d.written)
	})
	d.cleanup = func() {
		if !d.timer.Stop() {
			<-d.written // never close the pipe under the writer
		}
		l.Remove(tok)
		r.Close()
		w.Close()
	}
	return d
}

func (d *watchdog) stop() {
	if d.cleanup != nil {
		d.cleanup()
		d.cleanup = nil
	}
}

// rearm restarts the watchdog's countdown, for a test made of many rounds
// that each must end within watchdogTimeout.
func (d *watchdog) rearm() {
	if d.timer.Stop() {
		d.timer.Reset(watchdogTimeout)
	} // else it has fired: expired reports it
}

func (d *watchdog) expired() bool {
	select {
	case <-d.fired:
		return true
	default:
		return false
	}
}

// ctRecover runs f and returns what it panicked with, or nil.
func ctRecover(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// isInvalid reports whether err is ErrInvalidToken.
func isInvalid(err error) bool { return errors.Is(err, calloop.ErrInvalidToken) }

// eachSleepMode runs f once for each way a loop can sleep: parked in Go's
// netpoller, and blocked in the kernel on its own thread.
func eachSleepMode(t *testing.T, f func(t *testing.T, opts []calloop.Option)) {
	t.Helper()
	modes := []struct {
		name string
		opts []calloop.Option
	}{
		{"netpoller", []calloop.Option{calloop.WithNetpoller(true)}},
		{"blocking", []calloop.Option{calloop.WithNetpoller(false)}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m.opts) })
	}
}

// must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
