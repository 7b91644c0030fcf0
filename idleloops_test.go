//go:build linux

package calloop_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/calloop-go/calloop"
)

// countThreads returns the number of OS threads of the process.
func countThreads(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestIdleLoopsHoldNoThreads: with WithNetpoller(true), a thousand loops
// waiting in Run cost no OS thread each; every one still wakes for a ping.
func TestIdleLoopsHoldNoThreads(t *testing.T) {
	const n = 1000
	before := countThreads(t)
	type st struct{ pinged bool }
	loops := make([]*calloop.Loop[st], n)
	pings := make([]*calloop.Ping, n)
	states := make([]st, n)
	parked := make(chan struct{}, n)
	for i := range loops {
		l := newLoop[st](t, calloop.WithNetpoller(true))
		p, err := calloop.NewPing(l, func(s *st) { s.pinged = true; l.Stop() })
		if err != nil {
			t.Fatal(err)
		}
		// An idle callback reports that Run has started; the loop then
		// has nothing to do and sleeps.
		if _, err := l.AddIdle(func(*st) { parked <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		loops[i], pings[i] = l, p
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Run(context.Background(), &states[i]); err != nil {
				errs <- err
			}
		}()
	}
	for range n {
		<-parked
	}
	// Every loop has reached its wait; give the runtime its chance to
	// spawn threads if waits held them (they would be blocked in
	// epoll_wait now), then count.
	during := countThreads(t)
	for _, p := range pings {
		p.Ping()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range states {
		if !states[i].pinged {
			t.Fatalf("loop %d did not run its ping", i)
		}
	}
	if during-before > 50 {
		t.Fatalf("%d parked loops took %d OS threads (%d before, %d while waiting)", n, during-before, before, during)
	}
	t.Logf("threads: %d before, %d with %d loops waiting", before, during, n)
}
