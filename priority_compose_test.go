//go:build linux

package calloop_test

import (
	"testing"

	"github.com/calloop-go/calloop"
)

// SetPriority on a composite source puts its descendants in the class too,
// every kind but idle callbacks, which have none; a child adopted afterwards
// keeps its own class.
func TestSetPriorityComposite(t *testing.T) {
	l := newLoop[int](t)
	outer, outerTok := addBox(t, l, nil)
	inner, innerTok := addBox(t, l, outer)
	k := adoptEveryKind(t, l, inner)
	k.raise["idle"]() // adopts an idle callback
	must(t, l.SetPriority(outerTok, calloop.PriorityHigh))
	for name, tok := range k.toks {
		p, err := l.Priority(tok)
		switch {
		case name == "idle": // no class: skipped without failing the call
		case err != nil || p != calloop.PriorityHigh:
			t.Fatalf("%s child: %v, %v after SetPriority of its grandparent", name, p, err)
		}
	}
	if p, _ := l.Priority(innerTok); p != calloop.PriorityHigh {
		t.Fatalf("inner parent: %v", p)
	}
	late, err := calloop.NewPing(l, func(*int) {})
	must(t, err)
	must(t, inner.reg.Adopt(late.Token()))
	if p, _ := l.Priority(late.Token()); p != calloop.PriorityDefault {
		t.Fatalf("child adopted afterwards: %v", p)
	}
	must(t, l.SetPriority(outerTok, calloop.PriorityDefault))
	for name, tok := range k.toks {
		if p, err := l.Priority(tok); name != "idle" && (err != nil || p != calloop.PriorityDefault) {
			t.Fatalf("%s child back to default: %v, %v", name, p, err)
		}
	}
}

// A flow changes class as a unit: a high-priority ChannelFlow's values come
// before a default ping raised earlier in the same iteration.
func TestSetPriorityFlow(t *testing.T) {
	l := newLoop[int](t)
	var s int
	var log []string
	ping, err := calloop.NewPing(l, func(*int) { log = append(log, "ping") })
	must(t, err)
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	defer tx.Close()
	tok, err := calloop.MapFlow(f, func(_ *int, v int) int { return v }).Sink(func(_ *int, _ int, ok bool) {
		if ok {
			log = append(log, "flow")
		}
	})
	must(t, err)
	must(t, l.SetPriority(tok, calloop.PriorityHigh))
	ping.Ping()
	must(t, tx.Send(1))
	dispatchUntil(t, l, &s, func() bool { return len(log) == 2 })
	if log[0] != "flow" || log[1] != "ping" {
		t.Fatalf("order %q, want the high-priority flow first", log)
	}
}

// A flow's class reaches the timer of a Debounce stage, also the one the
// stage makes anew after a panic in the timer's callback (the loop removes
// a timer whose callback panicked): the high-priority debounced value comes
// before a default ping's callback in the iteration the timer fires.
func TestSetPriorityFlowStageTimerAfterPanic(t *testing.T) {
	l := newLoop[int](t)
	var s int
	var log []string
	ping, err := calloop.NewPing(l, func(*int) { log = append(log, "ping") })
	must(t, err)
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	defer tx.Close()
	pushed := 0
	tok, err := calloop.MapFlow(f, func(_ *int, v int) int { pushed++; return v }).Debounce(0).Sink(func(_ *int, v int, ok bool) {
		if !ok {
			return
		}
		log = append(log, "flow")
		if v == 1 {
			panic(v)
		}
	})
	must(t, err)
	must(t, l.SetPriority(tok, calloop.PriorityHigh))
	round := func(v int) {
		t.Helper()
		log = log[:0]
		must(t, tx.Send(v))
		dispatchUntil(t, l, &s, func() bool { return pushed == v })
		// The debounce timer is due; the ping is raised before the
		// iteration that fires it.
		ping.Ping()
		if p := ctRecover(func() { dispatchUntil(t, l, &s, func() bool { return len(log) == 2 }) }); p != nil && p != 1 {
			t.Fatalf("panic %v", p)
		}
	}
	round(1) // the sink panics in the stage timer's callback: the timer goes
	if len(log) == 1 {
		dispatchUntil(t, l, &s, func() bool { return len(log) == 2 })
	}
	if log[0] != "flow" || log[1] != "ping" {
		t.Fatalf("first round: order %q, want the high-priority flow first", log)
	}
	round(2)
	if log[0] != "flow" || log[1] != "ping" {
		t.Fatalf("after the stage timer's panic: order %q, want the high-priority flow first", log)
	}
}
