//go:build linux

package calloop_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Sources changed during an iteration: removed with events pending, slots reused, added mid-batch, random mutations.

func TestRemoveSourceWithPendingEventInBatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a1, b1 := socketPair(t)
	a2, b2 := socketPair(t)
	var tok1, tok2 calloop.Token
	calls := map[string]int{}
	var err error
	tok1, err = l.AddFD(a1.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		calls["1"]++
		l.Remove(tok2)
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	tok2, err = l.AddFD(a2.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		calls["2"]++
		l.Remove(tok1)
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b1, "x")
	writeFD(t, b2, "x")
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	// Both were readable in the same batch: whichever ran first removed the
	// other, whose event must be dropped.
	if (calls["1"] == 0) == (calls["2"] == 0) {
		t.Fatalf("callbacks: %v; want exactly one of the two sources called", calls)
	}
}

func TestRemoveSelfAndInsertIntoSameSlotDropsStaleEvents(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	// A source with two descriptors, both ready in one batch. Its first event
	// removes it and inserts a new source, which takes the freed slot. The
	// second event of the old source must not reach the new one.
	a1, b1 := socketPair(t)
	a2, b2 := socketPair(t)
	c1, d1 := socketPair(t)
	newSrc := &ctSource{fds: []int{c1.fd}, subBase: 10}
	var oldTok, newTok calloop.Token
	oldSrc := &ctSource{fds: []int{a1.fd, a2.fd}, subBase: 1}
	oldSrc.onProcess = func() {
		if !newTok.IsZero() {
			return
		}
		if err := l.Remove(oldTok); err != nil {
			t.Errorf("Remove(self) = %v", err)
		}
		var err error
		newTok, err = l.AddSource(newSrc.as())
		if err != nil {
			t.Errorf("AddSource from a callback = %v", err)
		}
	}
	var err error
	oldTok, err = l.AddSource(oldSrc.as())
	if err != nil {
		t.Fatal(err)
	}
	writeFD(t, b1, "x")
	writeFD(t, b2, "x")
	writeFD(t, d1, "x")
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if len(oldSrc.events) != 1 {
		t.Fatalf("old source processed %d events, want 1 (the rest are stale)", len(oldSrc.events))
	}
	if len(newSrc.events) != 0 {
		t.Fatalf("new source got %v in the iteration it was added; want nothing until the next", newSrc.events)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if len(newSrc.events) == 0 {
		t.Fatal("new source did not fire in the next iteration")
	}
	for _, ev := range newSrc.events {
		if ev.sub != 10 {
			t.Fatalf("new source got sub-token %d: a stale event of the old source was routed to it", ev.sub)
		}
	}
	if len(oldSrc.events) != 1 {
		t.Fatalf("old source processed %d events after its removal", len(oldSrc.events)-1)
	}
}

func TestTimerRemoveSelfAndInsertImmediateTimer(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var first calloop.Token
	fired := 0
	var err error
	first, err = l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		if err := l.Remove(first); err != nil {
			t.Errorf("Remove(self) = %v", err)
		}
		if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			fired++
			return calloop.Drop()
		}); err != nil {
			t.Errorf("AddTimer = %v", err)
		}
		return calloop.Again(0) // ignored: the timer was removed
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if fired != 0 {
		t.Fatal("a timer added during the iteration fired in it")
	}
	dispatchUntil(t, l, &s, func() bool { return fired > 0 })
	for range 3 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if fired != 1 {
		t.Fatalf("new timer fired %d times, want 1", fired)
	}
}

func TestSourceAddedDuringIterationWaitsForNext(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	var log []string
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
		drainFD(a.fd)
		log = append(log, "fd")
		if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, "timer")
			return calloop.Drop()
		}); err != nil {
			t.Error(err)
		}
		if _, err := l.AddSource((&ctSource{readyOnce: true, onProcess: func() { log = append(log, "source") }}).as()); err != nil {
			t.Error(err)
		}
		return calloop.Remove
	}); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x")
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "fd" {
		t.Fatalf("first iteration ran %q, want fd only", got)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "fd,source,timer" {
		t.Fatalf("second iteration: %q, want fd,source,timer (synthetic events before timers)", got)
	}
}

