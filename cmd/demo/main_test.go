package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

// wait bounds every wait for the demo's output.
const wait = 20 * time.Second

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// demoBinary builds the demo once per test run.
func demoBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "calloop-demo")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "demo")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the demo: %v", buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := leakcheck.Run(m)
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// demo is a running demo process.
type demo struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	out    []string
	stderr syncBuffer // os/exec writes it from a goroutine of its own
}

func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	d := &demo{t: t, cmd: exec.Command(demoBinary(t), args...), lines: make(chan string, 256)}
	d.cmd.Stderr = &d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	return d
}

func (d *demo) fatalf(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf(format+"\noutput:\n%s\nstderr:\n%s", append(args, strings.Join(d.out, "\n"), d.stderr.String())...)
}

// waitFor reads lines until one matches re; it returns false at the end of
// the output.
func (d *demo) waitFor(re *regexp.Regexp) bool {
	d.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				return false
			}
			d.out = append(d.out, line)
			if re.MatchString(line) {
				return true
			}
		case <-timer.C:
			d.fatalf("timed out waiting for a line matching %q", re)
		}
	}
}

func (d *demo) expect(re string) {
	d.t.Helper()
	if !d.waitFor(regexp.MustCompile(re)) {
		d.fatalf("output ended without a line matching %q", re)
	}
}

// finish reads the rest of the output and expects a clean exit.
func (d *demo) finish() {
	d.t.Helper()
	d.expect(`^bye$`)
	if d.waitFor(regexp.MustCompile(``)) {
		d.fatalf("output after bye")
	}
	if err := d.cmd.Wait(); err != nil {
		d.fatalf("demo: %v", err)
	}
	if d.stderr.String() != "" {
		d.fatalf("unexpected stderr")
	}
}

func TestDemoSignals(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
	}{
		{syscall.SIGINT, "interrupt"},
		{syscall.SIGTERM, "terminated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t)
			d.expect(`^running; press Ctrl-C to stop$`)
			d.expect(`^clock \d\d:\d\d:\d\d  workers: 0/10 0/15 0/20$`)
			d.expect(`^worker 1: step 1 of 10$`)
			d.expect(`^worker 2: step 1 of 15$`)
			if err := d.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			d.expect(`^` + tc.name + `: stopping$`)
			d.finish()
		})
	}
}

func TestDemoDuration(t *testing.T) {
	d := startDemo(t, "-duration", "1200ms")
	d.expect(`^clock `)
	d.expect(`^clock \d\d:\d\d:\d\d  workers: \d+/10 \d+/15 \d+/20$`) // the next second
	d.expect(`^time is up: stopping$`)
	d.finish()
}

// TestRun runs the demo in this process (under the race detector when the
// tests are), with fast workers: they are done (in about 700ms) well before
// the demo's time is up.
func TestRun(t *testing.T) {
	var out syncBuffer
	if err := run(2*time.Second, 10*time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"worker 1: step 10 of 10\n",
		"worker 2: step 15 of 15\n",
		"all workers finished\n",
		"time is up: stopping\nbye\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Each worker's steps arrive in order.
	for w, steps := range []int{10, 15, 20} {
		last := 0
		re := regexp.MustCompile(fmt.Sprintf(`worker %d: step (\d+) of \d+`, w+1))
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			n, _ := strconv.Atoi(m[1])
			if n != last+1 || n > steps {
				t.Fatalf("worker %d: step %d after %d", w+1, n, last)
			}
			last = n
		}
		if last != steps {
			t.Errorf("worker %d: %d steps of %d", w+1, last, steps)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the demo's writes and the test's read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
