//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Spawning 100,000 tasks does not run all their first steps in one
// iteration: a timer due meanwhile fires after at most one budget of steps,
// and the rest continue in the following iterations without sleeping (the
// loop blocks in Dispatch(-1) only once every task has run).
func TestTaskBudget(t *testing.T) {
	n := 100000
	if raceEnabled {
		n = 20000
	}
	l := newLoop[testState](t)
	var s testState
	started := 0
	for range n {
		_, err := calloop.Spawn(l, func(tk *calloop.Task[testState]) error {
			started++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	atFire := -1
	l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		atFire = started
		return calloop.Drop()
	})
	iters := 0
	dispatchUntil(t, l, &s, func() bool { iters++; return started == n })
	if atFire < 0 || atFire > 1024 {
		t.Fatalf("the timer fired after %d first steps", atFire)
	}
	if iters < n/1024 {
		t.Fatalf("%d steps in %d iterations", n, iters)
	}
}
