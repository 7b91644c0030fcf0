//go:build linux

package calloop_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/leakcheck"
)

// The conformance tests of the core loop (this file and loop_test.go,
// fd_test.go, timer_test.go, idle_test.go, ping_test.go, channel_test.go,
// source_test.go, nest_test.go) check epoll's semantics and use Linux system
// calls: they run on Linux; the kqueue systems only build the package.

// TestMain fails the whole run if the tests leave a goroutine or a file
// descriptor behind.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// raceEnabled is set by race_test.go when the race detector is on, to size
// the heaviest tests.
var raceEnabled bool

// ctWatchdog bounds every wait of these tests: a wait that should end at
// once and does not within this time is a failure, not a hang.
const ctWatchdog = 5 * time.Second

// ctState is the shared state most tests use.
type ctState struct {
	n   int
	log []string
}

// ctLoop creates a loop closed at the end of the test.
func ctLoop[S any](t testing.TB, opts ...calloop.Option) *calloop.Loop[S] {
	t.Helper()
	l, err := calloop.New[S](opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ctFD is a descriptor closed at the end of the test unless closed before.
type ctFD struct{ fd int }

func (f *ctFD) Close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// ctPair returns a connected non-blocking AF_UNIX stream socketpair.
func ctPair(t testing.TB) (a, b *ctFD) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	a, b = &ctFD{fds[0]}, &ctFD{fds[1]}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// ctWrite writes p to fd, failing the test on error.
func ctWrite(t testing.TB, fd *ctFD, p string) {
	t.Helper()
	if _, err := unix.Write(fd.fd, []byte(p)); err != nil {
		t.Fatalf("write fd %d: %v", fd.fd, err)
	}
}

// ctDrain reads fd until EAGAIN and returns what it read.
func ctDrain(fd int) string {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
			continue
		}
		if err == unix.EINTR {
			continue
		}
		return string(out)
	}
}

// ctUntil dispatches l until cond holds, failing after ctWatchdog. It blocks
// in Dispatch(-1) unless the test's own events wake it, so it also checks
// that the loop does wake up.
func ctUntil[S any](t testing.TB, l *calloop.Loop[S], s *S, cond func() bool) {
	t.Helper()
	ctUntilTimeout(t, l, s, -1, cond)
}

// ctUntilTimeout is ctUntil with a Dispatch timeout per iteration.
func ctUntilTimeout[S any](t testing.TB, l *calloop.Loop[S], s *S, timeout time.Duration, cond func() bool) {
	t.Helper()
	d := ctArmWatchdog(t, l)
	defer d.stop()
	for !cond() {
		if err := l.Dispatch(timeout, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
		if d.expired() {
			t.Fatalf("condition not met within %v", ctWatchdog)
		}
	}
}

// ctDog is a watchdog: when it expires it makes a socket of its own readable,
// registered with the loop, so that a Dispatch(-1) that missed its wakeup
// returns through the kernel rather than through the mechanism under test.
type ctDog struct {
	timer   *time.Timer
	fired   chan struct{} // closed when the watchdog expires
	written chan struct{} // closed once it has written to its socket
	cleanup func()
}

func ctArmWatchdog[S any](t testing.TB, l *calloop.Loop[S]) *ctDog {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	d := &ctDog{fired: make(chan struct{}), written: make(chan struct{})}
	tok, err := l.AddFD(fds[0], calloop.Readable, calloop.Level, func(*S, calloop.Events) calloop.Action {
		return calloop.Disable
	})
	if err != nil {
		t.Fatalf("watchdog AddFD: %v", err)
	}
	d.timer = time.AfterFunc(ctWatchdog, func() {
		close(d.fired)
		unix.Write(fds[1], []byte{1})
		close(d.written)
	})
	d.cleanup = func() {
		if !d.timer.Stop() {
			<-d.written // never close the socket under the writer
		}
		l.Remove(tok)
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
	return d
}

func (d *ctDog) stop() {
	if d.cleanup != nil {
		d.cleanup()
		d.cleanup = nil
	}
}

// rearm restarts the watchdog's countdown, for a test made of many rounds
// that each must end within ctWatchdog.
func (d *ctDog) rearm() {
	if d.timer.Stop() {
		d.timer.Reset(ctWatchdog)
	} // else it has fired: expired reports it
}

func (d *ctDog) expired() bool {
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

// ctCountFDs returns the number of open descriptors of the process.
func ctCountFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents) - 1 // the directory's own descriptor
}

// ctIsInvalid reports whether err is ErrInvalidToken.
func ctIsInvalid(err error) bool { return errors.Is(err, calloop.ErrInvalidToken) }

// ctEachMode runs f once for each way a loop can sleep: parked in Go's
// netpoller, and blocked in the kernel on its own thread.
func ctEachMode(t *testing.T, f func(t *testing.T, opts []calloop.Option)) {
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
