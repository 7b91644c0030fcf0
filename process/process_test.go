//go:build linux

package process

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/leakcheck"
	"github.com/calloop-go/calloop/stream"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

type app struct {
	out, errOut []byte
	exits       []*os.ProcessState
	exitErrs    []error
	closes      map[string][]error
	drains      int
}

func (a *app) closed(name string, err error) {
	if a.closes == nil {
		a.closes = map[string][]error{}
	}
	a.closes[name] = append(a.closes[name], err)
}

func newLoop(t testing.TB) *calloop.Loop[app] {
	t.Helper()
	l, err := calloop.New[app]()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// until dispatches l until cond holds, failing after 20 s.
func until(t testing.TB, l *calloop.Loop[app], s *app, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 20s")
		}
		if err := l.Dispatch(50*time.Millisecond, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
	}
}

// eachWatch runs f with the exit descriptor and with the fallback.
func eachWatch(t *testing.T, f func(t *testing.T)) {
	t.Run("exitfd", f)
	t.Run("fallback", func(t *testing.T) {
		forceFallback = true
		defer func() { forceFallback = false }()
		f(t)
	})
}

func outHandler(name string, dst func(a *app) *[]byte) *stream.Handler[app] {
	return &stream.Handler[app]{
		OnData: func(a *app, c *stream.Conn[app], in []byte) int {
			*dst(a) = append(*dst(a), in...)
			return len(in)
		},
		OnClose: func(a *app, c *stream.Conn[app], err error) { a.closed(name, err) },
	}
}

func stdout() *stream.Handler[app] {
	return outHandler("stdout", func(a *app) *[]byte { return &a.out })
}

func stderr() *stream.Handler[app] {
	return outHandler("stderr", func(a *app) *[]byte { return &a.errOut })
}

// onExit records a child's exit; an exit with an error (status unknown)
// is recorded in exitErrs too, with a nil state in exits.
func onExit(a *app, p *Process[app], st *os.ProcessState, err error) {
	a.exits = append(a.exits, st)
	if err != nil {
		a.exitErrs = append(a.exitErrs, err)
	}
}

// noChildren reports whether this process has no child at all, exited or
// not (waitid with WNOWAIT looks without reaping).
func noChildren(t testing.TB) bool {
	t.Helper()
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if err == unix.ECHILD {
		return true
	}
	if err != nil {
		t.Fatalf("waitid: %v", err)
	}
	return false // a child exists; info.Pid is 0 if it is still running
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestCatRoundTrip pipes 64 MiB through cat: written with backpressure
// (OnDrain), read back whole and in order.
func TestCatRoundTrip(t *testing.T) {
	const total = 64 << 20
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	want := sha256.Sum256(data)
	l := newLoop(t)
	var s app
	sent := 0
	const chunk = 256 << 10
	feed := func(c *stream.Conn[app]) {
		for sent < total && c.Buffered() <= 1<<20 { // past HighWater: OnDrain follows
			n := min(chunk, total-sent)
			if _, err := c.Write(data[sent : sent+n]); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			sent += n
		}
		if sent == total {
			c.Close()
		}
	}
	h := sha256.New()
	got := 0
	p, err := Start(l, Cmd[app]{
		Path: "cat",
		Stdin: &stream.Handler[app]{
			OnOpen:  func(a *app, c *stream.Conn[app]) { feed(c) },
			OnDrain: func(a *app, c *stream.Conn[app]) { a.drains++; feed(c) },
			OnClose: func(a *app, c *stream.Conn[app], err error) { a.closed("stdin", err) },
		},
		Stdout: &stream.Handler[app]{
			OnData: func(a *app, c *stream.Conn[app], in []byte) int {
				h.Write(in)
				got += len(in)
				return len(in)
			},
			OnClose: func(a *app, c *stream.Conn[app], err error) { a.closed("stdout", err) },
		},
		OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool {
		return len(s.exits) == 1 && len(s.closes["stdout"]) == 1 && len(s.closes["stdin"]) == 1
	})
	if got != total || [32]byte(h.Sum(nil)) != want {
		t.Fatalf("read %d bytes back (want %d), checksum ok: %v", got, total, [32]byte(h.Sum(nil)) == want)
	}
	if s.closes["stdin"][0] != nil || s.closes["stdout"][0] != nil || s.exits[0].ExitCode() != 0 {
		t.Fatalf("closes %v, exit %v", s.closes, s.exits[0])
	}
	if s.drains == 0 {
		t.Fatalf("64 MiB written without OnDrain: no backpressure")
	}
	if !p.Exited() || p.State() != s.exits[0] {
		t.Fatal("Exited/State disagree with OnExit")
	}
	if err := p.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Kill after exit: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		codes := []int{0, 1, 7, 255}
		for _, c := range codes {
			if _, err := Start(l, Cmd[app]{Path: "/bin/sh", Args: []string{"sh", "-c", "exit " + strconv.Itoa(c)}, OnExit: onExit}); err != nil {
				t.Fatal(err)
			}
		}
		until(t, l, &s, func() bool { return len(s.exits) == len(codes) })
		seen := map[int]bool{}
		for _, st := range s.exits {
			seen[st.ExitCode()] = true
		}
		for _, c := range codes {
			if !seen[c] {
				t.Fatalf("exit code %d not seen: %v", c, s.exits)
			}
		}
		if !noChildren(t) {
			t.Fatal("a child is left")
		}
	})
}

