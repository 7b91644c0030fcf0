//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"context"
	"sync"
	"testing"

	"github.com/calloop-go/calloop"
)

// A Map+Filter pipeline fed by a channel against the bare channel, one
// message per op, in one run (compare the two sub-benchmarks of each).
// Target: at most 1.2x the bare channel per message, no allocation.

// flowBenchCase builds the receiver under test on l and returns its
// sender; done is called once at the end.
type flowBenchCase struct {
	name  string
	build func(l *calloop.Loop[benchState], done func()) (*calloop.Sender[int], error)
}

var flowBenchCases = []flowBenchCase{
	{"channel", func(l *calloop.Loop[benchState], done func()) (*calloop.Sender[int], error) {
		return calloop.NewChannel(l, func(s *benchState, m int, ok bool) {
			if !ok {
				done()
				return
			}
			if m*3 >= 0 { // the work the pipeline's stages do, inline
				s.n++
			}
		})
	}},
	{"map-filter", func(l *calloop.Loop[benchState], done func()) (*calloop.Sender[int], error) {
		f, tx, err := calloop.ChannelFlow[benchState, int](l, 0)
		if err != nil {
			return nil, err
		}
		_, err = calloop.MapFlow(f, func(_ *benchState, m int) int { return m * 3 }).
			Filter(func(_ *benchState, m int) bool { return m >= 0 }).
			Sink(func(s *benchState, _ int, ok bool) {
				if !ok {
					done()
					return
				}
				s.n++
			})
		return tx, err
	}},
}

// A goroutine sends b.N messages; the loop runs until the channel closes.
func BenchmarkFlowChannel(b *testing.B) {
	for _, bc := range flowBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			l := newBenchLoop(b)
			tx, err := bc.build(l, l.Stop)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range b.N {
					if err := tx.Send(i); err != nil {
						b.Error(err)
						break
					}
				}
				tx.Close()
			})
			var s benchState
			if err := l.Run(context.Background(), &s); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
			if s.n != b.N {
				b.Fatalf("received %d of %d", s.n, b.N)
			}
		})
	}
}

// Sends and dispatches on one goroutine, 256 messages per dispatch: the
// per-message cost without a second goroutine's noise.
func BenchmarkFlowChannelSameGoroutine(b *testing.B) {
	for _, bc := range flowBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			l := newBenchLoop(b)
			tx, err := bc.build(l, func() {})
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			var s benchState
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := tx.Send(i); err != nil {
					b.Fatal(err)
				}
				if i++; i%256 == 0 {
					for s.n < i {
						dispatch0(b, l, &s)
					}
				}
			}
			for s.n < i {
				dispatch0(b, l, &s)
			}
		})
	}
}
