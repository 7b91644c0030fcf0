// Package leakcheck is the test suites' shared TestMain: it fails a
// package's test run if the tests leave a goroutine or a file descriptor
// behind. Only _test.go files import it.
package leakcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Run runs the tests of m, then checks that no goroutine (goleak) and no
// file descriptor (on systems with /proc/self/fd) is left, and returns the
// exit code for os.Exit. Descriptors the Go runtime opens once for itself
// (its netpoller) are opened before the first count.
func Run(m *testing.M, opts ...goleak.Option) int {
	warmUp()
	before := openFDs()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	if code == 0 && before != nil {
		// Closing is sometimes finished by a goroutine just ending; allow
		// it a moment before calling a descriptor leaked.
		var left []string
		for deadline := time.Now().Add(2 * time.Second); ; {
			left = leaked(before, openFDs())
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond)
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: file descriptors left after the tests: %v\n", left)
			code = 1
		}
	}
	return code
}

// warmUp makes the runtime open its own poller descriptors now.
func warmUp() {
	if r, w, err := os.Pipe(); err == nil {
		r.SetReadDeadline(time.Now())
		r.Close()
		w.Close()
	}
}

// openFDs maps each open descriptor to what it refers to, or returns nil
// where the system does not say.
func openFDs() map[string]string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed meanwhile
		}
		fds[e.Name()] = target
	}
	return fds
}

func leaked(before, after map[string]string) []string {
	var left []string
	for fd, target := range after {
		if before[fd] != target {
			left = append(left, fd+" -> "+target)
		}
	}
	slices.Sort(left)
	return left
}
