//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// The cost of the instrumentation: the idle iteration (as
// BenchmarkDispatchZeroTimeout), a readable descriptor written and read per
// op (as BenchmarkFDDispatch/write-read) and a one-byte ping-pong between
// the two ends of a socketpair, both on the loop, with the instrumentation
// off, WithStats, WithSourceStats and WithSlowCallback (never reached).
func BenchmarkInsight(b *testing.B) {
	modes := []struct {
		name string
		opts []calloop.Option
	}{
		{"off", nil},
		{"stats", []calloop.Option{calloop.WithStats()}},
		{"source", []calloop.Option{calloop.WithSourceStats()}},
		{"slow", []calloop.Option{calloop.WithSourceStats(), calloop.WithSlowCallback(time.Hour, func(calloop.SlowCallback) {})}},
	}
	for _, m := range modes {
		b.Run("idle/"+m.name, func(b *testing.B) {
			l := newBenchLoop(b, m.opts...)
			if _, err := calloop.NewPing(l, func(s *benchState) { s.n++ }); err != nil {
				b.Fatal(err)
			}
			var s benchState
			b.ReportAllocs()
			for b.Loop() {
				dispatch0(b, l, &s)
			}
		})
		b.Run("fd-rw/"+m.name, func(b *testing.B) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
			l := newBenchLoop(b, m.opts...)
			var buf [1]byte
			_, err = l.AddFD(fds[0], calloop.Readable, calloop.Level, func(s *benchState, _ calloop.Events) calloop.Action {
				s.n++
				syscall.Read(fds[0], buf[:])
				return calloop.Continue
			})
			if err != nil {
				b.Fatal(err)
			}
			one := []byte{1}
			var s benchState
			b.ReportAllocs()
			for b.Loop() {
				syscall.Write(fds[1], one)
				dispatch0(b, l, &s)
			}
			if s.n != b.N {
				b.Fatalf("%d callbacks for %d ops", s.n, b.N)
			}
		})
		b.Run("fd-pingpong/"+m.name, func(b *testing.B) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
			l := newBenchLoop(b, m.opts...)
			var buf [1]byte
			for i, fd := range fds {
				_, err = l.AddFD(fd, calloop.Readable, calloop.Level, func(s *benchState, _ calloop.Events) calloop.Action {
					syscall.Read(fd, buf[:])
					if i == 1 {
						s.n++ // b answered: one round trip
					}
					syscall.Write(fd, buf[:])
					return calloop.Continue
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			var s benchState
			syscall.Write(fds[0], []byte{1})
			b.ReportAllocs()
			for b.Loop() {
				for n := s.n; s.n == n; {
					dispatch0(b, l, &s)
				}
			}
		})
	}
}
