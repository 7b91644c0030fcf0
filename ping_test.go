//go:build linux

package calloop_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

func TestPingCoalesces(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if s.n != 0 {
		t.Fatal("ping callback ran without a ping")
	}
	for range 100 {
		p.Ping()
	}
	ctDispatch0(t, l, &s, 1)
	if s.n != 1 {
		t.Fatalf("100 pings gave %d callbacks, want 1", s.n)
	}
	ctDispatch0(t, l, &s, 2)
	if s.n != 1 {
		t.Fatalf("callback ran again after the pings were drained (%d)", s.n)
	}
	// Drained: the loop sleeps its full timeout (no busy loop).
	start := time.Now()
	if err := l.Dispatch(20*time.Millisecond, &s); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("Dispatch(20ms) after a drained ping returned after %v", el)
	}
}

func TestPingDisableEnable(t *testing.T) {
	cases := []struct {
		name  string
		steps string // p: Ping, d: Disable, e: Enable, 0: Dispatch(0) expecting no callback
	}{
		{"ping, disable, dispatch, enable", "pd0e"},
		{"disable, ping, dispatch, enable", "dp0e"},
		{"ping, disable, enable", "pde"},
		{"ping, disable, dispatch, enable, disable, enable", "pd0ede"},
		{"ping, disable, dispatch, enable, disable, dispatch, enable", "pd0ed0e"},
		{"ping, disable, enable, disable, dispatch, enable", "pded0e"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range c.steps {
				switch st {
				case 'p':
					p.Ping()
				case 'd':
					if err := l.Disable(p.Token()); err != nil {
						t.Fatal(err)
					}
				case 'e':
					if err := l.Enable(p.Token()); err != nil {
						t.Fatal(err)
					}
				case '0':
					ctDispatch0(t, l, &s, 1)
					if s.n != 0 {
						t.Fatal("disabled ping delivered")
					}
				}
			}
			ctDispatch0(t, l, &s, 2)
			if s.n != 1 {
				t.Fatalf("ping sent while disabled: %d callbacks after Enable, want 1 (the ping kept)", s.n)
			}
		})
	}
}

func TestPingFromOwnCallbackFiresNextIteration(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var p *calloop.Ping
	var err error
	p, err = calloop.NewPing(l, func(s *testState) {
		s.n++
		if s.n < 5 {
			p.Ping()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Ping()
	for i := 1; i <= 5; i++ {
		ctDispatch0(t, l, &s, 1)
		if s.n != i {
			t.Fatalf("after %d dispatches: %d callbacks", i, s.n)
		}
	}
}

func TestPingAfterRemoveOrClose(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	p.Ping()
	if err := l.Remove(p.Token()); err != nil {
		t.Fatal(err)
	}
	p.Ping()
	ctDispatch0(t, l, &s, 2)
	if s.n != 0 {
		t.Fatal("removed ping delivered")
	}
	// The removed ping's slot is reused: the old handle must not reach the
	// new source.
	q, err := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "q") })
	if err != nil {
		t.Fatal(err)
	}
	p.Ping()
	ctDispatch0(t, l, &s, 1)
	if len(s.log) != 0 || s.n != 0 {
		t.Fatalf("old handle's ping reached the new source: %v", s.log)
	}
	q.Ping()
	ctDispatch0(t, l, &s, 1)
	if len(s.log) != 1 {
		t.Fatal("new ping not delivered")
	}
	l.Close()
	p.Ping()
	q.Ping()
}

func TestPingFromManyGoroutines(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		var sent atomic.Int64
		seen := int64(0) // pings counted before the latest callback started
		p, err := calloop.NewPing(l, func(s *testState) {
			s.n++
			seen = sent.Load()
		})
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 2000
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					sent.Add(1)
					p.Ping()
				}
			}()
		}
		// A callback must follow the last ping: no ping is lost.
		dispatchUntil(t, l, &s, func() bool { return seen == workers*each })
		wg.Wait()
		if s.n == 0 || s.n > workers*each {
			t.Fatalf("%d callbacks for %d pings", s.n, workers*each)
		}
		// Nothing more is pending.
		ctDispatch0(t, l, &s, 1)
		n := s.n
		ctDispatch0(t, l, &s, 1)
		if s.n != n {
			t.Fatal("ping callback without a ping")
		}
	})
}

func TestPingNoLostWakeup(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		// A goroutine pings while the loop goes to sleep in Dispatch(-1): every
		// round must end with the callback, in bounded time.
		l := newLoop[testState](t, opts...)
		var s testState
		p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
		if err != nil {
			t.Fatal(err)
		}
		rounds := 15000
		if raceEnabled {
			rounds = 10000
		}
		start := make(chan int)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range start {
				switch i % 4 {
				case 1:
					runtime.Gosched()
				case 2:
					for range i % 50 {
						runtime.Gosched()
					}
				}
				p.Ping()
			}
		}()
		defer func() { close(start); <-done }()
		d := armWatchdog(t, l)
		defer d.stop()
		for i := range rounds {
			d.rearm()
			want := s.n + 1
			start <- i
			for s.n < want {
				if err := l.Dispatch(-1, &s); err != nil {
					t.Fatal(err)
				}
				if d.expired() {
					t.Fatalf("round %d: the ping was lost: Dispatch(-1) slept through it", i)
				}
			}
			if s.n != want {
				t.Fatalf("round %d: %d callbacks for one ping", i, s.n-want+1)
			}
		}
	})
}

func TestPingDoesNotAllocate(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	p, err := calloop.NewPing(l, func(s *testState) { s.n++ })
	if err != nil {
		t.Fatal(err)
	}
	// Warm up the loop's buffers.
	for range 10 {
		p.Ping()
		ctDispatch0(t, l, &s, 1)
	}
	allocs := testing.AllocsPerRun(200, func() {
		p.Ping()
		l.Dispatch(0, &s)
	})
	if allocs != 0 {
		t.Fatalf("Ping + Dispatch allocates %v times per round, want 0", allocs)
	}
}

func TestPingChurnWithConcurrentPingers(t *testing.T) {
	// Ping sources are removed and re-created by the loop while other
	// goroutines keep pinging whatever handle is current: a removed ping's
	// handle is inert, and no callback runs for a removed source.
	l := newLoop[testState](t)
	var s testState
	const slots = 6
	var handles [slots]atomic.Pointer[calloop.Ping]
	live := map[int]bool{}
	bad := 0
	next := 0
	var create func(slot int)
	create = func(slot int) {
		id := next
		next++
		var p *calloop.Ping
		var err error
		p, err = calloop.NewPing(l, func(s *testState) {
			s.n++
			if !live[id] {
				bad++
			}
			if s.n%3 == 0 {
				delete(live, id)
				if err := l.Remove(p.Token()); err != nil {
					t.Errorf("Remove(own ping) = %v", err)
				}
				create(slot)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		live[id] = true
		handles[slot].Store(p)
	}
	for i := range slots {
		create(i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				handles[i%slots].Load().Ping()
				if i%4 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	target := 1500
	if raceEnabled {
		target = 600
	}
	dispatchUntil(t, l, &s, func() bool { return s.n >= target })
	close(stop)
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d callbacks ran for removed ping sources", bad)
	}
	if next < target/3 {
		t.Fatalf("only %d ping sources created", next)
	}
}
