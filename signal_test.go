//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Signals are process-wide, so these tests run in a child process: the test
// binary runs itself with TestSignalChild selected and the scenario named in
// an environment variable. The child sets up its loops and prints "ready";
// the parent sends real signals with kill(2) and reads what the child's loops
// report, one line each, prefixed with "child: ". Every wait is bounded.

const signalChildEnv = "CALLOOP_SIGNAL_CHILD"

// signalWait bounds every wait, in the parent and in the child.
const signalWait = 10 * time.Second

// TestSignalChild is the child process's side; in a normal run it does
// nothing.
func TestSignalChild(t *testing.T) {
	scenario := os.Getenv(signalChildEnv)
	if scenario == "" {
		return
	}
	fn := signalScenarios[scenario]
	if fn == nil {
		t.Fatalf("unknown scenario %q", scenario)
	}
	fn(t)
	say("done")
}

// say prints one report line for the parent.
func say(format string, args ...any) {
	fmt.Printf("child: "+format+"\n", args...)
}

// sigState is the state of the child's loops.
type sigState struct{ seen int }

func newSigLoop(t *testing.T) *calloop.Loop[sigState] {
	t.Helper()
	l, err := calloop.New[sigState]()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func notify(t *testing.T, l *calloop.Loop[sigState], fn func(s *sigState, sig os.Signal), sigs ...os.Signal) calloop.Token {
	t.Helper()
	tok, err := calloop.Notify(l, fn, sigs...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// run runs l until it is stopped, failing after signalWait.
func run(t *testing.T, l *calloop.Loop[sigState]) {
	ctx, cancel := context.WithTimeout(context.Background(), signalWait)
	defer cancel()
	if err := l.Run(ctx, &sigState{}); err != nil {
		say("run: %v", err)
		t.Error(err)
	}
}

// runAll runs each loop on a goroutine of its own until all are stopped.
func runAll(t *testing.T, loops ...*calloop.Loop[sigState]) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { run(t, l) })
	}
	wg.Wait()
}

// forwarders waits until the goroutines of signal sources (started or not
// yet) number want, and returns their number then, or after signalWait. A
// goroutine whose source has let go of it (Remove waited for it) may take a
// moment to leave the runtime's list.
func forwarders(want int) int {
	deadline := time.Now().Add(signalWait)
	for {
		n := countForwarders()
		if n == want || time.Now().After(deadline) {
			return n
		}
		runtime.Gosched()
	}
}

func countForwarders() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("created by github.com/calloop-go/calloop.Notify["))
		}
		buf = make([]byte, 2*len(buf))
	}
}

