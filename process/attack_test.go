//go:build linux

package process

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop/stream"
)

// TestGrandchildHoldsStdout: a child that leaves a grandchild holding its
// standard output still gets OnExit when it exits; the output connection
// stays open until the grandchild is gone, then closes.
func TestGrandchildHoldsStdout(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		start := time.Now()
		_, err := Start(l, Cmd[app]{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 1 & echo parent"}, Stdout: stdout(), OnExit: onExit})
		if err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 1 })
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Fatalf("OnExit after %v: waited for the grandchild", d)
		}
		until(t, l, &s, func() bool { return len(s.closes["stdout"]) == 1 })
		if string(s.out) != "parent\n" || s.closes["stdout"][0] != nil {
			t.Fatalf("out %q, close %v", s.out, s.closes["stdout"])
		}
	})
}

// TestHugeArgs: an argument list larger than the system takes fails to
// start with E2BIG, leaving nothing behind.
func TestHugeArgs(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		before := countFDs(t)
		big := strings.Repeat("a", 200000) // over MAX_ARG_STRLEN (128 KiB)
		for _, c := range []Cmd[app]{
			{Path: "/bin/true", Args: []string{"true", big}, Stdin: &stream.Handler[app]{}, Stdout: stdout()},
			{Path: "/bin/true", Env: []string{"A=" + big}, Stderr: stderr()},
		} {
			p, err := Start(l, c)
			if p != nil || !errors.Is(err, syscall.E2BIG) {
				t.Fatalf("Start: %v", err)
			}
		}
		var s app
		l.Dispatch(0, &s) // the pipe connections close in the next iteration
		if after := countFDs(t); after != before || !noChildren(t) {
			t.Fatalf("descriptors %d -> %d, children left: %v", before, after, !noChildren(t))
		}
	})
}

// TestSignalAfterExit: Signal and Kill of a child that exited and was
// reaped fail with os.ErrProcessDone; before OnExit (a zombie) they do not
// reach anyone else.
func TestSignalAfterExit(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var inExit []error
		p, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: func(a *app, p *Process[app], st *os.ProcessState, _ error) {
			a.exits = append(a.exits, st)
			inExit = append(inExit, p.Kill(), p.Signal(syscall.SIGTERM))
		}})
		if err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 1 })
		for _, err := range append(inExit, p.Kill(), p.Signal(syscall.SIGINT)) {
			if !errors.Is(err, os.ErrProcessDone) {
				t.Fatalf("signal after exit: %v", err)
			}
		}
		if !p.Exited() || p.State().ExitCode() != 0 {
			t.Fatal(p.State())
		}
	})
}

// TestReapedElsewhere: a child reaped behind the package's back (a wait
// for any child elsewhere in the program, SIGCHLD ignored) gets its OnExit,
// once, with a nil state and an error wrapping ErrStatusUnknown and
// ECHILD; the loop does not fail, no descriptor is left, and the loop goes
// on serving other children. (With the fallback, its goroutine may reap the
// child first: then a normal exit.)
func TestReapedElsewhere(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		before := countFDs(t)
		p, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: onExit})
		if err != nil {
			t.Fatal(err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(p.Pid(), &ws, 0, nil); err != nil {
			if forceFallback && errors.Is(err, syscall.ECHILD) {
				// The fallback's goroutine reaped it first: a normal exit.
				until(t, l, &s, func() bool { return len(s.exits) == 1 })
				return
			}
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 1 }) // fails on a Dispatch error
		if s.exits[0] != nil || len(s.exitErrs) != 1 {
			t.Fatalf("exit %v, errors %v", s.exits[0], s.exitErrs)
		}
		if err := s.exitErrs[0]; !errors.Is(err, ErrStatusUnknown) || !errors.Is(err, syscall.ECHILD) {
			t.Fatalf("OnExit's error: %v", err)
		}
		if p.Exited() || p.State() != nil || !errors.Is(p.Kill(), os.ErrProcessDone) {
			t.Fatalf("Exited %v, State %v", p.Exited(), p.State())
		}
		for range 3 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.exits) != 1 {
			t.Fatalf("%d OnExit calls", len(s.exits))
		}
		if after := countFDs(t); after != before {
			t.Fatalf("descriptors: %d before, %d after", before, after)
		}
		if _, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: onExit}); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 2 })
		if s.exits[1] == nil || s.exits[1].ExitCode() != 0 || len(s.exitErrs) != 1 {
			t.Fatalf("the next child: %v, errors %v", s.exits[1], s.exitErrs)
		}
	})
}

// TestReapRace: a goroutine reaping any child (syscall.Wait4(-1, ...))
// races the loop for 50 children. Every child gets one OnExit: with its
// status if the loop reaped it, with an error wrapping ErrStatusUnknown
// and ECHILD exactly for the children the goroutine reaped. Run never
// fails, and no descriptor or child is left.
func TestReapRace(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		if !noChildren(t) {
			t.Fatal("a child of an earlier test is still there")
		}
		l := newLoop(t)
		var s app
		before := countFDs(t)
		const n = 50
		type exit struct {
			st  *os.ProcessState
			err error
		}
		exits := map[int][]exit{}
		var stop atomic.Bool
		reapedHere := map[int]bool{}
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if err == nil && pid > 0 {
					reapedHere[pid] = true
					continue
				}
				runtime.Gosched()
			}
		})
		t.Cleanup(func() { stop.Store(true); wg.Wait() }) // even if the test fails
		for range n {
			_, err := Start(l, Cmd[app]{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 7"},
				OnExit: func(a *app, p *Process[app], st *os.ProcessState, err error) {
					exits[p.Pid()] = append(exits[p.Pid()], exit{st, err})
				}})
			if err != nil {
				t.Fatal(err)
			}
		}
		until(t, l, &s, func() bool { return len(exits) == n })
		stop.Store(true)
		wg.Wait()
		for range 3 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		lost := 0
		for pid, es := range exits {
			if len(es) != 1 {
				t.Fatalf("child %d: %d OnExit calls", pid, len(es))
			}
			e := es[0]
			switch {
			case reapedHere[pid]:
				lost++
				if e.st != nil || !errors.Is(e.err, ErrStatusUnknown) || !errors.Is(e.err, syscall.ECHILD) {
					t.Fatalf("child %d, reaped elsewhere: state %v, error %v", pid, e.st, e.err)
				}
			case e.err != nil || e.st == nil || e.st.ExitCode() != 7:
				t.Fatalf("child %d: state %v, error %v", pid, e.st, e.err)
			}
		}
		if lost != len(reapedHere) {
			t.Fatalf("%d children reaped by the goroutine, %d reported so", len(reapedHere), lost)
		}
		t.Logf("%d of %d children reaped by the racing goroutine", lost, n)
		if after := countFDs(t); after != before || !noChildren(t) {
			t.Fatalf("descriptors %d -> %d, children left: %v", before, after, !noChildren(t))
		}
	})
}

