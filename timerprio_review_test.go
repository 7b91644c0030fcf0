//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestTimerClassMoveOutOfARunWhileDue: more than a round's worth of timers
// due at one instant, settled into a run of the default class, beside timers
// of the high and low classes at the same instant. The first default
// callback moves two timers not yet taken off the run: one to the low
// class, whose turn is to come (it fires there, in its set order among the
// low timers), one to the high class, whose turn has passed (it fires in
// the next iteration). Each fires once.
func TestTimerClassMoveOutOfARunWhileDue(t *testing.T) {
	vc := NewVirtualClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := vc.Now().Add(time.Millisecond)
	var log []string
	iter := 0
	toks := map[string]Token{}
	add := func(name string, p Priority, fn func()) {
		tok, err := l.AddTimerAt(at, func(*struct{}, time.Time) TimerAction {
			log = append(log, fmt.Sprintf("%d:%s", iter, name))
			if fn != nil {
				fn()
			}
			return Drop()
		})
		if err != nil {
			t.Fatal(err)
		}
		if p != PriorityDefault {
			if err := l.SetPriority(tok, p); err != nil {
				t.Fatal(err)
			}
		}
		toks[name] = tok
	}
	const n = timerRound + 500
	// Low and high timers set before and after d1500 and d1510.
	lowAt := map[int]bool{0: true, 1400: true, 1450: true, 1505: true, 1515: true}
	highAt := map[int]bool{1: true, 1480: true, 1520: true}
	for i := range n {
		name := fmt.Sprint("d", i)
		var fn func()
		if i == 0 {
			fn = func() {
				if err := l.SetPriority(toks["d1500"], PriorityLow); err != nil {
					t.Fatal(err)
				}
				if err := l.SetPriority(toks["d1510"], PriorityHigh); err != nil {
					t.Fatal(err)
				}
			}
		}
		add(name, PriorityDefault, fn)
		if lowAt[i] {
			add(fmt.Sprint("low", i), PriorityLow, nil)
		}
		if highAt[i] {
			add(fmt.Sprint("high", i), PriorityHigh, nil)
		}
	}
	var s struct{}
	if err := l.Dispatch(time.Nanosecond, &s); err != nil { // settles: a run
		t.Fatal(err)
	}
	if hp := &l.timers.heap; len(hp.run)-hp.rp < n {
		t.Fatalf("default class: run %d, want the %d timers", len(hp.run)-hp.rp, n)
	}
	vc.Advance(time.Millisecond)
	for iter = 1; iter <= 2; iter++ {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	w := func(it int, name string) { want = append(want, fmt.Sprintf("%d:%s", it, name)) }
	// Iteration 1: high (all three), default (without the two moved),
	// low in set order, d1500 among them.
	for _, i := range []int{1, 1480, 1520} {
		w(1, fmt.Sprint("high", i))
	}
	for i := range n {
		if i != 1500 && i != 1510 {
			w(1, fmt.Sprint("d", i))
		}
	}
	for _, name := range []string{"low0", "low1400", "low1450", "d1500", "low1505", "low1515"} {
		w(1, name)
	}
	w(2, "d1510")
	if !slices.Equal(log, want) {
		for i := range min(len(log), len(want)) {
			if log[i] != want[i] {
				t.Fatalf("firing %d: %s, want %s", i, log[i], want[i])
			}
		}
		t.Fatalf("%d fired, want %d", len(log), len(want))
	}
	if _, err := checkTimers(&l.timers); err != nil {
		t.Fatal(err)
	}
}
