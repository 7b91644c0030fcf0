//go:build linux

package calloop_test

import (
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Within an iteration higher classes dispatch first, across synthetic,
// cross-goroutine and kernel events.
func TestPriorityOrder(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	fdTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		s.log = append(s.log, "low fd")
		return calloop.Continue
	})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "default ping") })
	high, _ := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "high ping") })
	tx, _ := calloop.NewChannel(l, func(s *testState, m string, ok bool) {
		if ok {
			s.log = append(s.log, m)
		}
	})
	if err := l.SetPriority(fdTok, calloop.PriorityLow); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPriority(high.Token(), calloop.PriorityHigh); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPriority(tx.Token(), calloop.PriorityHigh); err != nil {
		t.Fatal(err)
	}
	l.AddTimer(0, func(s *testState, _ time.Time) calloop.TimerAction {
		s.log = append(s.log, "timer")
		return calloop.Drop()
	})
	l.AddIdle(func(s *testState) { s.log = append(s.log, "idle") })
	writeFD(t, b, "x")
	def.Ping()
	high.Ping()
	tx.Send("high channel")
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	want := []string{"high ping", "high channel", "default ping", "low fd", "timer", "idle"}
	if len(s.log) != len(want) {
		t.Fatalf("dispatched %q, want %q", s.log, want)
	}
	for i := range want {
		if s.log[i] != want[i] {
			t.Fatalf("dispatched %q, want %q", s.log, want)
		}
	}
	if p, _ := l.Priority(fdTok); p != calloop.PriorityLow {
		t.Fatalf("Priority: %v", p)
	}
	// Back to the default: the kernel's order again (synthetic first).
	l.SetPriority(fdTok, calloop.PriorityDefault)
	l.SetPriority(high.Token(), calloop.PriorityDefault)
	l.SetPriority(tx.Token(), calloop.PriorityDefault)
	s.log = nil
	writeFD(t, b, "x")
	high.Ping()
	l.Dispatch(0, &s)
	if len(s.log) != 2 || s.log[0] != "high ping" || s.log[1] != "low fd" {
		t.Fatalf("default order: %q", s.log)
	}
}

// The starvation bound: a flooded high-priority channel delays a
// low-priority event and a due timer by zero iterations. The channel keeps
// more than a budget queued at every iteration, and the low-priority ping
// and the timer still run in every iteration that sees them.
func TestPriorityStarvationBound(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	delivered := 0
	tx, err := calloop.NewChannel(l, func(s *testState, _ int, ok bool) {
		if ok {
			delivered++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	l.SetPriority(tx.Token(), calloop.PriorityHigh)
	lows := 0
	low, _ := calloop.NewPing(l, func(*testState) { lows++ })
	l.SetPriority(low.Token(), calloop.PriorityLow)
	const flood = 20000
	for i := range flood {
		tx.Send(i)
	}
	fired := 0
	for iter := 1; delivered < flood; iter++ {
		low.Ping()
		l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { fired++; return calloop.Drop() })
		before := delivered
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if iter > 1 && delivered == before {
			t.Fatalf("iteration %d: the channel made no progress", iter)
		}
		// The timer set before iteration iter is due at its poll: it fires
		// in iteration iter; the ping rung before it is dispatched in it.
		if lows != iter || fired != iter {
			t.Fatalf("iteration %d: %d low pings, %d timers fired (channel %d/%d)", iter, lows, fired, delivered, flood)
		}
		if iter > flood {
			t.Fatal("no end")
		}
	}
}

func TestSetPriorityErrors(t *testing.T) {
	l := newLoop[testState](t)
	idle, _ := l.AddIdle(func(*testState) {})
	tm, _ := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	p, _ := calloop.NewPing(l, func(*testState) {})
	for _, bad := range []calloop.Priority{-2, 2, -128, 127} {
		if err := l.SetPriority(p.Token(), bad); err == nil {
			t.Fatalf("priority %d accepted", bad)
		}
	}
	if err := l.SetPriority(idle, calloop.PriorityHigh); err == nil || isInvalid(err) {
		t.Fatalf("idle: %v", err)
	}
	if err := l.SetPriority(tm, calloop.PriorityHigh); err == nil || isInvalid(err) {
		t.Fatalf("timer: %v", err)
	}
	if err := l.SetPriority(calloop.Token{}, calloop.PriorityHigh); !isInvalid(err) {
		t.Fatalf("zero token: %v", err)
	}
	l.Remove(p.Token())
	if err := l.SetPriority(p.Token(), calloop.PriorityHigh); !isInvalid(err) {
		t.Fatalf("removed: %v", err)
	}
	if _, err := l.Priority(p.Token()); !isInvalid(err) {
		t.Fatalf("Priority of removed: %v", err)
	}
}

// A panic in a high-priority callback keeps the lower-priority events of
// the iteration, which are dispatched once in the next one.
func TestPriorityPanicKeepsEvents(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	boom := true
	high, _ := calloop.NewPing(l, func(*testState) {
		if boom {
			boom = false
			panic("boom")
		}
	})
	lowN := 0
	low, _ := calloop.NewPing(l, func(*testState) { lowN++ })
	l.SetPriority(high.Token(), calloop.PriorityHigh)
	l.SetPriority(low.Token(), calloop.PriorityLow)
	low.Ping()
	high.Ping()
	if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "boom" {
		t.Fatalf("recovered %v", v)
	}
	if lowN != 0 {
		t.Fatalf("low ran %d times before the panic", lowN)
	}
	l.Dispatch(0, &s)
	l.Dispatch(0, &s)
	if lowN != 1 {
		t.Fatalf("low ran %d times", lowN)
	}
}
