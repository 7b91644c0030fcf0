//go:build linux

package calloop_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// ctFDRecorder is an fd callback that records the readiness it is given.
type ctFDRecorder struct {
	evs    []calloop.Events
	drain  int // read the descriptor when >= 0
	action calloop.Action
}

func (r *ctFDRecorder) fn(_ *testState, ev calloop.Events) calloop.Action {
	r.evs = append(r.evs, ev)
	if r.drain >= 0 {
		drainFD(r.drain)
	}
	return r.action
}

func (r *ctFDRecorder) take() []calloop.Events {
	evs := r.evs
	r.evs = nil
	return evs
}

func ctDispatch0(t *testing.T, l *calloop.Loop[testState], s *testState, n int) {
	t.Helper()
	for range n {
		if err := l.Dispatch(0, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
	}
}

func TestFDDispatchReadable(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		a, b := socketPair(t)
		var got string
		var evs []calloop.Events
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(_ *testState, ev calloop.Events) calloop.Action {
			evs = append(evs, ev)
			got += drainFD(a.fd)
			return calloop.Continue
		}); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 2)
		if len(evs) != 0 {
			t.Fatalf("no data: callback ran with %v", evs)
		}
		writeFD(t, b, "abcdef")
		if err := l.Dispatch(time.Second, &s); err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0] != calloop.Readable {
			t.Fatalf("after a write: events %v, want exactly [Readable] (Writable was not asked for)", evs)
		}
		if got != "abcdef" {
			t.Fatalf("callback read %q, want abcdef", got)
		}
		ctDispatch0(t, l, &s, 2)
		if len(evs) != 1 {
			t.Fatalf("drained level fd reported again: %v", evs)
		}
	})
}

func TestFDModes(t *testing.T) {
	// Each step: write (or not), then Dispatch(0) n times, then the expected
	// number of callbacks. The callback never reads.
	type step struct {
		write string
		op    string // "", "modify" (re-arm through ModifyFD), "enable"
		calls int
	}
	cases := []struct {
		mode  calloop.Mode
		steps []step
	}{
		{calloop.Level, []step{{"", "", 0}, {"x", "", 1}, {"", "", 1}, {"", "", 1}, {"y", "", 1}}},
		{calloop.Edge, []step{{"", "", 0}, {"x", "", 1}, {"", "", 0}, {"", "", 0}, {"y", "", 1}, {"", "", 0}}},
		{calloop.OneShot, []step{{"", "", 0}, {"x", "", 1}, {"", "", 0}, {"y", "", 0}, {"", "modify", 1}, {"", "", 0}, {"", "enable", 1}, {"", "", 0}}},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			a, b := socketPair(t)
			rec := &ctFDRecorder{drain: -1}
			tok, err := l.AddFD(a.fd, calloop.Readable, c.mode, rec.fn)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range c.steps {
				if st.write != "" {
					writeFD(t, b, st.write)
				}
				switch st.op {
				case "modify":
					if err := l.ModifyFD(tok, calloop.Readable, c.mode); err != nil {
						t.Fatal(err)
					}
				case "enable":
					if err := l.Enable(tok); err != nil {
						t.Fatal(err)
					}
				}
				ctDispatch0(t, l, &s, 1)
				if got := len(rec.take()); got != st.calls {
					t.Fatalf("step %d (%+v): %d callbacks, want %d", i, st, got, st.calls)
				}
			}
		})
	}
}