// TestThousandAtOnce: 1,000 children (300 with the fallback) running at
// the same time (cat, waiting for its input): half are killed, half get
// EOF and exit; every exit is reported with the right status, and no
// descriptor or child is left.
func TestThousandAtOnce(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		l.Dispatch(0, &s)
		before := countFDs(t)
		total := 1000
		if forceFallback {
			total = 300 // a thread per child blocked in wait: lighter (1,000 pass too, slowly)
		}
		procs := make([]*Process[app], total)
		for i := range procs {
			p, err := Start(l, Cmd[app]{Path: "/bin/cat", Stdin: &stream.Handler[app]{}, Stdout: stdout(), OnExit: onExit})
			if err != nil {
				t.Fatalf("Start %d: %v", i, err)
			}
			procs[i] = p
		}
		for i := 0; i < 5; i++ {
			l.Dispatch(time.Millisecond, &s)
		}
		if len(s.exits) != 0 {
			t.Fatalf("%d children exited early", len(s.exits))
		}
		for i, p := range procs {
			if i%2 == 0 {
				if err := p.Kill(); err != nil {
					t.Fatalf("Kill %d: %v", i, err)
				}
			} else {
				p.Stdin().Close()
			}
		}
		until(t, l, &s, func() bool { return len(s.exits) == total })
		for i, p := range procs {
			ws := p.State().Sys().(syscall.WaitStatus)
			if i%2 == 0 && (!ws.Signaled() || ws.Signal() != syscall.SIGKILL) || i%2 == 1 && p.State().ExitCode() != 0 {
				t.Fatalf("child %d: %v", i, p.State())
			}
		}
		until(t, l, &s, func() bool { return len(s.closes["stdout"]) == total })
		until(t, l, &s, func() bool { return countFDs(t) <= before })
		if after := countFDs(t); after != before || !noChildren(t) {
			t.Fatalf("descriptors %d -> %d, children left: %v", before, after, !noChildren(t))
		}
	})
}

// TestFromCallbacks: Start from OnExit (a chain of children, each started
// by its predecessor's exit) and Kill from the OnData of a child's own
// output.
func TestFromCallbacks(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		const chain = 30
		var next func(a *app, p *Process[app], st *os.ProcessState, err error)
		next = func(a *app, p *Process[app], st *os.ProcessState, _ error) {
			a.exits = append(a.exits, st)
			if len(a.exits) < chain {
				if _, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: next}); err != nil {
					t.Errorf("Start from OnExit: %v", err)
				}
			}
		}
		if _, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: next}); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == chain })

		var killErr error
		killed := false
		var p *Process[app]
		p, err := Start(l, Cmd[app]{
			Path: "/bin/sh", Args: []string{"sh", "-c", "echo ready; exec sleep 30"},
			Stdout: &stream.Handler[app]{OnData: func(a *app, c *stream.Conn[app], in []byte) int {
				if !killed {
					killed, killErr = true, p.Kill()
				}
				return len(in)
			}},
			OnExit: onExit,
		})
		if err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == chain+1 })
		ws := p.State().Sys().(syscall.WaitStatus)
		if killErr != nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("Kill from OnData: %v, state %v", killErr, p.State())
		}
	})
}

// TestBadConfigStartsNothing: a Cmd whose stream Config is refused fails
// before the program is started (it used to start, run for a moment and
// be killed), with an error wrapping stream.ErrConfig, and leaves nothing.
func TestBadConfigStartsNothing(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		l.Dispatch(0, &s)
		before := countFDs(t)
		starts := 0
		beforeStart = func() { starts++ }
		defer func() { beforeStart = nil }()
		marker := t.TempDir() + "/ran"
		for _, cfg := range []stream.Config{{ReadSize: -1}, {HighWater: -1}, {ReadSize: math.MaxInt}} {
			p, err := Start(l, Cmd[app]{
				Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + marker},
				Stdin: &stream.Handler[app]{}, Stdout: stdout(), Config: cfg, OnExit: onExit,
			})
			if p != nil || !errors.Is(err, stream.ErrConfig) {
				t.Fatalf("Start with %+v: %v", cfg, err)
			}
		}
		for i := 0; i < 3; i++ {
			l.Dispatch(10*time.Millisecond, &s)
		}
		if starts != 0 {
			t.Fatalf("the program was started %d times", starts)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the program ran")
		}
		if after := countFDs(t); after != before || !noChildren(t) || len(s.exits) != 0 || len(s.closes) != 0 {
			t.Fatalf("descriptors %d -> %d, exits %d, closes %v", before, after, len(s.exits), s.closes)
		}
	})
}
