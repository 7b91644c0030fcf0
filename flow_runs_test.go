package calloop_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// A ChannelFlow's consumer takes the channel's messages a run at a time.
// Whatever the consumer does in the middle of a run (disable its flow, panic,
// remove it) every message is consumed once, in order, and a bounded
// channel's capacity is given back, so that a blocked sender goes on.
func TestFlowChannelRuns(t *testing.T) {
	shapes := []struct {
		name  string
		build func(f *calloop.Flow[int, int]) *calloop.Flow[int, int]
	}{
		{"sink", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] { return f }},
		{"filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return f.Filter(func(*int, int) bool { return true })
		}},
		{"map", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, func(_ *int, v int) int { return v })
		}},
		{"map-filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, func(_ *int, v int) int { return v }).Filter(func(*int, int) bool { return true })
		}},
		{"filter-map", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f.Filter(func(*int, int) bool { return true }), func(_ *int, v int) int { return v })
		}},
		{"map-throttle", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, func(_ *int, v int) int { return v }).Throttle(0)
		}},
	}
	const total = 5000
	for _, capacity := range []int{0, 16} {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/capacity-%d", sh.name, capacity), func(t *testing.T) {
				l := newLoop[int](t)
				var s int
				f, tx, err := calloop.ChannelFlow[int, int](l, capacity)
				must(t, err)
				var got []int
				var tok calloop.Token
				reenable := false
				tok, err = sh.build(f).Sink(func(_ *int, v int, ok bool) {
					if !ok {
						return
					}
					if reenable {
						t.Errorf("value %d delivered while disabled", v)
					}
					got = append(got, v)
					switch {
					case v%700 == 350:
						// Disabled in the middle of a run: nothing more
						// until Enable, then the rest in order.
						must(t, l.Disable(tok))
						reenable = true
					case v%900 == 450:
						panic(v) // consumed: delivered once, not again
					}
				})
				must(t, err)
				var wg sync.WaitGroup
				wg.Go(func() {
					for i := range total {
						if err := tx.Send(i); err != nil {
							t.Error(err)
							return
						}
					}
				})
				d := armWatchdog(t, l)
				defer d.stop()
				for len(got) < total {
					if d.expired() {
						t.Fatalf("%d of %d values within %v", len(got), total, watchdogTimeout)
					}
					if reenable {
						n := len(got)
						must(t, l.Dispatch(0, &s))
						if len(got) != n {
							t.Fatalf("%d values delivered while disabled", len(got)-n)
						}
						reenable = false
						must(t, l.Enable(tok))
					}
					if v := ctRecover(func() { must(t, l.Dispatch(10*time.Millisecond, &s)) }); v != nil && v.(int)%900 != 450 {
						t.Fatalf("panic %v", v)
					}
				}
				// The sender finishes only if every consumed message gave
				// its capacity back.
				sent := make(chan struct{})
				go func() { wg.Wait(); close(sent) }()
				select {
				case <-sent:
				case <-time.After(watchdogTimeout):
					l.Close() // fails the sender's Send
					<-sent
					t.Fatalf("the sender is still blocked after %v", watchdogTimeout)
				}
				for i, v := range got {
					if v != i {
						t.Fatalf("value %d is %d (of %d values)", i, v, len(got))
					}
				}
				must(t, tx.Close())
			})
		}
	}
}
