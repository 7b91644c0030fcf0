package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

// timers: insert N one-shot timers, timer i due (i*7919 mod 100) ms after the
// start (read once, before the first insert), and run the loop until all have
// fired; each callback counts and adds i to a sum. Total wall time, inserts
// included, divided by N (the floor is 100 ns/op: the last deadline).
func timers(n uint64) (result, error) { return timersRun(n, false) }

// timerFnShared is loopbench -timerfn=shared.
var timerFnShared bool

// timersRun is timers and, with cancel, timers-cancel: every odd timer is
// removed before the loop runs, and the remaining N/2 fire.
func timersRun(n uint64, cancel bool) (result, error) {
	type state struct{ count, sum uint64 }

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()

	expect := n
	if cancel {
		expect = (n + 1) / 2
	}
	var tokens []calloop.Token
	if cancel {
		tokens = make([]calloop.Token, n)
	}

	// -timerfn=shared (diagnostics): one callback for every timer, so that
	// no closure is allocated per timer; it cannot know its index, so the
	// run checks the count only and adds the expected sum itself.
	shared := func(s *state, _ time.Time) calloop.TimerAction {
		s.count++
		if s.count == expect {
			l.Stop()
		}
		return calloop.Drop()
	}
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		deadline := t0.Add(time.Duration(i*7919%100) * time.Millisecond)
		fn := shared
		if !timerFnShared {
			fn = func(s *state, _ time.Time) calloop.TimerAction {
				s.count++
				s.sum += i
				if s.count == expect {
					l.Stop()
				}
				return calloop.Drop()
			}
		}
		tok, err := l.AddTimerAt(deadline, fn)
		if err != nil {
			return result{}, fmt.Errorf("timer %d: %w", i, err)
		}
		if cancel {
			tokens[i] = tok
		}
	}
	if cancel {
		for i := uint64(1); i < n; i += 2 {
			if err := l.Remove(tokens[i]); err != nil {
				return result{}, fmt.Errorf("cancel timer %d: %w", i, err)
			}
		}
	}
	inserted := time.Since(t0)
	var s state
	if expect > 0 {
		if err := l.Run(context.Background(), &s); err != nil {
			return result{}, err
		}
	}
	elapsed := time.Since(t0)
	if verbose {
		fmt.Fprintf(os.Stderr, "go: timers: %d inserted (and cancelled) in %v, all fired after %v\n", n, inserted, elapsed)
	}

	var want uint64
	step := uint64(1)
	if cancel {
		step = 2
	}
	for i := uint64(0); i < n; i += step {
		want += i
	}
	if s.count != expect {
		return result{}, fmt.Errorf("%d fired, want %d", s.count, expect)
	}
	if timerFnShared {
		s.sum = want // not checkable without a closure per timer
	}
	if s.sum != want {
		return result{}, fmt.Errorf("index sum %d, want %d", s.sum, want)
	}
	return result{ops: n, elapsed: elapsed}, nil
}
