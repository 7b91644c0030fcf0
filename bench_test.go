//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Micro-benchmarks of the steady state. The targets: no allocation per
// event for descriptors, pings, timer re-arms and zero-timeout dispatch;
// channels below one allocation per message, amortized.

type benchState struct{ n int }

func newBenchLoop(b *testing.B, opts ...calloop.Option) *calloop.Loop[benchState] {
	b.Helper()
	l, err := calloop.New[benchState](opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func dispatch0(b *testing.B, l *calloop.Loop[benchState], s *benchState) {
	if err := l.Dispatch(0, s); err != nil {
		b.Fatal(err)
	}
}

// A goroutine pings; the loop's callback answers over a Go channel; the
// goroutine waits for the answer before the next ping. One op is one round
// trip, with the loop asleep in between.
func BenchmarkPingRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []calloop.Option
	}{
		{"default", nil},
		{"blocking", []calloop.Option{calloop.WithNetpoller(false)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := calloop.New[benchState](bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			answer := make(chan struct{}, 1)
			p, err := calloop.NewPing(l, func(*benchState) { answer <- struct{}{} })
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			wg.Go(func() {
				for range b.N {
					p.Ping()
					<-answer
				}
				l.Stop()
			})
			if err := l.Run(context.Background(), &benchState{}); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		})
	}
}

// Ping and dispatch on one goroutine: the cost of the wake path without a
// sleep.
func BenchmarkPingSameGoroutine(b *testing.B) {
	l := newBenchLoop(b)
	p, err := calloop.NewPing(l, func(s *benchState) { s.n++ })
	if err != nil {
		b.Fatal(err)
	}
	var s benchState
	b.ReportAllocs()
	for b.Loop() {
		p.Ping()
		dispatch0(b, l, &s)
	}
	if s.n != b.N {
		b.Fatalf("%d callbacks for %d pings", s.n, b.N)
	}
}

// A level-triggered readable socket: one kernel event and one callback per
// Dispatch(0). The "rw" case writes and reads a byte per op.
func BenchmarkFDDispatch(b *testing.B) {
	for _, rw := range []bool{false, true} {
		name := "level"
		if rw {
			name = "write-read"
		}
		b.Run(name, func(b *testing.B) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
			ours, peer := fds[0], fds[1]
			l := newBenchLoop(b)
			var buf [1]byte
			_, err = l.AddFD(ours, calloop.Readable, calloop.Level, func(s *benchState, _ calloop.Events) calloop.Action {
				s.n++
				if rw {
					syscall.Read(ours, buf[:])
				}
				return calloop.Continue
			})
			if err != nil {
				b.Fatal(err)
			}
			one := []byte{1}
			if !rw {
				syscall.Write(peer, one)
			}
			var s benchState
			b.ReportAllocs()
			for b.Loop() {
				if rw {
					syscall.Write(peer, one)
				}
				dispatch0(b, l, &s)
			}
			if s.n != b.N {
				b.Fatalf("%d callbacks in %d dispatches", s.n, b.N)
			}
		})
	}
}

// Add and cancel a timer among 1000 others.
func BenchmarkTimerAddCancel(b *testing.B) {
	l := newBenchLoop(b)
	fn := func(*benchState, time.Time) calloop.TimerAction { return calloop.Drop() }
	for i := range 1000 {
		if _, err := l.AddTimer(time.Hour+time.Duration(i)*time.Millisecond, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t, err := l.AddTimer(time.Hour+time.Duration(i%2000)*time.Millisecond, fn)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Remove(t); err != nil {
			b.Fatal(err)
		}
	}
}

// A timer that re-arms itself at once fires once per Dispatch(0).
func BenchmarkTimerFireRearm(b *testing.B) {
	for _, bc := range []struct {
		name   string
		action func(deadline time.Time) calloop.TimerAction
	}{
		{"Again", func(time.Time) calloop.TimerAction { return calloop.Again(0) }},
		{"At", func(d time.Time) calloop.TimerAction { return calloop.At(d) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := newBenchLoop(b)
			_, err := l.AddTimer(0, func(s *benchState, d time.Time) calloop.TimerAction {
				s.n++
				return bc.action(d)
			})
			if err != nil {
				b.Fatal(err)
			}
			var s benchState
			dispatch0(b, l, &s) // fire once: the timer is now due at every dispatch
			s.n = 0
			b.ReportAllocs()
			for b.Loop() {
				dispatch0(b, l, &s)
			}
			if s.n != b.N {
				b.Fatalf("%d firings in %d dispatches", s.n, b.N)
			}
		})
	}
}

// An idle loop (one ping registered, never pinged) dispatched with a zero
// timeout: the fixed cost of an iteration.
func BenchmarkDispatchZeroTimeout(b *testing.B) {
	l := newBenchLoop(b)
	if _, err := calloop.NewPing(l, func(s *benchState) { s.n++ }); err != nil {
		b.Fatal(err)
	}
	var s benchState
	b.ReportAllocs()
	for b.Loop() {
		dispatch0(b, l, &s)
	}
	if s.n != 0 {
		b.Fatalf("%d callbacks", s.n)
	}
}

// A goroutine sends b.N messages; the loop receives them. One op is one
// message, so allocs/op is the amortized allocations per message. (The
// sender runs b.N iterations rather than b.Loop, which belongs to the
// benchmark's own goroutine.)
func BenchmarkChannelSend(b *testing.B) {
	l, err := calloop.New[benchState]()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var n int
	tx, err := calloop.NewChannel(l, func(s *benchState, m int, ok bool) {
		if !ok {
			l.Stop()
			return
		}
		s.n++
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range b.N {
			if err := tx.Send(n); err != nil {
				b.Error(err)
				break
			}
			n++
		}
		tx.Close()
	})
	var s benchState
	if err := l.Run(context.Background(), &s); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	if s.n != n {
		b.Fatalf("received %d of %d messages", s.n, n)
	}
}

// Send and Dispatch(0) on one goroutine, one message per op.
func BenchmarkChannelSendSameGoroutine(b *testing.B) {
	l := newBenchLoop(b)
	tx, err := calloop.NewChannel(l, func(s *benchState, m int, ok bool) { s.n++ })
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	var s benchState
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := tx.Send(i); err != nil {
			b.Fatal(err)
		}
		dispatch0(b, l, &s)
	}
	if s.n != b.N {
		b.Fatalf("received %d of %d messages", s.n, b.N)
	}
}