func TestSignal(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		p, err := Start(l, Cmd[app]{Path: "sleep", Args: []string{"sleep", "30"}, OnExit: onExit})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 1 })
		ws := s.exits[0].Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM || s.exits[0].ExitCode() != -1 {
			t.Fatalf("status %v", s.exits[0])
		}
		if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("Signal after exit: %v", err)
		}
		if !noChildren(t) {
			t.Fatal("a child is left")
		}
	})
}

// TestStdoutClosedEarly: the child closes its stdout and goes on; the
// stdout connection closes cleanly before the exit, which comes later with
// its own code.
func TestStdoutClosedEarly(t *testing.T) {
	l := newLoop(t)
	var s app
	var exitBeforeClose bool
	_, err := Start(l, Cmd[app]{
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", "echo early; exec 1>&-; read x; exit 3"},
		Stdin:  &stream.Handler[app]{},
		Stdout: stdout(),
		OnExit: func(a *app, p *Process[app], st *os.ProcessState, _ error) {
			exitBeforeClose = len(a.closes["stdout"]) == 0
			onExit(a, p, st, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.closes["stdout"]) == 1 })
	if string(s.out) != "early\n" || s.closes["stdout"][0] != nil || len(s.exits) != 0 {
		t.Fatalf("out %q, closes %v, exits %d", s.out, s.closes, len(s.exits))
	}
	// The child waits for a line on stdin: it is still running.
	l.Dispatch(100*time.Millisecond, &s)
	if len(s.exits) != 0 || exitBeforeClose {
		t.Fatal("exited before its stdin said so")
	}
}

// TestStdoutClosedEarlyExit completes TestStdoutClosedEarly: a line on
// stdin lets the child exit with 3.
func TestStdoutClosedEarlyExit(t *testing.T) {
	l := newLoop(t)
	var s app
	p, err := Start(l, Cmd[app]{
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", "echo early; exec 1>&-; read x; exit 3"},
		Stdin:  &stream.Handler[app]{OnClose: func(a *app, c *stream.Conn[app], err error) { a.closed("stdin", err) }},
		Stdout: stdout(),
		OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.closes["stdout"]) == 1 })
	p.Stdin().WriteString("go\n")
	p.Stdin().Close()
	until(t, l, &s, func() bool { return len(s.exits) == 1 && len(s.closes["stdin"]) == 1 })
	if s.exits[0].ExitCode() != 3 {
		t.Fatalf("exit %v", s.exits[0])
	}
}

// TestStdinNotRead: a child that never reads its stdin. Writes buffer up
// past HighWater without blocking the loop (a timer keeps running), the
// data stays buffered (no OnDrain), and killing the child ends it all:
// the exit by SIGKILL, and the stdin connection closes with EPIPE.
func TestStdinNotRead(t *testing.T) {
	l := newLoop(t)
	var s app
	p, err := Start(l, Cmd[app]{
		Path:   "sleep",
		Args:   []string{"sleep", "30"},
		Config: stream.Config{HighWater: 256 << 10},
		Stdin: &stream.Handler[app]{
			OnDrain: func(a *app, c *stream.Conn[app]) { a.drains++ },
			OnClose: func(a *app, c *stream.Conn[app], err error) { a.closed("stdin", err) },
		},
		OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for p.Stdin().Buffered() <= 256<<10 {
		if _, err := p.Stdin().Write(block); err != nil {
			t.Fatal(err)
		}
	}
	ticks := 0
	if _, err := l.AddTimer(time.Millisecond, func(a *app, _ time.Time) calloop.TimerAction {
		ticks++
		return calloop.Again(time.Millisecond)
	}); err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return ticks >= 20 })
	if s.drains != 0 || p.Stdin().Buffered() == 0 || len(s.exits) != 0 {
		t.Fatalf("drains %d, buffered %d, exits %d", s.drains, p.Stdin().Buffered(), len(s.exits))
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.exits) == 1 && len(s.closes["stdin"]) == 1 })
	if ws := s.exits[0].Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Fatalf("status %v", s.exits[0])
	}
	if !errors.Is(s.closes["stdin"][0], syscall.EPIPE) {
		t.Fatalf("stdin closed with %v, want EPIPE", s.closes["stdin"][0])
	}
}

