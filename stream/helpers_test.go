//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// env runs a loop with state *S on a goroutine of its own; do runs a
// function on the loop goroutine and waits for it.
type env[S any] struct {
	t    testing.TB
	l    *calloop.Loop[S]
	s    *S
	tx   *calloop.Sender[func(*S)]
	done chan error
}

// start creates a loop, runs setup on the calling goroutine (the loop's
// owner, before Run) and starts Run on a new goroutine.
func start[S any](t testing.TB, s *S, setup func(l *calloop.Loop[S])) *env[S] {
	t.Helper()
	l, err := calloop.New[S]()
	if err != nil {
		t.Fatal(err)
	}
	e := &env[S]{t: t, l: l, s: s, done: make(chan error, 1)}
	e.tx, err = calloop.NewChannel(l, func(s *S, fn func(*S), ok bool) {
		if ok {
			fn(s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(l)
	}
	go func() { e.done <- l.Run(context.Background(), s) }()
	t.Cleanup(e.stop)
	return e
}

// do runs fn on the loop goroutine and waits until it has run.
func (e *env[S]) do(fn func(s *S)) {
	e.t.Helper()
	ch := make(chan struct{})
	if err := e.tx.Send(func(s *S) { fn(s); close(ch) }); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-ch:
	case err := <-e.done:
		e.done <- err
		e.t.Fatalf("loop ended: %v", err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("timeout waiting for the loop")
	}
}

// stop stops the loop, waits for Run and closes the loop.
func (e *env[S]) stop() {
	if e.l == nil {
		return
	}
	e.tx.Close()
	e.l.Stop()
	if err := <-e.done; err != nil {
		e.t.Errorf("Run: %v", err)
	}
	e.l.Close()
	e.l = nil
}

// waitFor polls cond on the loop goroutine until it holds.
func (e *env[S]) waitFor(what string, cond func(s *S) bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		e.do(func(s *S) { ok = cond(s) })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timeout waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func sockPath(t testing.TB) string {
	dir, err := os.MkdirTemp("", "stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s"+strconv.Itoa(os.Getpid()))
}

// openFDs counts the descriptors of the process.
func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		ents, err = os.ReadDir("/dev/fd")
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
