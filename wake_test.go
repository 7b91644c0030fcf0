//go:build linux

package calloop_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/calloop-go/calloop"
)

// TestRecvWokenByRemove: a task already waiting in Recv when the inbox's
// source is removed gets an error wrapping ErrClosed.
func TestRecvWokenByRemove(t *testing.T) {
	l := mkLoop[int](t)
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
	spinUntil(t, l, &s, func() bool { return done })
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
	l := mkLoop[int](t)
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
	spinUntil(t, l, &s, func() bool { return done })
	wg.Wait() // the blocked Send was released
	if !errors.Is(got, calloop.ErrClosed) {
		t.Fatalf("Recv after Remove = %v, want ErrClosed", got)
	}
}
