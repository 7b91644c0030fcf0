//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/calloop-go/calloop"
)

// Stats is the state of the flow examples.
type Stats struct {
	seen int
	done bool
}

// runUntilDone dispatches until a sink has seen the end.
func runUntilDone(l *calloop.Loop[Stats], s *Stats) {
	for !s.done {
		l.Dispatch(time.Second, s)
	}
}

// printSink prints what reaches it and notes the end.
func printSink[T any](s *Stats, v T, ok bool) {
	if !ok {
		fmt.Println("end")
		s.done = true
		return
	}
	s.seen++
	fmt.Println(v)
}

// A channel's messages, mapped on the loop: the map function and the sink
// get the loop's state.
func ExampleMapFlow() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	words, tx, _ := calloop.ChannelFlow[Stats, string](l, 0)
	calloop.MapFlow(words, func(s *Stats, w string) string {
		return fmt.Sprintf("%d:%s", s.seen, strings.ToUpper(w))
	}).Sink(printSink)

	go func() { // any goroutine may send
		for _, w := range []string{"tick", "tock"} {
			tx.Send(w)
		}
		tx.Close() // the flow ends after the last message
	}()
	var s Stats
	runUntilDone(l, &s)
	// Output:
	// 0:TICK
	// 1:TOCK
	// end
}

func ExampleFlow_Filter() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	nums, tx, _ := calloop.ChannelFlow[Stats, int](l, 0)
	nums.Filter(func(_ *Stats, n int) bool { return n%2 == 0 }).Sink(printSink)
	for n := range 7 {
		tx.Send(n)
	}
	tx.Close()
	var s Stats
	runUntilDone(l, &s)
	// Output:
	// 0
	// 2
	// 4
	// 6
	// end
}

// Take ends a never-ending ticker after three ticks; the end removes the
// ticker's timer with the rest of the pipeline.
func ExampleFlow_Take() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	ticks, _ := calloop.TickerFlow(l, 10*time.Millisecond)
	n := calloop.MapFlow(ticks, func(s *Stats, _ time.Time) string { return fmt.Sprint("tick ", s.seen+1) })
	tok, _ := n.Take(3).Sink(printSink)
	var s Stats
	runUntilDone(l, &s)
	fmt.Println("pipeline removed:", errors.Is(l.Remove(tok), calloop.ErrInvalidToken))
	// Output:
	// tick 1
	// tick 2
	// tick 3
	// end
	// pipeline removed: true
}

// Values from two producers in one flow; it ends when both have ended.
func ExampleMerge() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	a, ea, _ := calloop.NewFlow[Stats, string](l)
	b, eb, _ := calloop.NewFlow[Stats, string](l)
	calloop.Merge(a, b).Sink(printSink)
	var s Stats
	ea.Emit(&s, "a1")
	eb.Emit(&s, "b1")
	ea.End(&s) // the merge goes on with b
	eb.Emit(&s, "b2")
	eb.End(&s)
	// Output:
	// a1
	// b1
	// b2
	// end
}

// Of a burst of values, Debounce keeps the last, once the input has been
// quiet for the duration: a window being resized, say.
func ExampleFlow_Debounce() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	sizes, em, _ := calloop.NewFlow[Stats, string](l)
	start := time.Now()
	sizes.Debounce(20 * time.Millisecond).Take(1).Sink(func(s *Stats, v string, ok bool) {
		if ok {
			fmt.Println(v, "after at least 20ms:", time.Since(start) >= 20*time.Millisecond)
			return
		}
		printSink(s, v, ok)
	})
	var s Stats
	for _, sz := range []string{"80x24", "90x30", "100x40"} {
		em.Emit(&s, sz)
	}
	runUntilDone(l, &s)
	// Output:
	// 100x40 after at least 20ms: true
	// end
}

// Throttle lets the first value of each window through.
func ExampleFlow_Throttle() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	clicks, em, _ := calloop.NewFlow[Stats, int](l)
	clicks.Throttle(time.Hour).Sink(printSink)
	var s Stats
	for i := 1; i <= 5; i++ {
		em.Emit(&s, i) // a double click, and more
	}
	em.End(&s)
	// Output:
	// 1
	// end
}

// Batch by count, by time, or both; the end flushes a partial batch.
func ExampleBatch() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	lines, tx, _ := calloop.ChannelFlow[Stats, string](l, 0)
	calloop.Batch(lines, 2, time.Second).Sink(printSink)
	for _, ln := range []string{"a", "b", "c", "d", "e"} {
		tx.Send(ln)
	}
	tx.Close()
	var s Stats
	runUntilDone(l, &s)
	// Output:
	// [a b]
	// [c d]
	// [e]
	// end
}

// A flow of a custom source's events: NewFlow gives the emitter, Adopt
// ties the source to the pipeline (silent until consumed, removed with it).
func ExampleNewFlow() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	f, em, _ := calloop.NewFlow[Stats, string](l)
	n := 0
	ping, _ := calloop.NewPing(l, func(s *Stats) {
		n++
		em.Emit(s, fmt.Sprint("ping ", n))
		if n == 2 {
			em.End(s)
		}
	})
	f.Adopt(ping.Token())
	ping.Ping() // waits: the flow is not consumed yet
	f.Sink(printSink)
	var s Stats
	l.Dispatch(time.Second, &s)
	ping.Ping()
	runUntilDone(l, &s)
	// Output:
	// ping 1
	// ping 2
	// end
}

// A task consumes a flow with Next: sequential code, with the loop's state
// between the values.
func ExampleNext() {
	l, _ := calloop.New[Stats]()
	defer l.Close()
	nums, tx, _ := calloop.ChannelFlow[Stats, int](l, 0)
	squares := calloop.MapFlow(nums, func(_ *Stats, n int) int { return n * n })
	calloop.Spawn(l, func(t *calloop.Task[Stats]) error {
		sum := 0
		for {
			v, err := calloop.Next(t, squares)
			if err != nil { // the flow ended: err wraps ErrClosed
				fmt.Println("sum", sum)
				t.State().done = true
				return nil
			}
			sum += v
			fmt.Println("got", v)
		}
	})
	for n := 1; n <= 3; n++ {
		tx.Send(n)
	}
	tx.Close()
	var s Stats
	runUntilDone(l, &s)
	// Output:
	// got 1
	// got 4
	// got 9
	// sum 14
}
