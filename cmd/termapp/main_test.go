//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calloop-go/calloop/internal/leakcheck"
	"github.com/creack/pty"
)

// The tests run the program in a pseudo-terminal, as a child process: the
// test binary itself, which TestMain turns into termapp when asked to.
func TestMain(m *testing.M) {
	if os.Getenv("TERMAPP_CHILD") == "1" {
		os.Exit(run(strings.Fields(os.Getenv("TERMAPP_ARGS")), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(leakcheck.Run(m))
}

// watchdog bounds every wait for output.
const watchdog = 15 * time.Second

// term is the test's side of the pseudo-terminal.
type term struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd

	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // signalled when buf grows
	eof  bool
	pos  int // screens before pos were consumed by expect
}

func start(t *testing.T, args ...string) *term {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERMAPP_CHILD=1", "TERMAPP_ARGS="+strings.Join(args, " "))
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, ptmx: ptmx, cmd: cmd, more: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			tm.mu.Lock()
			tm.buf.Write(b[:n])
			if err != nil {
				tm.eof = true
			}
			tm.mu.Unlock()
			select {
			case tm.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		ptmx.Close()
	})
	return tm
}

// screens returns the complete screens drawn since the last expect.
func (tm *term) screens() (all []string, eof bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	parts := strings.Split(tm.buf.String(), "\x1b[H\x1b[2J")
	// The last part may be half written, unless the program is gone.
	if len(parts) > 1 {
		parts = parts[1:]
	}
	complete := parts[:len(parts)-1]
	if tm.eof || strings.HasSuffix(parts[len(parts)-1], "pressed)\r\n") {
		complete = parts
	}
	return complete, tm.eof
}

// expect waits until a screen drawn after the previous match satisfies ok,
// and returns it. It reads with a deadline: no sleeping.
func (tm *term) expect(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.NewTimer(watchdog)
	defer deadline.Stop()
	for {
		all, eof := tm.screens()
		for i := tm.pos; i < len(all); i++ {
			if ok(all[i]) {
				tm.pos = i + 1
				return all[i]
			}
		}
		if eof {
			tm.t.Fatalf("program ended before %s; output:\n%q", what, tm.tail())
		}
		select {
		case <-tm.more:
		case <-deadline.C:
			tm.t.Fatalf("no %s within %v; output:\n%q", what, watchdog, tm.tail())
		}
	}
}

func (tm *term) tail() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	s := tm.buf.String()
	return s[max(0, len(s)-800):]
}

func (tm *term) key(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.ptmx, s); err != nil {
		tm.t.Fatal(err)
	}
}

// wait waits for the program to exit and returns its exit code.
func (tm *term) wait() int {
	tm.t.Helper()
	done := make(chan error, 1)
	go func() { done <- tm.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		tm.t.Fatal(err)
	case <-time.After(watchdog):
		tm.t.Fatalf("program did not exit; output:\n%q", tm.tail())
	}
	return -1
}

var ticksRE = regexp.MustCompile(`ticks (\d+)`)

func ticks(screen string) int {
	m := ticksRE.FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestFetchWhileClockTicks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release: // answer only when the test says so: a slow server
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "hello from the slow server")
	}))
	defer srv.Close()
	defer close(release)

	tm := start(t, "-url", srv.URL, "-tick", "20ms")
	tm.expect("the first screen", func(s string) bool { return strings.Contains(s, "size  80x24") && ticks(s) >= 1 })

	tm.key("f")
	s := tm.expect("the pending fetch", func(s string) bool { return strings.Contains(s, ": pending") })
	t0 := ticks(s)
	// The clock keeps updating while the fetch is pending: the loop does not
	// freeze on the request.
	s = tm.expect("ticks during the fetch", func(s string) bool {
		return strings.Contains(s, ": pending") && ticks(s) >= t0+5
	})
	if !strings.Contains(s, ": pending") {
		t.Fatal("fetch finished early")
	}
	release <- struct{}{}
	tm.expect("the fetch result", func(s string) bool {
		return strings.Contains(s, "200 OK, 26 bytes: hello from the slow server")
	})

	if err := pty.Setsize(tm.ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	tm.expect("the new size", func(s string) bool { return strings.Contains(s, "size  100x40") })
	// And the clock still runs.
	tm.expect("a later tick", func(s string) bool { return ticks(s) > t0+5 })

	tm.key("q")
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit code %d; output:\n%q", code, tm.tail())
	}
	if !strings.Contains(tm.tail(), "bye") {
		t.Fatalf("no goodbye; output:\n%q", tm.tail())
	}
}

func TestCtrlCQuits(t *testing.T) {
	tm := start(t, "-tick", "20ms")
	tm.expect("the first screen", func(s string) bool { return ticks(s) >= 1 })
	tm.key("\x03")
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestQuitDuringFetch(t *testing.T) {
	// Quitting with a fetch in flight cancels it: the server sees the
	// request's context end, and the program exits at once.
	arrived, gone := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(gone)
	}))
	defer srv.Close()
	tm := start(t, "-url", srv.URL, "-tick", "20ms")
	tm.expect("the first screen", func(s string) bool { return ticks(s) >= 1 })
	tm.key("f")
	tm.expect("the pending fetch", func(s string) bool { return strings.Contains(s, ": pending") })
	select {
	case <-arrived:
	case <-time.After(watchdog):
		t.Fatal("the request did not arrive")
	}
	tm.key("q")
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	select {
	case <-gone:
	case <-time.After(watchdog):
		t.Fatal("the request was not cancelled")
	}
}

func TestNotATerminal(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TERMAPP_CHILD=1")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "not a terminal") {
		t.Fatalf("err=%v out=%q", err, out)
	}
}

func TestKeysByName(t *testing.T) {
	tm := start(t, "-tick", "1h")
	tm.expect("the first screen", func(s string) bool { return strings.Contains(s, "input none") })
	tm.key("\x1b[A")
	tm.expect("the arrow key", func(s string) bool { return strings.Contains(s, "input Up") })
	tm.key("\x1b") // alone: Esc, once the escape timeout has passed
	tm.expect("the Esc key", func(s string) bool { return strings.Contains(s, "input Esc") && strings.Contains(s, "(2 pressed)") })
	tm.key("x")
	tm.expect("a plain key", func(s string) bool { return strings.Contains(s, "input x") && strings.Contains(s, "(3 pressed)") })
	tm.key("q")
	if code := tm.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
