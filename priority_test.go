//go:build linux

package calloop_test

import (
	"os"
	"syscall"
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
	want := []string{"high ping", "high channel", "default ping", "timer", "low fd", "idle"}
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
	if err := l.SetPriority(tm, calloop.PriorityHigh); err != nil {
		t.Fatalf("timer: %v", err)
	}
	if p, err := l.Priority(tm); err != nil || p != calloop.PriorityHigh {
		t.Fatalf("Priority of a timer: %v, %v", p, err)
	}
	if err := l.SetPriority(tm, 2); err == nil {
		t.Fatal("timer priority 2 accepted")
	}
	l.Remove(tm)
	if err := l.SetPriority(tm, calloop.PriorityLow); !isInvalid(err) {
		t.Fatalf("removed timer: %v", err)
	}
	if _, err := l.Priority(tm); !isInvalid(err) {
		t.Fatalf("Priority of a removed timer: %v", err)
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

// Timers have classes too: each class's events, then its due timers, in
// turn, highest first. Within a class timers keep their promises: never
// early, and (deadline, insertion) order, even for timers set in
// different classes in between.
func TestTimerPriorityOrder(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	logf := func(name string) func(*testState, time.Time) calloop.TimerAction {
		return func(s *testState, _ time.Time) calloop.TimerAction {
			s.log = append(s.log, name)
			return calloop.Drop()
		}
	}
	at := func(d time.Duration, p calloop.Priority, name string) calloop.Token {
		tok, err := l.AddTimerAt(epoch.Add(d), logf(name))
		must(t, err)
		must(t, l.SetPriority(tok, p))
		return tok
	}
	// Set in this order; the deadlines are 5 and 10 ms, and one at 11 ms
	// of each class is not due at 10 ms.
	at(10*time.Millisecond, calloop.PriorityLow, "low 10 a")
	at(10*time.Millisecond, calloop.PriorityHigh, "high 10 a")
	at(10*time.Millisecond, calloop.PriorityDefault, "default 10 a")
	at(10*time.Millisecond, calloop.PriorityHigh, "high 10 b")
	at(5*time.Millisecond, calloop.PriorityLow, "low 5")
	at(10*time.Millisecond, calloop.PriorityLow, "low 10 b")
	at(10*time.Millisecond, calloop.PriorityDefault, "default 10 b")
	at(5*time.Millisecond, calloop.PriorityHigh, "high 5")
	for _, p := range []calloop.Priority{calloop.PriorityHigh, calloop.PriorityDefault, calloop.PriorityLow} {
		at(11*time.Millisecond, p, "early")
	}
	a, b := socketPair(t)
	fdTok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(s *testState, _ calloop.Events) calloop.Action {
		drainFD(a.fd)
		s.log = append(s.log, "low fd")
		return calloop.Continue
	})
	must(t, err)
	must(t, l.SetPriority(fdTok, calloop.PriorityLow))
	high, _ := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "high ping") })
	must(t, l.SetPriority(high.Token(), calloop.PriorityHigh))
	def, _ := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "default ping") })
	l.AddIdle(func(s *testState) { s.log = append(s.log, "idle") })

	writeFD(t, b, "x")
	high.Ping()
	def.Ping()
	vc.Advance(10 * time.Millisecond)
	must(t, l.Dispatch(0, &s))
	want := []string{
		"high ping", "high 5", "high 10 a", "high 10 b",
		"default ping", "default 10 a", "default 10 b",
		"low fd", "low 5", "low 10 a", "low 10 b",
		"idle",
	}
	checkLog(t, s.log, want)
	s.log = nil
	vc.Advance(time.Millisecond)
	must(t, l.Dispatch(0, &s))
	checkLog(t, s.log, []string{"early", "early", "early"})
}

func checkLog(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("dispatched %q\nwant       %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dispatched %q\nwant       %q", got, want)
		}
	}
}

// A timer moved to another class and back keeps its place among the timers
// of its deadline; a disabled timer's class is kept until it is enabled;
// a re-armed timer keeps its class.
func TestTimerPriorityKeepsPlace(t *testing.T) {
	vc := calloop.NewVirtualClock(epoch)
	l := newLoop[testState](t, calloop.WithClock(vc))
	var s testState
	var toks []calloop.Token
	for _, name := range []string{"a", "b", "c", "d"} {
		tok, err := l.AddTimerAt(epoch.Add(time.Millisecond), func(s *testState, _ time.Time) calloop.TimerAction {
			s.log = append(s.log, name)
			if name == "d" && len(s.log) < 8 {
				return calloop.At(epoch.Add(2 * time.Millisecond))
			}
			return calloop.Drop()
		})
		must(t, err)
		toks = append(toks, tok)
	}
	must(t, l.SetPriority(toks[1], calloop.PriorityLow))
	must(t, l.SetPriority(toks[1], calloop.PriorityDefault))
	must(t, l.SetPriority(toks[3], calloop.PriorityHigh))
	must(t, l.Disable(toks[2]))
	must(t, l.SetPriority(toks[2], calloop.PriorityLow))
	must(t, l.Enable(toks[2]))
	must(t, l.SetPriority(toks[0], calloop.PriorityLow))
	vc.Advance(time.Millisecond)
	must(t, l.Dispatch(0, &s))
	checkLog(t, s.log, []string{"d", "b", "a", "c"})
	if p, _ := l.Priority(toks[3]); p != calloop.PriorityHigh {
		t.Fatalf("re-armed timer's class %v", p)
	}
	// Released and reused: a new timer starts in the default class.
	tok, _ := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
	if p, _ := l.Priority(tok); p != calloop.PriorityDefault {
		t.Fatalf("new timer's class %v", p)
	}
}

