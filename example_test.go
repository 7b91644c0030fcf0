//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
)

// A timer that repeats three times, then stops the loop.
func ExampleLoop() {
	type App struct{ ticks int }

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.AddTimer(time.Millisecond, func(a *App, _ time.Time) calloop.TimerAction {
		a.ticks++ // direct access to the shared state, no locks
		fmt.Println("tick", a.ticks)
		if a.ticks == 3 {
			l.Stop()
			return calloop.Drop()
		}
		return calloop.Again(time.Millisecond)
	})
	if err != nil {
		log.Fatal(err)
	}

	var app App
	if err := l.Run(context.Background(), &app); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ticks:", app.ticks)
	// Output:
	// tick 1
	// tick 2
	// tick 3
	// ticks: 3
}

// Timers fire in deadline order whatever the order they were set in. A
// callback drops its timer or re-arms it: with At for an absolute deadline,
// with Again for a delay after the iteration's clock reading.
func ExampleLoop_AddTimer() {
	type State struct{}

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	start := time.Now()
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	var fired int
	add := func(deadline time.Time, fn func(deadline time.Time) calloop.TimerAction) {
		_, err := l.AddTimerAt(deadline, func(_ *State, deadline time.Time) calloop.TimerAction {
			fired++
			return fn(deadline)
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	add(ms(30), func(d time.Time) calloop.TimerAction {
		fmt.Println("c at", d.Sub(start))
		return calloop.Drop()
	})
	add(ms(10), func(d time.Time) calloop.TimerAction {
		fmt.Println("a at", d.Sub(start))
		if d.Equal(ms(10)) {
			return calloop.At(ms(40)) // once more, at 40ms
		}
		return calloop.Drop()
	})
	add(ms(20), func(d time.Time) calloop.TimerAction {
		if d.Equal(ms(20)) {
			fmt.Println("b at", d.Sub(start))
			return calloop.Again(50 * time.Millisecond) // 50ms after this iteration's clock
		}
		fmt.Println("b again, at least 70ms after start:", d.Sub(start) >= 70*time.Millisecond)
		return calloop.Drop()
	})

	var s State
	for fired < 5 {
		if err := l.Dispatch(-1, &s); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// a at 10ms
	// b at 20ms
	// c at 30ms
	// a at 40ms
	// b again, at least 70ms after start: true
}

// A socket pair: the loop reads what the peer wrote, then sees it hang up.
func ExampleLoop_AddFD() {
	type State struct{ done bool }

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	ours, peer := fds[0], fds[1]
	defer syscall.Close(ours)

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.AddFD(ours, calloop.Readable, calloop.Level, func(s *State, ev calloop.Events) calloop.Action {
		var buf [64]byte
		n, err := syscall.Read(ours, buf[:])
		switch {
		case err != nil:
			fmt.Println("read:", err)
		case n == 0:
			fmt.Println("peer closed")
			s.done = true
			return calloop.Remove
		default:
			fmt.Printf("read %q\n", buf[:n])
		}
		return calloop.Continue
	})
	if err != nil {
		log.Fatal(err)
	}

	syscall.Write(peer, []byte("hello"))
	syscall.Close(peer)

	var s State
	for !s.done {
		if err := l.Dispatch(-1, &s); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// read "hello"
	// peer closed
}

// Idle callbacks run at the end of an iteration, first queued first; one
// queued by an idle callback waits for the next iteration.
func ExampleLoop_AddIdle() {
	type State struct{}

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	l.AddIdle(func(*State) {
		fmt.Println("idle 1")
		l.AddIdle(func(*State) { fmt.Println("idle 3, in the next iteration") })
	})
	l.AddIdle(func(*State) { fmt.Println("idle 2") })
	cancelled, _ := l.AddIdle(func(*State) { fmt.Println("never") })
	l.Remove(cancelled)

	var s State
	for i := 1; i <= 2; i++ {
		if err := l.Dispatch(0, &s); err != nil {
			log.Fatal(err)
		}
		fmt.Println("end of iteration", i)
	}
	// Output:
	// idle 1
	// idle 2
	// end of iteration 1
	// idle 3, in the next iteration
	// end of iteration 2
}

// Pings coalesce: several pings before a dispatch are one callback.
func ExampleNewPing() {
	type State struct{ calls int }

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	p, err := calloop.NewPing(l, func(s *State) { s.calls++ })
	if err != nil {
		log.Fatal(err)
	}

	var s State
	p.Ping()
	p.Ping()
	p.Ping()
	l.Dispatch(0, &s)
	fmt.Println("after three pings:", s.calls)

	// From another goroutine: the loop sleeps until the ping arrives.
	go p.Ping()
	for s.calls < 2 {
		l.Dispatch(-1, &s)
	}
	fmt.Println("after a ping from a goroutine:", s.calls)
	// Output:
	// after three pings: 1
	// after a ping from a goroutine: 2
}

// Three goroutines send; the loop receives every message, in each sender's
// order, then the closed event once all senders are closed.
func ExampleNewChannel() {
	type State struct {
		got map[string][]int
	}

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	type msg struct {
		from string
		n    int
	}
	tx, err := calloop.NewChannel(l, func(s *State, m msg, ok bool) {
		if !ok {
			fmt.Println("all senders closed")
			l.Stop()
			return
		}
		s.got[m.from] = append(s.got[m.from], m.n)
	})
	if err != nil {
		log.Fatal(err)
	}

	var wg sync.WaitGroup
	for _, name := range []string{"ann", "bob", "cat"} {
		c, err := tx.Clone()
		if err != nil {
			log.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			for i := 1; i <= 3; i++ {
				c.Send(msg{name, i})
			}
		})
	}
	tx.Close() // the workers hold their own clones

	s := State{got: map[string][]int{}}
	if err := l.Run(context.Background(), &s); err != nil {
		log.Fatal(err)
	}
	wg.Wait()
	for _, name := range slices.Sorted(maps.Keys(s.got)) {
		fmt.Println(name, s.got[name])
	}
	// Output:
	// all senders closed
	// ann [1 2 3]
	// bob [1 2 3]
	// cat [1 2 3]
}

// A bounded channel has room for a fixed number of undelivered messages:
// TrySend fails with ErrFull beyond that, and the loop makes room.
func ExampleNewBoundedChannel() {
	type State struct{}

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	tx, err := calloop.NewBoundedChannel(l, 2, func(_ *State, m string, ok bool) {
		if ok {
			fmt.Println("received", m)
		} else {
			fmt.Println("closed")
		}
	})
	if err != nil {
		log.Fatal(err)
	}

	var s State
	fmt.Println(tx.TrySend("one"))
	fmt.Println(tx.TrySend("two"))
	err = tx.TrySend("three")
	fmt.Println(err, errors.Is(err, calloop.ErrFull))
	l.Dispatch(0, &s)
	fmt.Println(tx.TrySend("three"))
	tx.Close()
	l.Dispatch(0, &s)
	// Output:
	// <nil>
	// <nil>
	// calloop: channel full true
	// received one
	// received two
	// <nil>
	// received three
	// closed
}

// The process sends itself SIGUSR1; the loop's signal source reports it.
func ExampleNotify() {
	type State struct{}

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = calloop.Notify(l, func(_ *State, sig os.Signal) {
		fmt.Println("got", sig)
		l.Stop()
	}, syscall.SIGUSR1)
	if err != nil {
		log.Fatal(err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		log.Fatal(err)
	}
	var s State
	if err := l.Run(context.Background(), &s); err != nil {
		log.Fatal(err)
	}
	// Output:
	// got user defined signal 1
}

// An inner loop with its own state runs as one source of an outer loop: its
// timers and pings are dispatched by the outer loop's Run.
func ExampleAddLoop() {
	type Inner struct{ pings int }
	type Outer struct{ inner Inner }

	outer, err := calloop.New[Outer]()
	if err != nil {
		log.Fatal(err)
	}
	defer outer.Close()
	inner, err := calloop.New[Inner]()
	if err != nil {
		log.Fatal(err)
	}
	defer inner.Close()

	p, err := calloop.NewPing(inner, func(in *Inner) {
		in.pings++
		fmt.Println("inner: ping", in.pings)
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = inner.AddTimer(time.Millisecond, func(in *Inner, _ time.Time) calloop.TimerAction {
		fmt.Println("inner: timer, after", in.pings, "ping")
		outer.Stop()
		return calloop.Drop()
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := calloop.AddLoop(outer, inner, func(o *Outer) *Inner { return &o.inner }); err != nil {
		log.Fatal(err)
	}

	p.Ping()
	var o Outer
	if err := outer.Run(context.Background(), &o); err != nil {
		log.Fatal(err)
	}
	fmt.Println("outer: inner state has", o.inner.pings, "ping")
	// Output:
	// inner: ping 1
	// inner: timer, after 1 ping
	// outer: inner state has 1 ping
}

// A callback that fails ends Run with its error, which errors.Is can match.
func ExampleLoop_Fail() {
	type State struct{}
	errNoSpace := errors.New("no space left")

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	l.AddIdle(func(*State) {
		l.Fail(fmt.Errorf("saving: %w", errNoSpace))
	})
	err = l.Run(context.Background(), &State{})
	fmt.Println(err)
	fmt.Println(errors.Is(err, errNoSpace))
	// Output:
	// saving: no space left
	// true
}

// ResetTimer moves a pending timer: here from an hour away to now.
func ExampleLoop_ResetTimer() {
	type State struct{ fired bool }

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	set := time.Now()
	tok, err := l.AddTimer(time.Hour, func(s *State, deadline time.Time) calloop.TimerAction {
		s.fired = true
		fmt.Println("fired, less than an hour after it was set:", deadline.Sub(set) < time.Hour)
		return calloop.Drop()
	})
	if err != nil {
		log.Fatal(err)
	}

	var s State
	l.Dispatch(0, &s)
	fmt.Println("after a dispatch:", s.fired)
	if err := l.ResetTimer(tok, 0); err != nil {
		log.Fatal(err)
	}
	for !s.fired {
		l.Dispatch(-1, &s)
	}
	fmt.Println(l.ResetTimer(tok, 0)) // the timer was dropped
	// Output:
	// after a dispatch: false
	// fired, less than an hour after it was set: true
	// calloop: invalid token
}

// A disabled source keeps its token; what arrives meanwhile waits for
// Enable.
func ExampleLoop_Enable() {
	type State struct{ calls int }

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	p, err := calloop.NewPing(l, func(s *State) { s.calls++ })
	if err != nil {
		log.Fatal(err)
	}
	var s State
	if err := l.Disable(p.Token()); err != nil {
		log.Fatal(err)
	}
	p.Ping()
	l.Dispatch(0, &s)
	fmt.Println("while disabled:", s.calls)

	if err := l.Enable(p.Token()); err != nil {
		log.Fatal(err)
	}
	l.Dispatch(0, &s)
	fmt.Println("after Enable:", s.calls)
	// Output:
	// while disabled: 0
	// after Enable: 1
}
