//go:build linux

package calloop_test

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// TestRecvWokenByRemove: a task already waiting in Recv when the inbox's
// source is removed gets an error wrapping ErrClosed.
func TestRecvWokenByRemove(t *testing.T) {
	l := newLoop[int](t)
	in, tx, err := calloop.NewInbox[int, string](l, 0)
	must(t, err)
	var got error
	done := false
	_, err = calloop.Spawn(l, func(tk *calloop.Task[int]) error {
		_, got = calloop.Recv(tk, in)
		done = true
		return nil
	})
	must(t, err)
	var s int
	// Let the task reach Recv and park.
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if done {
		t.Fatal("Recv returned before anything happened")
	}
	must(t, l.Remove(tx.Token()))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return done })
	if !errors.Is(got, calloop.ErrClosed) {
		t.Fatalf("Recv after Remove = %v, want ErrClosed", got)
	}
	if err := tx.Send("late"); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Send after Remove = %v", err)
	}
}

// TestRecvWokenByRemoveWhileDisabled: the same with the source disabled
// first: the removal still reaches the waiting task.
func TestRecvWokenByRemoveWhileDisabled(t *testing.T) {
	l := newLoop[int](t)
	in, tx, err := calloop.NewInbox[int, string](l, 1)
	must(t, err)
	var got error
	done := false
	_, err = calloop.Spawn(l, func(tk *calloop.Task[int]) error {
		_, got = calloop.Recv(tk, in)
		done = true
		return nil
	})
	must(t, err)
	var s int
	must(t, l.Dispatch(0, &s))
	must(t, l.Disable(tx.Token()))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); tx.Send("a"); tx.Send("b") }() // the second blocks: capacity 1
	must(t, l.Dispatch(0, &s))
	must(t, l.Remove(tx.Token()))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return done })
	wg.Wait() // the blocked Send was released
	if !errors.Is(got, calloop.ErrClosed) {
		t.Fatalf("Recv after Remove = %v, want ErrClosed", got)
	}
}

// bellKind is one of the sources that other goroutines wake, all built on
// one wake building block: setup registers it on l and returns its token,
// a function that raises one event from any goroutine, and the count of
// deliveries its callback saw.
type bellKind struct {
	name  string
	setup func(t *testing.T, l *calloop.Loop[int]) (tok calloop.Token, raise func(), got *int)
}

var bellKinds = []bellKind{
	{"ping", func(t *testing.T, l *calloop.Loop[int]) (calloop.Token, func(), *int) {
		n := new(int)
		p, err := calloop.NewPing(l, func(*int) { *n++ })
		must(t, err)
		return p.Token(), p.Ping, n
	}},
	{"channel", func(t *testing.T, l *calloop.Loop[int]) (calloop.Token, func(), *int) {
		n := new(int)
		tx, err := calloop.NewChannel(l, func(_ *int, _ int, ok bool) {
			if ok {
				*n++
			}
		})
		must(t, err)
		t.Cleanup(func() { tx.Close() })
		return tx.Token(), func() { tx.Send(1) }, n
	}},
	{"bounded channel", func(t *testing.T, l *calloop.Loop[int]) (calloop.Token, func(), *int) {
		n := new(int)
		tx, err := calloop.NewBoundedChannel(l, 4, func(_ *int, _ int, ok bool) {
			if ok {
				*n++
			}
		})
		must(t, err)
		t.Cleanup(func() { tx.Close() })
		return tx.Token(), func() { tx.Send(1) }, n
	}},
	{"inbox", func(t *testing.T, l *calloop.Loop[int]) (calloop.Token, func(), *int) {
		n := new(int)
		in, tx, err := calloop.NewInbox[int, int](l, 0)
		must(t, err)
		_, err = calloop.Spawn(l, func(tk *calloop.Task[int]) error {
			for {
				if _, err := calloop.Recv(tk, in); err != nil {
					return nil
				}
				*n++
			}
		})
		must(t, err)
		t.Cleanup(func() { tx.Close() })
		return tx.Token(), func() { tx.Send(1) }, n
	}},
	{"signal", func(t *testing.T, l *calloop.Loop[int]) (calloop.Token, func(), *int) {
		n := new(int)
		tok, err := calloop.Notify(l, func(*int, os.Signal) { *n++ }, syscall.SIGUSR2)
		must(t, err)
		return tok, func() { syscall.Kill(os.Getpid(), syscall.SIGUSR2) }, n
	}},
}

// TestWakeRaisedWhileDisabled: for every kind, an event raised while the
// source is disabled is delivered once, on Enable, and not before.
func TestWakeRaisedWhileDisabled(t *testing.T) {
	for _, k := range bellKinds {
		t.Run(k.name, func(t *testing.T) {
			l := newLoop[int](t)
			tok, raise, got := k.setup(t, l)
			var s int
			must(t, l.Dispatch(0, &s))
			must(t, l.Disable(tok))
			raise()
			// The wakeup ends each wait early; the loop takes the event
			// and must hold it.
			for range 3 {
				must(t, l.Dispatch(20*time.Millisecond, &s))
			}
			if *got != 0 {
				t.Fatalf("delivered %d while disabled", *got)
			}
			// Disable/Enable cycles before the event is delivered raise it
			// once, not once per cycle.
			must(t, l.Enable(tok))
			must(t, l.Disable(tok))
			must(t, l.Enable(tok))
			dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return *got > 0 })
			for range 3 {
				must(t, l.Dispatch(0, &s))
			}
			if *got != 1 {
				t.Fatalf("delivered %d times, want 1", *got)
			}
		})
	}
}

// TestWakeNoLostWakeup: for every kind, each event raised from another
// goroutine wakes a loop blocked in the kernel, whatever Disable/Enable
// cycles came before; a lost wakeup would block Dispatch until its timeout.
func TestWakeNoLostWakeup(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for _, k := range bellKinds {
		t.Run(k.name, func(t *testing.T) {
			l := newLoop[int](t)
			tok, raise, got := k.setup(t, l)
			var s int
			goCh := make(chan bool)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range goCh {
					raise()
				}
			}()
			defer wg.Wait()
			defer close(goCh)
			for i := range rounds {
				if i%3 == 1 {
					must(t, l.Disable(tok))
				}
				goCh <- true // raised while the loop is busy, about to sleep, or asleep
				if i%3 == 1 {
					must(t, l.Dispatch(0, &s))
					must(t, l.Enable(tok))
				}
				start := time.Now()
				for *got <= i {
					if time.Since(start) > 5*time.Second {
						t.Fatalf("round %d: event lost (delivered %d)", i, *got)
					}
					must(t, l.Dispatch(5*time.Second, &s))
				}
			}
			if *got != rounds {
				t.Fatalf("delivered %d, want %d", *got, rounds)
			}
		})
	}
}