func TestFDOneShotRearmFromOwnCallback(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	n := 0
	var tok calloop.Token
	var err error
	tok, err = l.AddFD(a.fd, calloop.Readable, calloop.OneShot, func(*testState, calloop.Events) calloop.Action {
		n++
		if n < 3 {
			if err := l.ModifyFD(tok, calloop.Readable, calloop.OneShot); err != nil {
				t.Errorf("ModifyFD from own callback: %v", err)
			}
		}
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x") // never read: ready in every poll while armed
	ctDispatch0(t, l, &s, 6)
	if n != 3 {
		t.Fatalf("one-shot re-armed twice from its callback fired %d times, want 3", n)
	}
}

func TestFDChangeInterests(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	rec := &ctFDRecorder{drain: -1}
	tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, evs ...calloop.Events) {
		t.Helper()
		ctDispatch0(t, l, &s, 1)
		if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(evs) {
			t.Fatalf("%s: events %v, want %v", step, got, evs)
		}
	}
	want("not ready")
	writeFD(t, b, "x")
	want("data", calloop.Readable)
	drainFD(a.fd)
	want("drained")
	if err := l.ModifyFD(tok, calloop.Writable, calloop.Level); err != nil {
		t.Fatal(err)
	}
	want("switched to Writable", calloop.Writable)
	if err := l.ModifyFD(tok, calloop.Readable, calloop.Level); err != nil {
		t.Fatal(err)
	}
	want("switched back to Readable")
	if err := l.ModifyFD(tok, calloop.Readable|calloop.Writable, calloop.Level); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	want("both", calloop.Readable|calloop.Writable)
}

func TestFDHangupWithReadable(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	var evs []calloop.Events
	var eof bool
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(_ *testState, ev calloop.Events) calloop.Action {
		evs = append(evs, ev)
		var buf [8]byte
		n, err := unix.Read(a.fd, buf[:])
		eof = n == 0 && err == nil
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0]&calloop.Hangup == 0 || evs[0]&calloop.Readable == 0 {
		t.Fatalf("peer closed: events %v, want Readable|Hangup", evs)
	}
	if evs[0]&calloop.Writable != 0 {
		t.Fatalf("peer closed: %v reports Writable, which was not asked for", evs[0])
	}
	if !eof {
		t.Fatal("read in the hang-up callback did not see end of file")
	}
}

func TestFDEmptyInterest(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	rec := &ctFDRecorder{drain: -1, action: calloop.Remove}
	tok, err := l.AddFD(a.fd, 0, calloop.Level, rec.fn)
	if err != nil {
		t.Fatalf("AddFD with no interest: %v", err)
	}
	writeFD(t, b, "x")
	ctDispatch0(t, l, &s, 2)
	if len(rec.evs) != 0 {
		t.Fatalf("no interest: callback ran with %v", rec.evs)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// Removed cleanly: the fd can be registered again.
	tok, err = l.AddFD(a.fd, 0, calloop.Level, rec.fn)
	if err != nil {
		t.Fatalf("AddFD again after Remove: %v", err)
	}
	// A hang-up is still reported with no interest.
	b.Close()
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	if len(rec.evs) != 1 || rec.evs[0] != calloop.Hangup {
		t.Fatalf("no interest, peer closed: %v, want [Hangup]", rec.evs)
	}
	if err := l.Remove(tok); !isInvalid(err) {
		t.Fatalf("Remove after the Remove action = %v", err)
	}
}

func TestFDInvalidDescriptors(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	nop := func(*testState, calloop.Events) calloop.Action { return calloop.Continue }
	a, _ := socketPair(t)
	// A number well above the lowest free one, so that nothing reuses it.
	const closed = 900
	if err := unix.Dup3(a.fd, closed, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(closed)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := map[string]int{
		"negative":     -1,
		"closed":       closed,
		"never opened": 1 << 20,
		"regular file": int(f.Fd()),
	}
	errnos := map[string]error{"closed": unix.EBADF, "never opened": unix.EBADF, "regular file": unix.EPERM}
	for name, fd := range cases {
		tok, err := l.AddFD(fd, calloop.Readable, calloop.Level, nop)
		if err == nil {
			t.Errorf("AddFD(%s fd %d) = nil, want an error", name, fd)
			continue
		}
		if !tok.IsZero() {
			t.Errorf("AddFD(%s) returned token %v with an error", name, tok)
		}
		if want, ok := errnos[name]; ok {
			var se *os.SyscallError
			if !errors.As(err, &se) || !errors.Is(err, want) {
				t.Errorf("AddFD(%s) = %v (%T), want an *os.SyscallError wrapping %v", name, err, err, want)
			}
		}
	}
	// The loop is unharmed.
	n := 0
	if _, err := l.AddIdle(func(*testState) { n++ }); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if n != 1 {
		t.Fatal("loop broken after failed AddFD calls")
	}
}

func TestFDDuplicateRegistration(t *testing.T) {
	t.Run("enabled", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		a, b := socketPair(t)
		first := &ctFDRecorder{drain: -1}
		second := &ctFDRecorder{drain: -1}
		tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, first.fn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddFD(a.fd, calloop.Writable, calloop.Level, second.fn); err == nil {
			t.Fatal("second AddFD of the same fd = nil, want an error")
		} else if !errors.Is(err, unix.EEXIST) {
			t.Errorf("second AddFD of the same fd = %v, want EEXIST", err)
		}
		if err := l.ModifyFD(tok, calloop.Readable, calloop.Level); err != nil {
			t.Fatalf("ModifyFD on the first registration: %v", err)
		}
		writeFD(t, b, "x")
		ctDispatch0(t, l, &s, 1)
		if len(first.evs) != 1 || len(second.evs) != 0 {
			t.Fatalf("first got %v, second got %v; want the first only", first.evs, second.evs)
		}
		if err := l.Remove(tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("first disabled", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		a, b := socketPair(t)
		first := &ctFDRecorder{drain: -1}
		tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, first.fn)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Disable(tok); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, first.fn); err == nil {
			t.Error("AddFD of an fd registered (disabled) with this loop = nil, want an error")
		}
		if err := l.Enable(tok); err != nil {
			t.Fatalf("Enable of the first registration: %v", err)
		}
		writeFD(t, b, "x")
		ctDispatch0(t, l, &s, 1)
		if len(first.evs) != 1 {
			t.Fatalf("first registration got %v after Enable", first.evs)
		}
	})
}

func TestFDDisableEnable(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	rec := &ctFDRecorder{drain: -1}
	tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	if err := l.Disable(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Disable(tok); err != nil {
		t.Fatalf("second Disable: %v", err)
	}
	ctDispatch0(t, l, &s, 2)
	if len(rec.evs) != 0 {
		t.Fatalf("disabled fd reported %v", rec.evs)
	}
	// ModifyFD on a disabled fd records settings for Enable.
	if err := l.ModifyFD(tok, calloop.Writable, calloop.Level); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(rec.evs) != 0 {
		t.Fatalf("ModifyFD re-enabled a disabled fd: %v", rec.evs)
	}
	if err := l.Enable(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Enable(tok); err != nil {
		t.Fatalf("second Enable: %v", err)
	}
	ctDispatch0(t, l, &s, 1)
	if fmt.Sprint(rec.take()) != fmt.Sprint([]calloop.Events{calloop.Writable}) {
		t.Fatalf("after Enable: want [Writable] (the interest set while disabled)")
	}
	// The Disable action from the callback.
	if err := l.ModifyFD(tok, calloop.Readable, calloop.Level); err != nil {
		t.Fatal(err)
	}
	rec.action = calloop.Disable
	ctDispatch0(t, l, &s, 3)
	if len(rec.take()) != 1 {
		t.Fatal("callback returning Disable was called again")
	}
	rec.action = calloop.Continue
	if err := l.Enable(tok); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(rec.take()) != 1 {
		t.Fatal("Enable after the Disable action did not resume events")
	}
}

func TestFDRemoveFromOwnCallback(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	n := 0
	var tok calloop.Token
	var err error
	tok, err = l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		n++
		if err := l.Remove(tok); err != nil {
			t.Errorf("Remove(own token) = %v", err)
		}
		return calloop.Disable // ignored: already removed
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	ctDispatch0(t, l, &s, 3)
	if n != 1 {
		t.Fatalf("callback ran %d times, want 1", n)
	}
	if err := l.Enable(tok); !isInvalid(err) {
		t.Fatalf("Enable after removal = %v, want ErrInvalidToken", err)
	}
	// Removed from the kernel too: the fd registers again.
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
		t.Fatalf("AddFD after removal: %v", err)
	}
}

func TestFDRemovedNotDispatchedAndReinsertDeliversPendingData(t *testing.T) {
	// register_deregister_unix
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	rec := &ctFDRecorder{drain: a.fd}
	tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "pending")
	ctDispatch0(t, l, &s, 2)
	if len(rec.evs) != 0 {
		t.Fatalf("removed fd dispatched: %v", rec.evs)
	}
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, rec.fn); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(rec.evs) != 1 {
		t.Fatalf("re-inserted fd with pending data: %v, want one event", rec.evs)
	}
}

func TestFDClosedAndNumberReused(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	old := &ctFDRecorder{drain: -1}
	oldTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, old.fn)
	if err != nil {
		t.Fatal(err)
	}
	num := a.fd
	// Close the fd behind the loop's back, and put another socket at the same
	// number.
	c, d := socketPair(t)
	a.Close()
	if err := unix.Dup3(c.fd, num, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	c.Close()
	reused := &testFD{num}
	t.Cleanup(reused.Close)
	nw := &ctFDRecorder{drain: -1}
	newTok, err := l.AddFD(num, calloop.Readable, calloop.Level, nw.fn)
	if err != nil {
		t.Fatalf("AddFD of a reused fd number: %v", err)
	}
	_ = b // the old socket's peer: its socket is gone, nothing can reach the old source
	writeFD(t, d, "new")
	ctDispatch0(t, l, &s, 1)
	if len(old.evs) != 0 || len(nw.evs) != 1 {
		t.Fatalf("old source got %v, new got %v; want only the new one called", old.evs, nw.evs)
	}
	if err := l.ModifyFD(oldTok, calloop.Readable, calloop.Level); err == nil {
		t.Error("ModifyFD of the stale-fd source = nil, want an error")
	}
	if err := l.Remove(oldTok); err != nil {
		t.Errorf("Remove of the stale-fd source = %v", err)
	}
	// Removing the old source did not unregister the new one.
	ctDispatch0(t, l, &s, 1)
	if len(old.evs) != 0 || len(nw.evs) != 2 {
		t.Fatalf("after Remove(old): old %v, new %v; want the new one still reported", old.evs, nw.evs)
	}
	if err := l.Disable(newTok); err != nil {
		t.Fatal(err)
	}
	if err := l.Enable(newTok); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(nw.evs) != 3 {
		t.Fatalf("new source after Disable/Enable: %d events, want 3", len(nw.evs))
	}
}

func TestFDClosedInCallbackThenRemoved(t *testing.T) {
	// The documented way to close: close inside the callback, return Remove.
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	n := 0
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		n++
		a.Close()
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	ctDispatch0(t, l, &s, 3)
	if n != 1 {
		t.Fatalf("callback ran %d times, want 1", n)
	}
}

func TestFDWritable(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, _ := socketPair(t)
	rec := &ctFDRecorder{drain: -1, action: calloop.Remove}
	if _, err := l.AddFD(a.fd, calloop.Writable, calloop.Edge, rec.fn); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.evs) != fmt.Sprint([]calloop.Events{calloop.Writable}) {
		t.Fatalf("fresh socket with Writable interest: %v, want [Writable]", rec.evs)
	}
}

func TestFDErrorReportedWithInterest(t *testing.T) {
	// The write end of a pipe whose reader is gone reports an error; the
	// interest bits come with it so that the callback's own write sees EPIPE.
	l := newLoop[testState](t)
	var s testState
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := &testFD{p[0]}, &testFD{p[1]}
	t.Cleanup(func() { r.Close(); w.Close() })
	var evs []calloop.Events
	var werr error
	if _, err := l.AddFD(w.fd, calloop.Writable, calloop.Level, func(_ *testState, ev calloop.Events) calloop.Action {
		evs = append(evs, ev)
		_, werr = unix.Write(w.fd, []byte("x"))
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0]&calloop.Error == 0 || evs[0]&calloop.Writable == 0 {
		t.Fatalf("pipe with no reader: events %v, want Error with Writable", evs)
	}
	if evs[0]&calloop.Readable != 0 {
		t.Fatalf("%v reports Readable, which was not asked for", evs[0])
	}
	if werr != unix.EPIPE {
		t.Fatalf("write in the callback = %v, want EPIPE", werr)
	}
}
