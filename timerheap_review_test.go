//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// TestTimerHeapCallbacksMutateOthers drives the timers through the loop on a
// virtual clock with callbacks that remove, reset, disable, enable, move
// between classes and add other timers of the same round, and sometimes
// panic. After every Dispatch the heaps' invariants hold; every firing is at
// or after its deadline, with the deadline the timer was last set to; and,
// without class moves, the timers firing in one iteration do so in
// (deadline, order set) order.
func TestTimerHeapCallbacksMutateOthers(t *testing.T) {
	for _, moves := range []bool{false, true} {
		for seed := range int64(20) {
			t.Run(fmt.Sprintf("moves=%v/seed=%d", moves, seed), func(t *testing.T) {
				timerMutationRun(t, seed, moves)
			})
		}
	}
}

func timerMutationRun(t *testing.T, seed int64, moves bool) {
	vc := NewVirtualClock(time.Unix(1e9, 0))
	l, err := New[struct{}](WithClock(vc))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewSource(seed))
	type info struct {
		when  time.Time // the deadline last set
		order int       // when it was last set (armed, re-armed, enabled)
		off   bool      // disabled
	}
	model := map[Token]*info{}
	var toks []Token
	orderN := 0
	set := func(tok Token, when time.Time) {
		orderN++
		m := model[tok]
		m.when, m.order = when, orderN
	}
	type firing struct {
		when  time.Time
		order int
	}
	var fired []firing
	var failure string
	calm := false // no panics, no operations from callbacks
	fail := func(f string, a ...any) {
		if failure == "" {
			failure = fmt.Sprintf(f, a...)
		}
	}
	pick := func() (Token, bool) {
		if len(toks) == 0 {
			return Token{}, false
		}
		return toks[rng.Intn(len(toks))], true
	}
	drop := func(tok Token) {
		delete(model, tok)
		for i, k := range toks {
			if k == tok {
				toks[i] = toks[len(toks)-1]
				toks = toks[:len(toks)-1]
				break
			}
		}
	}
	var add func() Token
	// op does one random operation on the timers; from a callback, self
	// is the firing timer.
	op := func(self Token) {
		switch rng.Intn(7) {
		case 0:
			add()
		case 1:
			if k, ok := pick(); ok && k != self {
				if err := l.Remove(k); err != nil {
					fail("Remove: %v", err)
				}
				drop(k)
			}
		case 2:
			if k, ok := pick(); ok {
				d := time.Duration(rng.Intn(4)) * time.Millisecond
				if err := l.ResetTimer(k, d); err != nil {
					fail("ResetTimer: %v", err)
				}
				set(k, l.Now().Add(d))
				if k == self {
					model[k].order = -1 // its action decides
				}
			}
		case 3:
			if k, ok := pick(); ok {
				if err := l.Disable(k); err != nil {
					fail("Disable: %v", err)
				}
				model[k].off = true
			}
		case 4:
			if k, ok := pick(); ok {
				if err := l.Enable(k); err != nil {
					fail("Enable: %v", err)
				}
				if model[k].off {
					model[k].off = false
					if k != self {
						set(k, model[k].when)
					}
				}
			}
		case 5:
			if k, ok := pick(); ok && moves {
				if err := l.SetPriority(k, Priority(rng.Intn(3)-1)); err != nil {
					fail("SetPriority: %v", err)
				}
			}
		}
	}
	cb := func(tok *Token) func(*struct{}, time.Time) TimerAction {
		return func(_ *struct{}, deadline time.Time) TimerAction {
			self := *tok
			m := model[self]
			now := l.Now()
			switch {
			case m == nil:
				fail("timer %v fired after its removal", self)
			case m.off:
				fail("timer %v fired while disabled", self)
			case !deadline.Equal(m.when):
				fail("timer %v fired for %v, set for %v", self, deadline, m.when)
			case now.Before(deadline):
				fail("timer %v fired at %v, before its deadline %v", self, now, deadline)
			}
			if m != nil {
				fired = append(fired, firing{deadline, m.order})
			}
			for n := rng.Intn(3); n > 0 && !calm; n-- {
				op(self)
			}
			if model[self] == nil || l.firing != self {
				return Drop() // removed by itself: ignored
			}
			switch r := rng.Intn(20); {
			case r == 0 && !calm:
				drop(self)
				panic("boom")
			case r < 6:
				drop(self)
				return Drop()
			case r < 13:
				d := time.Duration(rng.Intn(3)) * time.Millisecond
				if !model[self].off {
					set(self, now.Add(d))
				} else {
					model[self].when = now.Add(d)
				}
				return Again(d)
			default:
				at := now.Add(time.Duration(rng.Intn(3)-1) * time.Millisecond)
				if !model[self].off {
					set(self, at)
				} else {
					model[self].when = at
				}
				return At(at)
			}
		}
	}
	add = func() Token {
		tok := new(Token)
		d := time.Duration(rng.Intn(4)) * time.Millisecond
		k, err := l.AddTimer(d, cb(tok))
		if err != nil {
			t.Fatal(err)
		}
		*tok = k
		model[k] = &info{}
		set(k, l.Now().Add(d))
		toks = append(toks, k)
		return k
	}
	for range 30 {
		add()
	}
	var s struct{}
	for step := range 400 {
		if rng.Intn(3) == 0 {
			vc.Advance(time.Duration(rng.Intn(3)) * time.Millisecond)
		}
		if rng.Intn(4) == 0 {
			op(Token{})
		}
		fired = fired[:0]
		func() {
			defer func() {
				if v := recover(); v != nil && v != "boom" {
					panic(v)
				}
			}()
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}()
		if failure != "" {
			t.Fatalf("step %d: %s", step, failure)
		}
		if _, err := checkTimers(&l.timers); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !moves {
			for i := 1; i < len(fired); i++ {
				a, b := fired[i-1], fired[i]
				if b.when.Before(a.when) || b.when.Equal(a.when) && b.order < a.order {
					t.Fatalf("step %d: firing %d (deadline %v, set %d) after (deadline %v, set %d)", step, i, b.when, b.order, a.when, a.order)
				}
			}
		}
		if len(toks) < 10 {
			for range 10 {
				add()
			}
		}
	}
	// Every enabled timer fires once the clock passes its deadline.
	vc.Advance(time.Hour)
	calm = true
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if failure != "" {
		t.Fatal(failure)
	}
	for k, m := range model {
		if !m.off && m.when.Before(vc.Now().Add(-30*time.Minute)) {
			if tm := l.timers.lookup(k.id&^timerBit, k.gen); tm != nil && tm.enabled && !tm.held {
				// Still pending an hour after its deadline,
				// and three iterations.
				t.Fatalf("timer %v enabled, due at %v, did not fire", k, m.when)
			}
		}
	}
}