var signalScenarios = map[string]func(t *testing.T){
	// One loop, one signal.
	"single": func(t *testing.T) {
		l := newSigLoop(t)
		notify(t, l, func(s *sigState, sig os.Signal) {
			say("got %v", sig)
			l.Stop()
		}, syscall.SIGUSR1)
		say("ready")
		run(t, l)
	},

	// Two loops watch the same signal; both are told.
	"two-loops": func(t *testing.T) {
		l1, l2 := newSigLoop(t), newSigLoop(t)
		for i, l := range []*calloop.Loop[sigState]{l1, l2} {
			notify(t, l, func(s *sigState, sig os.Signal) {
				say("loop %d got %v", i+1, sig)
				l.Stop()
			}, syscall.SIGUSR1)
		}
		say("ready")
		runAll(t, l1, l2)
	},

	// A source added from a callback while the loop runs is told too, and
	// the first one keeps working.
	"added-later": func(t *testing.T) {
		l := newSigLoop(t)
		notify(t, l, func(s *sigState, sig os.Signal) {
			s.seen++
			say("first got %v (%d)", sig, s.seen)
			if s.seen == 1 {
				notify(t, l, func(s *sigState, sig os.Signal) {
					say("second got %v", sig)
					l.Stop()
				}, syscall.SIGUSR2)
				say("ready 2")
			}
		}, syscall.SIGUSR1)
		say("ready")
		run(t, l)
	},

	// Removing a source stops its delivery: loop 1 has sources A and B for
	// SIGUSR1, loop 2 has C. A removes itself on the first signal; the second
	// reaches B and C but not A. B (on A's loop) and C keep the process
	// alive, and a signal.Notify channel shows the signal was sent.
	"remove": func(t *testing.T) {
		direct := make(chan os.Signal, 4)
		signal.Notify(direct, syscall.SIGUSR1)
		defer signal.Stop(direct)

		l1, l2 := newSigLoop(t), newSigLoop(t)
		var tokA calloop.Token
		tokA = notify(t, l1, func(s *sigState, sig os.Signal) {
			say("A got %v", sig)
			if err := l1.Remove(tokA); err != nil {
				t.Error(err)
			}
			say("A removed, forwarders %d", forwarders(2))
		}, syscall.SIGUSR1)
		bSeen := 0
		notify(t, l1, func(s *sigState, sig os.Signal) {
			bSeen++
			say("B got %v (%d)", sig, bSeen)
		}, syscall.SIGUSR1)
		notify(t, l2, func(s *sigState, sig os.Signal) {
			s.seen++
			say("C got %v (%d)", sig, s.seen)
			if s.seen == 2 {
				l2.Stop()
			}
		}, syscall.SIGUSR1)
		say("ready, forwarders %d", forwarders(3))

		var wg sync.WaitGroup
		wg.Go(func() { run(t, l2) })
		var s sigState
		deadline := time.Now().Add(signalWait)
		for bSeen < 2 && time.Now().Before(deadline) {
			if err := l1.Dispatch(time.Until(deadline), &s); err != nil {
				t.Error(err)
			}
		}
		// The process saw both signals; os/signal handed each to every
		// channel registered at that moment in one pass, so a delivery to A
		// would already be on its way. Give it a short window to show up.
		for range 2 {
			select {
			case <-direct:
			case <-time.After(signalWait):
				t.Error("signal.Notify channel: no signal")
			}
		}
		if err := l1.Dispatch(50*time.Millisecond, &s); err != nil {
			t.Error(err)
		}
		wg.Wait()
	},

	// A signal that arrives while its source is disabled is delivered when
	// the source is enabled, not before.
	"disabled": func(t *testing.T) {
		direct := make(chan os.Signal, 1)
		signal.Notify(direct, syscall.SIGUSR1)
		defer signal.Stop(direct)

		l := newSigLoop(t)
		tok := notify(t, l, func(s *sigState, sig os.Signal) {
			s.seen++
			say("got %v", sig)
		}, syscall.SIGUSR1)
		if err := l.Disable(tok); err != nil {
			t.Fatal(err)
		}
		say("ready")
		select {
		case <-direct:
		case <-time.After(signalWait):
			t.Fatal("signal.Notify channel: no signal")
		}
		var s sigState
		if err := l.Dispatch(50*time.Millisecond, &s); err != nil {
			t.Fatal(err)
		}
		say("while disabled: %d", s.seen)
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(signalWait)
		for s.seen == 0 && time.Now().Before(deadline) {
			if err := l.Dispatch(time.Until(deadline), &s); err != nil {
				t.Fatal(err)
			}
		}
		say("after enable: %d", s.seen)
	},

	// Closing loops ends their signal sources' goroutines.
	"close": func(t *testing.T) {
		l1, l2 := newSigLoop(t), newSigLoop(t)
		for _, l := range []*calloop.Loop[sigState]{l1, l1, l2} {
			notify(t, l, func(s *sigState, sig os.Signal) { l.Stop() }, syscall.SIGUSR1)
		}
		say("ready")
		runAll(t, l1, l2)
		say("forwarders %d", forwarders(3))
		l1.Close()
		say("after closing loop 1: %d", forwarders(1))
		l2.Close()
		say("after closing loop 2: %d", forwarders(0))
	},
}

// sigChild is the parent's handle on a child process.
type sigChild struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr lockedBuffer
	log    []string // every line read, for failure messages
}