// The starvation bound with a flooded high-priority timer set: a thousand
// high-priority timers re-armed to fire again at once, plus a flooded
// high-priority channel, delay a low-priority timer due at the poll, and a
// low-priority ping, by zero iterations: they run in every iteration.
func TestTimerPriorityStarvationBound(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	highFired := 0
	for range 1000 {
		tok, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			highFired++
			return calloop.Again(0)
		})
		must(t, err)
		must(t, l.SetPriority(tok, calloop.PriorityHigh))
	}
	delivered := 0
	tx, err := calloop.NewChannel(l, func(_ *testState, _ int, ok bool) {
		if ok {
			delivered++
		}
	})
	must(t, err)
	defer tx.Close()
	must(t, l.SetPriority(tx.Token(), calloop.PriorityHigh))
	for i := range 50000 {
		must(t, tx.Send(i))
	}
	lowFired, lowPings := 0, 0
	lowTimer, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
		lowFired++
		return calloop.Again(0)
	})
	must(t, err)
	must(t, l.SetPriority(lowTimer, calloop.PriorityLow))
	low, _ := calloop.NewPing(l, func(*testState) { lowPings++ })
	must(t, l.SetPriority(low.Token(), calloop.PriorityLow))
	for iter := 1; iter <= 20; iter++ {
		low.Ping()
		must(t, l.Dispatch(0, &s))
		if highFired != 1000*iter || lowFired != iter || lowPings != iter {
			t.Fatalf("iteration %d: %d high timers fired, %d low timers, %d low pings (channel %d)",
				iter, highFired, lowFired, lowPings, delivered)
		}
	}
	if delivered == 0 || delivered == 50000 {
		t.Fatalf("the channel delivered %d", delivered)
	}
}

// A panic in a high-priority timer keeps the iteration's lower-class
// events, dispatched once in the next iteration, and the lower-class
// timers due, which fire then.
func TestTimerPriorityPanic(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	tok, _ := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { panic("boom") })
	must(t, l.SetPriority(tok, calloop.PriorityHigh))
	lowN, defN := 0, 0
	low, _ := calloop.NewPing(l, func(*testState) { lowN++ })
	must(t, l.SetPriority(low.Token(), calloop.PriorityLow))
	l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction { defN++; return calloop.Drop() })
	low.Ping()
	if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "boom" {
		t.Fatalf("recovered %v", v)
	}
	if lowN != 0 || defN != 0 {
		t.Fatalf("ran before the panic: low %d, timer %d", lowN, defN)
	}
	must(t, l.Dispatch(0, &s))
	must(t, l.Dispatch(0, &s))
	if lowN != 1 || defN != 1 {
		t.Fatalf("after the panic: low %d, timer %d", lowN, defN)
	}
}

// testSrc is a custom source that logs its events.
type testSrc struct {
	name string
	reg  *calloop.Registrar
}

func (c *testSrc) Register(r *calloop.Registrar) error { c.reg = r; return nil }
func (c *testSrc) Unregister(*calloop.Registrar) error { return nil }
func (c *testSrc) Process(s *testState, _ uint16, _ calloop.Events) (calloop.Action, error) {
	s.log = append(s.log, c.name)
	return calloop.Continue, nil
}

// Every kind of registration takes a class (idle callbacks excepted), and
// is dispatched in its class's turn: a custom source, a child of a default
// parent, a nested loop, a signal watch.
func TestPriorityEveryKind(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	def := &testSrc{name: "default custom"}
	defTok, err := l.AddSource(def)
	must(t, err)
	parent := &testSrc{name: "parent"}
	parentTok, err := l.AddSource(parent)
	must(t, err)
	kid, err := calloop.NewPing(l, func(s *testState) { s.log = append(s.log, "high child") })
	must(t, err)
	must(t, parent.reg.Adopt(kid.Token()))
	must(t, l.SetPriority(kid.Token(), calloop.PriorityHigh))
	inner := newLoop[testState](t)
	innerPing, err := calloop.NewPing(inner, func(s *testState) { s.log = append(s.log, "high nested loop") })
	must(t, err)
	nestTok, err := calloop.AddLoop(l, inner, func(s *testState) *testState { return s })
	must(t, err)
	must(t, l.SetPriority(nestTok, calloop.PriorityHigh))
	sigTok, err := calloop.Notify(l, func(s *testState, _ os.Signal) { s.log = append(s.log, "low signal") }, syscall.SIGUSR1)
	must(t, err)
	must(t, l.SetPriority(sigTok, calloop.PriorityLow))
	low := &testSrc{name: "low custom"}
	lowTok, err := l.AddSource(low)
	must(t, err)
	must(t, l.SetPriority(lowTok, calloop.PriorityLow))
	for _, tok := range []calloop.Token{defTok, parentTok} {
		if p, _ := l.Priority(tok); p != calloop.PriorityDefault {
			t.Fatalf("default class: %v", p)
		}
	}

	must(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	dispatchUntil(t, l, &s, func() bool { return len(s.log) > 0 })
	checkLog(t, s.log, []string{"low signal"})
	s.log = nil
	low.reg.Ready(0, calloop.Readable)
	def.reg.Ready(0, calloop.Readable)
	kid.Ping()
	innerPing.Ping()
	dispatchUntil(t, l, &s, func() bool { return len(s.log) >= 4 })
	if len(s.log) == 4 && s.log[0] == "high nested loop" { // both high: their order is the kind's
		s.log[0], s.log[1] = s.log[1], s.log[0]
	}
	checkLog(t, s.log, []string{"high child", "high nested loop", "default custom", "low custom"})
}