// TestStdoutAndStderr: both streams, separately, and the environment and
// directory reach the child.
func TestStdoutAndStderr(t *testing.T) {
	l := newLoop(t)
	var s app
	dir := t.TempDir()
	_, err := Start(l, Cmd[app]{
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", `echo "out $FOO"; echo "err $(pwd)" >&2`},
		Env:    []string{"FOO=bar", "PATH=/usr/bin:/bin"},
		Dir:    dir,
		Stdout: stdout(),
		Stderr: stderr(),
		OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool {
		return len(s.exits) == 1 && len(s.closes["stdout"]) == 1 && len(s.closes["stderr"]) == 1
	})
	if string(s.out) != "out bar\n" || string(s.errOut) != "err "+dir+"\n" {
		t.Fatalf("stdout %q, stderr %q", s.out, s.errOut)
	}
}

// TestManyChildren starts 1,000 short-lived children, up to 50 at a time:
// every exit is reported, and no descriptor and no child (zombie or not)
// is left.
func TestManyChildren(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var out int
		l.Dispatch(0, &s) // the loop's own lazily created parts
		before := countFDs(t)
		const total, parallel = 1000, 50
		started := 0
		for len(s.exits) < total {
			for started < total && started-len(s.exits) < parallel {
				_, err := Start(l, Cmd[app]{
					Path: "/bin/echo", Args: []string{"echo", strconv.Itoa(started)},
					Stdout: &stream.Handler[app]{
						OnData: func(a *app, c *stream.Conn[app], in []byte) int { out += len(in); return len(in) },
					},
					OnExit: onExit,
				})
				if err != nil {
					t.Fatalf("Start %d: %v", started, err)
				}
				started++
			}
			if err := l.Dispatch(time.Second, &s); err != nil {
				t.Fatal(err)
			}
		}
		until(t, l, &s, func() bool { return countFDs(t) <= before })
		for _, st := range s.exits {
			if st.ExitCode() != 0 {
				t.Fatalf("exit %v", st)
			}
		}
		if after := countFDs(t); after != before {
			t.Fatalf("descriptors: %d before, %d after", before, after)
		}
		if !noChildren(t) {
			t.Fatal("a child is left")
		}
		if out < total*2 {
			t.Fatalf("read %d bytes of output", out)
		}
	})
}

func TestCannotStart(t *testing.T) {
	l := newLoop(t)
	before := countFDs(t)
	dir := t.TempDir()
	noexec := dir + "/noexec"
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	cases := []struct {
		cmd  Cmd[app]
		want error
	}{
		{Cmd[app]{Path: "no-such-program-calloop"}, exec.ErrNotFound},
		{Cmd[app]{Path: dir + "/missing", Stdin: &stream.Handler[app]{}, Stdout: stdout()}, fs.ErrNotExist},
		{Cmd[app]{Path: noexec, Stdout: stdout(), Stderr: stderr()}, fs.ErrPermission},
		{Cmd[app]{Path: dir, Stdout: stdout()}, fs.ErrPermission},
		{Cmd[app]{Path: "/bin/true", Dir: dir + "/missing"}, fs.ErrNotExist},
		{Cmd[app]{Path: "/bin/echo", Args: []string{"echo", "a\x00b"}, Stdout: stdout()}, syscall.EINVAL},
		{Cmd[app]{Path: "/bin/echo", Env: []string{"A=\x00"}, Stdin: &stream.Handler[app]{}}, syscall.EINVAL},
		{Cmd[app]{Path: "/bin/ech\x00o"}, syscall.EINVAL},
		{Cmd[app]{Path: ""}, nil},
		{Cmd[app]{Path: "/bin/true", Stdout: &stream.Handler[app]{}}, nil},
	}
	for i, c := range cases {
		p, err := Start(l, c.cmd)
		if err == nil || p != nil {
			t.Errorf("case %d (%q): no error", i, c.cmd.Path)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("case %d (%q): %v, want %v", i, c.cmd.Path, err, c.want)
		}
	}
	var s app
	l.Dispatch(0, &s)
	if after := countFDs(t); after != before {
		t.Fatalf("descriptors: %d before, %d after", before, after)
	}
	if !noChildren(t) {
		t.Fatal("a child is left")
	}
}