func startSigChild(t *testing.T, scenario string) *sigChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), signalChildEnv+"="+scenario)
	c := &sigChild{t: t, cmd: cmd, lines: make(chan string, 64)}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return c
}

func (c *sigChild) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s\nchild output:\n%s\nstderr:\n%s", fmt.Sprintf(format, args...), strings.Join(c.log, "\n"), c.stderr.String())
}

// next returns the child's next report line, skipping the test framework's.
func (c *sigChild) next(timer <-chan time.Time) (string, bool) {
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return "", false
			}
			c.log = append(c.log, line)
			if r, ok := strings.CutPrefix(line, "child: "); ok {
				return r, true
			}
		case <-timer:
			c.t.Helper()
			c.fatalf("timed out waiting for the child")
		}
	}
}

// expect reads report lines until it has seen each of want, in any order;
// any other report line is a failure.
func (c *sigChild) expect(want ...string) {
	c.t.Helper()
	timer := time.NewTimer(signalWait)
	defer timer.Stop()
	pending := map[string]bool{}
	for _, w := range want {
		pending[w] = true
	}
	for len(pending) > 0 {
		line, ok := c.next(timer.C)
		if !ok {
			c.fatalf("child ended; still waiting for %q", want)
		}
		if !pending[line] {
			c.fatalf("unexpected report %q; waiting for %q", line, want)
		}
		delete(pending, line)
	}
}

func (c *sigChild) kill(sig syscall.Signal) {
	c.t.Helper()
	if err := syscall.Kill(c.cmd.Process.Pid, sig); err != nil {
		c.fatalf("kill: %v", err)
	}
}

// finish expects "done" as the last report and a successful exit.
func (c *sigChild) finish() {
	c.t.Helper()
	c.expect("done")
	timer := time.NewTimer(signalWait)
	defer timer.Stop()
	if line, ok := c.next(timer.C); ok {
		c.fatalf("unexpected report %q after done", line)
	}
	if err := c.cmd.Wait(); err != nil {
		c.fatalf("child: %v", err)
	}
}

func TestSignals(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "single")
		c.expect("ready")
		c.kill(syscall.SIGUSR1)
		c.expect("got user defined signal 1")
		c.finish()
	})

	t.Run("two loops, same signal", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "two-loops")
		c.expect("ready")
		c.kill(syscall.SIGUSR1)
		c.expect("loop 1 got user defined signal 1", "loop 2 got user defined signal 1")
		c.finish()
	})

	t.Run("source added later", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "added-later")
		c.expect("ready")
		c.kill(syscall.SIGUSR1)
		c.expect("first got user defined signal 1 (1)", "ready 2")
		c.kill(syscall.SIGUSR2)
		c.expect("second got user defined signal 2")
		c.finish()
	})

	t.Run("removal stops delivery", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "remove")
		c.expect("ready, forwarders 3")
		c.kill(syscall.SIGUSR1)
		c.expect("A got user defined signal 1", "A removed, forwarders 2",
			"B got user defined signal 1 (1)", "C got user defined signal 1 (1)")
		c.kill(syscall.SIGUSR1)
		c.expect("B got user defined signal 1 (2)", "C got user defined signal 1 (2)")
		c.finish() // no "A got" on the way
	})

	t.Run("delivered on enable", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "disabled")
		c.expect("ready")
		c.kill(syscall.SIGUSR1)
		c.expect("while disabled: 0")
		c.expect("got user defined signal 1")
		c.expect("after enable: 1")
		c.finish()
	})

	t.Run("close leaves no goroutine", func(t *testing.T) {
		t.Parallel() // each case is a process of its own
		c := startSigChild(t, "close")
		c.expect("ready")
		c.kill(syscall.SIGUSR1)
		c.expect("forwarders 3", "after closing loop 1: 1", "after closing loop 2: 0")
		c.finish()
	})
}

// lockedBuffer collects a child's stderr, which os/exec writes from a
// goroutine of its own.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (lb *lockedBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.Write(p)
}

func (lb *lockedBuffer) String() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.String()
}
