//go:build linux

package calloop_test

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// Descriptor and source lifetimes: descriptors closed while their events
// are still in the batch being dispatched, numbers reused at once, channel
// sources removed and loops closed under senders.

// relSocket returns a socketpair (closed at the end of the test unless the
// test closed them) whose first end is readable.
func relSocket(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	if _, err := unix.Write(fds[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

type relFDLife struct {
	runs    map[int]int // source number -> callbacks
	dead    map[int]bool
	bad     []string
	closers int
}

// TestFDLifeCloseWithEventsPending: the first of many ready fds to run
// removes every other source and closes its descriptors, and registers new
// sockets that take the same numbers, in the same callback. The removed
// sources' events, still in the batch, are dropped; the new sources wait for
// the next iteration and then get their own events only.
func TestFDLifeCloseWithEventsPending(t *testing.T) {
	for _, remove := range []bool{true, false} {
		name := "remove"
		if !remove {
			name = "close-only"
		}
		t.Run(name, func(t *testing.T) {
			l := newLoop[relFDLife](t)
			st := &relFDLife{runs: map[int]int{}, dead: map[int]bool{}}
			const n = 32
			type src struct {
				a, b int
				tok  calloop.Token
			}
			srcs := make([]*src, 0, 2*n)
			closeAll := func() {
				for _, s := range srcs {
					if s.a >= 0 {
						unix.Close(s.a)
						unix.Close(s.b)
						s.a, s.b = -1, -1
					}
				}
			}
			defer closeAll()
			var add func(i int)
			dispatchNo := 0
			addedIn := map[int]int{}
			add = func(i int) {
				a, b := relSocket(t)
				s := &src{a: a, b: b}
				srcs = append(srcs, s)
				addedIn[i] = dispatchNo
				tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(st *relFDLife, ev calloop.Events) calloop.Action {
					st.runs[i]++
					if st.dead[i] {
						st.bad = append(st.bad, "source "+strconv.Itoa(i)+" ran after its fd was closed and its number taken over by a new source")
					}
					if addedIn[i] == dispatchNo {
						st.bad = append(st.bad, "source "+strconv.Itoa(i)+" ran in the iteration that added it")
					}
					if i >= n || st.closers > 0 {
						return calloop.Continue
					}
					// The first to run: close every other original source's
					// fds, and register new sockets (the numbers are reused).
					st.closers++
					for j := 0; j < n; j++ {
						if j == i {
							continue
						}
						o := srcs[j]
						if remove {
							if err := l.Remove(o.tok); err != nil {
								st.bad = append(st.bad, "Remove: "+err.Error())
							}
						}
						unix.Close(o.a)
						unix.Close(o.b)
						o.a, o.b = -1, -1
						st.dead[j] = true
					}
					for j := 0; j < n-1; j++ {
						add(n + j)
					}
					return calloop.Continue
				})
				if err != nil {
					t.Fatalf("AddFD %d: %v", i, err)
				}
				s.tok = tok
			}
			for i := 0; i < n; i++ {
				add(i)
			}
			for dispatchNo = 1; dispatchNo <= 3; dispatchNo++ {
				if err := l.Dispatch(0, st); err != nil {
					t.Fatal(err)
				}
			}
			if len(st.bad) > 0 {
				t.Fatalf("%d violations, first: %s", len(st.bad), strings.Join(st.bad[:min(5, len(st.bad))], "; "))
			}
			if st.closers != 1 {
				t.Fatalf("%d closers", st.closers)
			}
			// Every new source ran in dispatches 2 and 3, once each.
			for j := n; j < 2*n-1; j++ {
				if st.runs[j] != 2 {
					t.Errorf("new source %d ran %d times in 2 dispatches, want 2", j, st.runs[j])
				}
			}
			if !remove {
				// The old sources keep their (stale) tokens until removed.
				for j := 0; j < n; j++ {
					if st.dead[j] {
						if err := l.Remove(srcs[j].tok); err != nil {
							t.Errorf("Remove of closed-fd source %d: %v", j, err)
						}
					}
				}
				// Removing them must not have touched the new owners of
				// their numbers.
				before := map[int]int{}
				for j := n; j < 2*n-1; j++ {
					before[j] = st.runs[j]
				}
				dispatchNo = 10
				if err := l.Dispatch(0, st); err != nil {
					t.Fatal(err)
				}
				for j := n; j < 2*n-1; j++ {
					if st.runs[j] != before[j]+1 {
						t.Errorf("removing the stale source of a reused number silenced new source %d", j)
					}
				}
			}
		})
	}
}

// TestFDLifeReuseInSameCallback: a callback closes its own fd and removes
// itself, then registers a new socket that gets the same number; the new
// source does not inherit the old one's event and runs from the next
// iteration on.
func TestFDLifeReuseInSameCallback(t *testing.T) {
	l := newLoop[int](t)
	a, b := relSocket(t)
	var oldRuns, newRuns int
	var na, nb int = -1, -1
	defer func() {
		if na >= 0 {
			unix.Close(na)
			unix.Close(nb)
		}
	}()
	var d int
	var tok calloop.Token
	tok, err := l.AddFD(a, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		oldRuns++
		l.Remove(tok)
		unix.Close(a)
		unix.Close(b)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return calloop.Remove
		}
		na, nb = fds[0], fds[1]
		if na != a && nb != a {
			t.Logf("number %d not reused (got %d, %d)", a, na, nb)
		}
		if _, err := l.AddFD(na, calloop.Readable|calloop.Writable, calloop.Level, func(_ *int, ev calloop.Events) calloop.Action {
			newRuns++
			if d == 1 {
				t.Errorf("new source ran in the iteration that added it")
			}
			if ev != calloop.Writable {
				t.Errorf("new source got %v, want Writable (its socket has no data)", ev)
			}
			return calloop.Continue
		}); err != nil {
			t.Errorf("AddFD of the reused number: %v", err)
		}
		return calloop.Remove // its own source is already gone: a no-op
	})
	if err != nil {
		t.Fatal(err)
	}
	var s int
	for d = 1; d <= 3; d++ {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if oldRuns != 1 || newRuns != 2 {
		t.Fatalf("old source ran %d times (want 1), new %d (want 2)", oldRuns, newRuns)
	}
}

// TestFDLifeChannelRemovedWhileSending: a channel source is removed while
// other goroutines send to it (unbounded, and bounded with senders blocked
// on a full channel). Send then fails with ErrClosed, nothing panics, and
// nothing is delivered after the removal.
func TestFDLifeChannelRemovedWhileSending(t *testing.T) {
	for _, capacity := range []int{0, 1, 16} {
		t.Run("cap"+strconv.Itoa(capacity), func(t *testing.T) {
			type state struct {
				got     int
				removed bool
				late    int
			}
			l := newLoop[state](t)
			fn := func(s *state, m int, ok bool) {
				if s.removed {
					s.late++
				}
				if ok {
					s.got++
				}
			}
			var tx *calloop.Sender[int]
			var err error
			if capacity == 0 {
				tx, err = calloop.NewChannel(l, fn)
			} else {
				tx, err = calloop.NewBoundedChannel(l, capacity, fn)
			}
			if err != nil {
				t.Fatal(err)
			}
			const senders = 4
			errs := make(chan error, senders)
			var wg sync.WaitGroup
			for i := 0; i < senders; i++ {
				c, err := tx.Clone()
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						if r := recover(); r != nil {
							errs <- errors.New("Send panicked")
						}
					}()
					for {
						if err := c.Send(1); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			st := &state{}
			deadline := time.Now().Add(watchdogTimeout)
			for st.got < 1000 && time.Now().Before(deadline) {
				if err := l.Dispatch(time.Millisecond, st); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Remove(tx.Token()); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			st.removed = true
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(watchdogTimeout):
				buf := make([]byte, 1<<20)
				t.Fatalf("senders not released by Remove:\n%s", buf[:runtime.Stack(buf, true)])
			}
			close(errs)
			for err := range errs {
				if !errors.Is(err, calloop.ErrClosed) {
					t.Errorf("Send after Remove: %v, want ErrClosed", err)
				}
			}
			for i := 0; i < 3; i++ {
				if err := l.Dispatch(0, st); err != nil {
					t.Fatal(err)
				}
			}
			if st.late != 0 {
				t.Fatalf("%d callbacks after Remove", st.late)
			}
			if err := tx.Send(1); !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("Send after Remove: %v", err)
			}
			tx.Close()
		})
	}
}

// relWaitBlocked waits (with a deadline) until n Send calls wait on tx's
// full channel.
func relWaitBlocked(t *testing.T, tx *calloop.Sender[int], n int) {
	t.Helper()
	deadline := time.Now().Add(watchdogTimeout)
	for calloop.SendersBlocked(tx) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d senders blocked after %v", calloop.SendersBlocked(tx), n, watchdogTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFDLifeCloseReleasesBlockedSend: Close of a loop releases senders
// blocked on a full bounded channel with ErrClosed: Close from the owner
// between dispatches, from another goroutine while the loop sleeps in
// Dispatch(-1), and from a callback.
func TestFDLifeCloseReleasesBlockedSend(t *testing.T) {
	for _, how := range []string{"owner", "other-goroutine", "callback"} {
		t.Run(how, func(t *testing.T) {
			l, err := calloop.New[int]()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			delivered := 0
			tx, err := calloop.NewBoundedChannel(l, 1, func(*int, int, bool) { delivered++ })
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Send(0); err != nil { // full now
				t.Fatal(err)
			}
			const blocked = 3
			errs := make(chan error, blocked)
			for i := 0; i < blocked; i++ {
				go func() { errs <- tx.Send(1) }()
			}
			relWaitBlocked(t, tx, blocked)
			var s int
			switch how {
			case "owner":
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			case "other-goroutine":
				p, err := calloop.NewPing(l, func(*int) {})
				if err != nil {
					t.Fatal(err)
				}
				_ = p
				// Disable the channel so that the loop sleeps with the
				// senders still blocked; Close wakes it.
				if err := l.Disable(tx.Token()); err != nil {
					t.Fatal(err)
				}
				// Take the channel's pending signal first, so that the
				// next Dispatch(-1) really sleeps.
				if err := l.Dispatch(0, &s); err != nil {
					t.Fatal(err)
				}
				closed := make(chan error, 1)
				go func() {
					relWaitDispatching(l)
					closed <- l.Close()
				}()
				timer := time.AfterFunc(watchdogTimeout, l.Wakeup)
				defer timer.Stop()
				err = l.Dispatch(-1, &s)
				if err != nil && !errors.Is(err, calloop.ErrClosed) {
					t.Fatalf("Dispatch: %v", err)
				}
				if err := <-closed; err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := l.Dispatch(0, &s); !errors.Is(err, calloop.ErrClosed) {
					t.Fatalf("Dispatch after Close from another goroutine: %v, want ErrClosed", err)
				}
			case "callback":
				if err := l.Disable(tx.Token()); err != nil {
					t.Fatal(err)
				}
				if _, err := l.AddIdle(func(*int) { l.Close() }); err != nil {
					t.Fatal(err)
				}
				if err := l.Dispatch(0, &s); err != nil && !errors.Is(err, calloop.ErrClosed) {
					t.Fatalf("Dispatch: %v", err)
				}
			}
			for i := 0; i < blocked; i++ {
				select {
				case err := <-errs:
					if !errors.Is(err, calloop.ErrClosed) {
						t.Errorf("blocked Send released with %v, want ErrClosed", err)
					}
				case <-time.After(watchdogTimeout):
					buf := make([]byte, 1<<20)
					t.Fatalf("blocked Send not released by Close:\n%s", buf[:runtime.Stack(buf, true)])
				}
			}
			if err := tx.TrySend(2); !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("TrySend after Close: %v", err)
			}
		})
	}
}

// relWaitDispatching returns once l is about to sleep or sleeping in
// Dispatch (or after the watchdog's time; the Dispatch's own watchdog then
// reports it).
func relWaitDispatching[S any](l *calloop.Loop[S]) {
	deadline := time.Now().Add(watchdogTimeout)
	for !calloop.Armed(l) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