// TestLoopCloseKills closes the loop while children run: they are killed
// and reaped, without OnExit, and the pipes are closed.
func TestLoopCloseKills(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l, err := calloop.New[app]()
		if err != nil {
			t.Fatal(err)
		}
		var s app
		for i := 0; i < 3; i++ {
			if _, err := Start(l, Cmd[app]{Path: "sleep", Args: []string{"sleep", "30"}, Stdin: &stream.Handler[app]{}, Stdout: stdout(), OnExit: onExit}); err != nil {
				t.Fatal(err)
			}
		}
		l.Dispatch(0, &s)
		l.Close()
		if len(s.exits) != 0 {
			t.Fatalf("OnExit called on loop close")
		}
		if !noChildren(t) {
			t.Fatal("a child is left")
		}
	})
}

// TestExitedBeforeWatch: a child that is a zombie before its exit is
// watched, on a system that then refuses to watch it (kqueue's ESRCH), is
// reported and reaped all the same.
func TestExitedBeforeWatch(t *testing.T) {
	beforeWatch = func(pid int) bool {
		var info unix.Siginfo // wait for the exit without reaping
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			t.Errorf("waitid: %v", err)
		}
		return true
	}
	defer func() { beforeWatch = nil }()
	l := newLoop(t)
	var s app
	p, err := Start(l, Cmd[app]{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 5"}, OnExit: onExit})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.exits) == 1 })
	if p.State().ExitCode() != 5 || !noChildren(t) {
		t.Fatal(p.State())
	}
}

// TestFiles: standard streams given as files instead of pipes; the files
// stay open for the caller.
func TestFiles(t *testing.T) {
	l := newLoop(t)
	var s app
	dir := t.TempDir()
	in, err := os.Create(dir + "/in")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	in.WriteString("from a file\n")
	in.Seek(0, 0)
	out, err := os.Create(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, err = Start(l, Cmd[app]{
		Path: "/bin/sh", Args: []string{"sh", "-c", "cat; echo oops >&2"},
		StdinFile: in, StdoutFile: out, Stderr: stderr(), OnExit: onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.exits) == 1 && len(s.closes["stderr"]) == 1 })
	got, err := os.ReadFile(dir + "/out")
	if err != nil || string(got) != "from a file\n" || string(s.errOut) != "oops\n" {
		t.Fatalf("out %q (%v), stderr %q", got, err, s.errOut)
	}
	if _, err := out.WriteString("still open"); err != nil {
		t.Fatalf("the caller's file was closed: %v", err)
	}
}

// TestStartOnClosedLoop: a loop closed before Start: an error, and the
// child that was already started is killed and reaped.
func TestStartOnClosedLoop(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l, err := calloop.New[app]()
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		before := countFDs(t)
		if _, err := Start(l, Cmd[app]{Path: "sleep", Args: []string{"sleep", "30"}, Stdout: stdout()}); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Start on a closed loop: %v", err)
		}
		if after := countFDs(t); after != before {
			t.Fatalf("descriptors: %d before, %d after", before, after)
		}
		if !noChildren(t) {
			t.Fatal("a child is left")
		}
	})
}

// TestStartFailsLate: Start failing after the child started (here through
// a test hook, as when the loop refuses the last pipe connection) kills and
// reaps the child, closes the pipe connections already made without their
// callbacks, and leaves the loop working.
func TestStartFailsLate(t *testing.T) {
	eachWatch(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		l.Dispatch(0, &s)
		before := countFDs(t)
		afterWrap = func() error { return errors.New("late failure") }
		_, err := Start(l, Cmd[app]{Path: "sleep", Args: []string{"sleep", "30"}, Stdin: &stream.Handler[app]{}, Stdout: stdout(), OnExit: onExit})
		afterWrap = nil
		if err == nil || err.Error() != "late failure" {
			t.Fatalf("Start: %v", err)
		}
		for i := 0; i < 3; i++ {
			if err := l.Dispatch(10*time.Millisecond, &s); err != nil {
				t.Fatalf("Dispatch after a failed Start: %v", err)
			}
		}
		until(t, l, &s, func() bool { return countFDs(t) == before && noChildren(t) })
		if len(s.exits) != 0 || len(s.closes) != 0 {
			t.Fatalf("callbacks of a failed Start: exits %d, closes %v", len(s.exits), s.closes)
		}
		if _, err := Start(l, Cmd[app]{Path: "/bin/true", OnExit: onExit}); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.exits) == 1 })
	})
}
