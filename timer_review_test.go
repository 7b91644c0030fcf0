//go:build linux

package calloop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// A panic in a timer callback puts the due timers it kept from firing back
// in the heap: they keep their place among the timers of the same deadline,
// including one set (by the panicking callback) after them.
func TestTimerPanicKeepsFIFOOfRequeuedTimers(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	at := time.Now().Add(-time.Second)
	var log []string
	add := func(name string, fn func()) {
		t.Helper()
		if _, err := l.AddTimerAt(at, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, name)
			if fn != nil {
				fn()
			}
			return calloop.Drop()
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("a", func() {
		add("c", nil) // same deadline, set after b: fires after b
		panic("ct boom")
	})
	add("b", nil)
	if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "ct boom" {
		t.Fatalf("Dispatch panicked with %v", v)
	}
	for range 2 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(log); got != "[a b c]" {
		t.Fatalf("firings %v, want [a b c] (equal deadlines in the order they were set)", got)
	}
}