// TestRandomMutationsDuringDispatch adds, removes, disables and enables fds,
// timers and idles at random from inside callbacks and checks that no
// callback runs for a source that is removed or disabled.
func TestRandomMutationsDuringDispatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rng := rand.New(rand.NewSource(1))
	type entry struct {
		kind    string
		enabled bool
		fd      *testFD
	}
	live := map[calloop.Token]*entry{}
	var pairs [][2]*testFD
	for range 16 {
		a, b := socketPair(t)
		writeFD(t, b, "x") // level-triggered and never drained: always ready
		pairs = append(pairs, [2]*testFD{a, b})
	}
	inUse := map[int]bool{}
	var bad []string
	check := func(tok calloop.Token, kind string) {
		e, ok := live[tok]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s %v called after removal", kind, tok))
		} else if !e.enabled {
			bad = append(bad, fmt.Sprintf("%s %v called while disabled", kind, tok))
		}
	}
	var mutate func()
	addFD := func() {
		for _, p := range pairs {
			if inUse[p[0].fd] {
				continue
			}
			var tok calloop.Token
			var err error
			tok, err = l.AddFD(p[0].fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
				check(tok, "fd")
				mutate()
				return calloop.Continue
			})
			if err != nil {
				t.Fatalf("AddFD: %v", err)
			}
			inUse[p[0].fd] = true
			live[tok] = &entry{kind: "fd", enabled: true, fd: p[0]}
			return
		}
	}
	addTimer := func() {
		var tok calloop.Token
		var err error
		tok, err = l.AddTimer(time.Duration(rng.Intn(3))*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
			check(tok, "timer")
			mutate()
			if rng.Intn(2) == 0 {
				delete(live, tok)
				return calloop.Drop()
			}
			return calloop.Again(time.Duration(rng.Intn(2)) * time.Millisecond)
		})
		if err != nil {
			t.Fatalf("AddTimer: %v", err)
		}
		live[tok] = &entry{kind: "timer", enabled: true}
	}
	addIdle := func() {
		var tok calloop.Token
		var err error
		tok, err = l.AddIdle(func(*testState) {
			check(tok, "idle")
			delete(live, tok)
			mutate()
		})
		if err != nil {
			t.Fatalf("AddIdle: %v", err)
		}
		live[tok] = &entry{kind: "idle", enabled: true}
	}
	pick := func() (calloop.Token, *entry) {
		if len(live) == 0 {
			return calloop.Token{}, nil
		}
		k := rng.Intn(len(live))
		for tok, e := range live {
			if k == 0 {
				return tok, e
			}
			k--
		}
		return calloop.Token{}, nil
	}
	mutate = func() {
		switch rng.Intn(7) {
		case 0:
			addFD()
		case 1:
			addTimer()
		case 2:
			addIdle()
		case 3, 4:
			if tok, e := pick(); e != nil {
				if err := l.Remove(tok); err != nil {
					t.Fatalf("Remove(%s %v) = %v", e.kind, tok, err)
				}
				if e.fd != nil {
					inUse[e.fd.fd] = false
				}
				delete(live, tok)
			}
		case 5:
			if tok, e := pick(); e != nil && e.kind != "idle" {
				if err := l.Disable(tok); err != nil {
					t.Fatalf("Disable(%s %v) = %v", e.kind, tok, err)
				}
				e.enabled = false
			}
		case 6:
			if tok, e := pick(); e != nil && e.kind != "idle" {
				if err := l.Enable(tok); err != nil {
					t.Fatalf("Enable(%s %v) = %v", e.kind, tok, err)
				}
				e.enabled = true
			}
		}
	}
	for range 8 {
		addFD()
		addTimer()
		addIdle()
	}
	iters := 2000
	if raceEnabled {
		iters = 500
	}
	for i := 0; i < iters && len(bad) == 0; i++ {
		if err := l.Dispatch(time.Millisecond, &s); err != nil {
			t.Fatal(err)
		}
		if len(live) < 4 {
			addFD()
			addTimer()
			addIdle()
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d misrouted callbacks, first: %s", len(bad), bad[0])
	}
	// Every live token is still valid; every removed one is not.
	for tok, e := range live {
		if err := l.Remove(tok); err != nil {
			t.Errorf("Remove(live %s %v) = %v", e.kind, tok, err)
		}
	}
}
