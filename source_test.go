//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

type ctEv struct {
	sub uint16
	ev  calloop.Events
}

// ctSource is a configurable custom source. Its descriptors fds[i] are
// registered (level-triggered, Readable) under sub-token subBase+i.
type ctSource struct {
	fds     []int
	subBase uint16

	hook       bool   // implement BeforeSleeper (see as)
	hookErr    error  // returned by BeforeSleep
	hookReady  int    // BeforeSleep raises this many synthetic events (sub 100), one per call
	onHook     func() // called by BeforeSleep
	readyOnce  bool   // the first Register raises a synthetic event (sub 0)
	processErr error
	onProcess  func()
	action     calloop.Action
	drain      bool // Process reads the descriptor of the event's sub-token

	registerErr error // Register fails after registering its fds
	undo        bool  // ... and undoes the registrations first

	reg         *calloop.Registrar
	events      []ctEv
	registers   int
	unregisters int
	hooks       int
	readied     bool
}

// as returns the value to pass to AddSource: the source itself, or a
// wrapper implementing BeforeSleeper too if hook is set.
func (c *ctSource) as() calloop.Source[testState] {
	if c.hook {
		return &ctHooked{c}
	}
	return c
}

func (c *ctSource) Register(r *calloop.Registrar) error {
	c.reg = r
	c.registers++
	for i, fd := range c.fds {
		if err := r.AddFD(fd, c.subBase+uint16(i), calloop.Readable, calloop.Level); err != nil {
			for _, done := range c.fds[:i] {
				r.DeleteFD(done)
			}
			return err
		}
	}
	if c.registerErr != nil {
		if c.undo {
			for _, fd := range c.fds {
				r.DeleteFD(fd)
			}
		}
		return c.registerErr
	}
	if c.readyOnce && !c.readied {
		c.readied = true
		r.Ready(0, calloop.Readable)
	}
	return nil
}

func (c *ctSource) Unregister(r *calloop.Registrar) error {
	c.unregisters++
	for _, fd := range c.fds {
		if err := r.DeleteFD(fd); err != nil {
			return err
		}
	}
	return nil
}

func (c *ctSource) Process(_ *testState, sub uint16, ev calloop.Events) (calloop.Action, error) {
	c.events = append(c.events, ctEv{sub, ev})
	if c.drain && sub >= c.subBase && int(sub-c.subBase) < len(c.fds) {
		drainFD(c.fds[sub-c.subBase])
	}
	if c.onProcess != nil {
		c.onProcess()
	}
	return c.action, c.processErr
}

type ctHooked struct{ *ctSource }

func (h *ctHooked) BeforeSleep(r *calloop.Registrar) error {
	h.hooks++
	if h.onHook != nil {
		h.onHook()
	}
	if h.hookReady > 0 {
		h.hookReady--
		r.Ready(100, calloop.Readable)
	}
	return h.hookErr
}

func TestSourceMultipleSubTokensRouted(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a1, b1 := socketPair(t)
	a2, b2 := socketPair(t)
	src := &ctSource{fds: []int{a1.fd, a2.fd}, subBase: 5, drain: true}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil || len(src.events) != 0 {
		t.Fatalf("nothing ready: err %v, events %v", err, src.events)
	}
	writeFD(t, b2, "x")
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(src.events) != fmt.Sprint([]ctEv{{6, calloop.Readable}}) {
		t.Fatalf("after fd #2 readable: %v, want [{6 Readable}]", src.events)
	}
	src.events = nil
	writeFD(t, b1, "x")
	writeFD(t, b2, "x")
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	got := map[uint16]int{}
	for _, e := range src.events {
		got[e.sub]++
	}
	if len(src.events) != 2 || got[5] != 1 || got[6] != 1 {
		t.Fatalf("both fds readable: %v, want one event each for subs 5 and 6 in one Dispatch", src.events)
	}
}

func TestSourceRegistrarToken(t *testing.T) {
	l := newLoop[testState](t)
	src := &ctSource{}
	tok, err := l.AddSource(src.as())
	if err != nil {
		t.Fatal(err)
	}
	if src.reg.Token() != tok {
		t.Fatalf("Registrar.Token = %v, AddSource returned %v", src.reg.Token(), tok)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
	a, _ := socketPair(t)
	if err := src.reg.AddFD(a.fd, 0, calloop.Readable, calloop.Level); !isInvalid(err) {
		t.Fatalf("Registrar.AddFD after removal = %v, want ErrInvalidToken", err)
	}
	src.reg.Ready(0, calloop.Readable) // ignored
	var s testState
	if err := l.Dispatch(0, &s); err != nil || len(src.events) != 0 {
		t.Fatalf("after Ready on a removed source: err %v, events %v", err, src.events)
	}
}

func TestSourceBeforeSleepRunsBeforeEveryPoll(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	src := &ctSource{hook: true}
	tok, err := l.AddSource(src.as())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if src.hooks != i {
			t.Fatalf("after %d dispatches with no events: %d hooks", i, src.hooks)
		}
	}
	// Disabled: no hook; enabled again (twice, and after Disable/Enable
	// cycles): exactly one hook per iteration.
	if err := l.Disable(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if src.hooks != 3 {
		t.Fatalf("hook ran while the source was disabled")
	}
	for range 3 {
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
		if err := l.Disable(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Enable(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if src.hooks != 4 {
		t.Fatalf("after enable cycles one dispatch ran %d hooks, want 1", src.hooks-3)
	}
	// A second hooked source: each gets one hook per iteration.
	src2 := &ctSource{hook: true}
	tok2, err := l.AddSource(src2.as())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if src.hooks != 5 || src2.hooks != 1 {
		t.Fatalf("two hooked sources: hooks %d and %d, want 5 and 1", src.hooks, src2.hooks)
	}
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	if src.hooks != 5 || src2.hooks != 2 {
		t.Fatalf("after Remove: hooks %d and %d, want 5 and 2", src.hooks, src2.hooks)
	}
	if err := l.Remove(tok2); err != nil {
		t.Fatal(err)
	}
	if src.registers != 5 || src.unregisters != 5 {
		t.Fatalf("register/unregister calls: %d/%d, want 5/5", src.registers, src.unregisters)
	}
}

func TestSourceSyntheticEventFromBeforeSleepDoesNotBlock(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	src := &ctSource{hook: true, hookReady: 1}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	d := armWatchdog(t, l)
	// The synthetic event is raised before this poll: the poll must not
	// block, and the event is processed in this same iteration.
	err := l.Dispatch(-1, &s)
	exp := d.expired()
	d.stop()
	if err != nil || exp {
		t.Fatalf("Dispatch(-1) with a synthetic event from BeforeSleep: err %v, watchdog %v", err, exp)
	}
	if fmt.Sprint(src.events) != fmt.Sprint([]ctEv{{100, calloop.Readable}}) {
		t.Fatalf("Process got %v, want the synthetic sub-token 100 in the same Dispatch", src.events)
	}
}

func TestSourceRegisterErrorLeavesNothing(t *testing.T) {
	for _, undo := range []bool{true, false} {
		t.Run(fmt.Sprintf("undo=%v", undo), func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			a, b := socketPair(t)
			src := &ctSource{fds: []int{a.fd}, hook: true, registerErr: errFailed, undo: undo}
			tok, err := l.AddSource(src.as())
			if !errors.Is(err, errFailed) {
				t.Fatalf("AddSource with a failing Register = %v, want errFailed", err)
			}
			if !tok.IsZero() {
				t.Fatalf("failed AddSource returned token %v", tok)
			}
			writeFD(t, b, "x")
			for range 2 {
				if err := l.Dispatch(0, &s); err != nil {
					t.Fatal(err)
				}
			}
			if len(src.events) != 0 || src.hooks != 0 {
				t.Fatalf("failed source still gets events %v / hooks %d", src.events, src.hooks)
			}
			// Its descriptor is not left registered: it can be added again.
			got := 0
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
				got++
				return calloop.Continue
			}); err != nil {
				t.Fatalf("AddFD of the failed source's descriptor = %v", err)
			}
			if err := l.Dispatch(0, &s); err != nil || got != 1 {
				t.Fatalf("fd re-added after a failed AddSource: err %v, calls %d", err, got)
			}
		})
	}
}

func TestSourceRegisterBadFDFails(t *testing.T) {
	l := newLoop[testState](t)
	a, _ := socketPair(t)
	bad, err := unix.Dup(a.fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(bad)
	src := &ctSource{fds: []int{a.fd, bad}}
	if _, err := l.AddSource(src.as()); err == nil {
		t.Fatal("AddSource registering a closed fd = nil, want an error")
	}
	// The first fd was undone by Register: it can be registered again.
	if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
		t.Fatalf("AddFD after the failed AddSource = %v", err)
	}
}

func TestSourceActions(t *testing.T) {
	t.Run("Remove from a multi-token source", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		a1, b1 := socketPair(t)
		a2, b2 := socketPair(t)
		src := &ctSource{fds: []int{a1.fd, a2.fd}, readyOnce: true, action: calloop.Remove}
		tok, err := l.AddSource(src.as())
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
		if len(src.events) != 1 {
			t.Fatalf("source returning Remove processed %d events, want 1", len(src.events))
		}
		if src.unregisters != 1 {
			t.Fatalf("Unregister called %d times, want 1", src.unregisters)
		}
		if err := l.Remove(tok); !isInvalid(err) {
			t.Fatalf("Remove after the Remove action = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("Disable then Enable", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		a, b := socketPair(t)
		src := &ctSource{fds: []int{a.fd}, action: calloop.Disable}
		tok, err := l.AddSource(src.as())
		if err != nil {
			t.Fatal(err)
		}
		writeFD(t, b, "x")
		for range 3 {
			if err := l.Dispatch(0, &s); err != nil {
				t.Fatal(err)
			}
		}
		if len(src.events) != 1 || src.unregisters != 1 {
			t.Fatalf("Disable action: %d events, %d unregisters; want 1, 1", len(src.events), src.unregisters)
		}
		src.action = calloop.Continue
		if err := l.Enable(tok); err != nil {
			t.Fatal(err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
		if len(src.events) != 2 || src.registers != 2 {
			t.Fatalf("after Enable: %d events, %d registers; want 2, 2", len(src.events), src.registers)
		}
	})
}

func TestSourceReplacesItsDescriptorInProcess(t *testing.T) {
	// A composite source swapping its child from inside Process: the old
	// descriptor is unregistered, the new one fires.
	l := newLoop[testState](t)
	var s testState
	a1, b1 := socketPair(t)
	a2, b2 := socketPair(t)
	src := &ctSource{fds: []int{a1.fd}, drain: true}
	src.onProcess = func() {
		if src.fds[0] != a1.fd {
			return
		}
		if err := src.reg.DeleteFD(a1.fd); err != nil {
			t.Errorf("DeleteFD: %v", err)
		}
		if err := src.reg.AddFD(a2.fd, 1, calloop.Readable, calloop.Level); err != nil {
			t.Errorf("AddFD: %v", err)
		}
		src.fds = []int{a2.fd}
		src.subBase = 1
	}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b1, "x")
	if err := l.Dispatch(time.Second, &s); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b1, "y") // the old child: unregistered
	writeFD(t, b2, "z")
	for range 2 {
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(src.events) != fmt.Sprint([]ctEv{{0, calloop.Readable}, {1, calloop.Readable}}) {
		t.Fatalf("events %v, want the old child once then the new child once", src.events)
	}
	// The old descriptor is free for another registration.
	if _, err := l.AddFD(a1.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
		t.Fatalf("AddFD(old child) = %v", err)
	}
}

func TestSourcesAddedFromHooksAndIdles(t *testing.T) {
	// Regression cases of calloop #109: inserting sources from a before-sleep
	// hook and from idle callbacks.
	l := newLoop[testState](t)
	var s testState
	var log []string
	src := &ctSource{hook: true}
	added := false
	src.onHook = func() {
		if added {
			return
		}
		added = true
		if _, err := l.AddTimer(0, func(*testState, time.Time) calloop.TimerAction {
			log = append(log, "timer from hook")
			return calloop.Drop()
		}); err != nil {
			t.Error(err)
		}
		if _, err := l.AddIdle(func(*testState) {
			log = append(log, "idle from hook")
			if _, err := l.AddSource((&ctSource{readyOnce: true, onProcess: func() {
				log = append(log, "source from idle")
			}}).as()); err != nil {
				t.Error(err)
			}
			if _, err := l.AddSource((&ctSource{hook: true, onHook: func() {
				log = append(log, "hook of source from idle")
			}}).as()); err != nil {
				t.Error(err)
			}
		}); err != nil {
			t.Error(err)
		}
	}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	dispatchUntil(t, l, &s, func() bool { return len(log) >= 4 })
	want := "[timer from hook idle from hook hook of source from idle source from idle]"
	if fmt.Sprint(log[:4]) != want {
		t.Fatalf("log %v, want %v", log, want)
	}
}

func TestRunEndsOnSourceErrorAndDispatchesAgain(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	src := &ctSource{readyOnce: true, processErr: errFailed}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(context.Background(), &s); !errors.Is(err, errFailed) {
		t.Fatalf("Run = %v, want errFailed", err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatalf("Dispatch after the failure = %v", err)
	}
}

func TestSourceRegistrarModifyFD(t *testing.T) {
	// ModifyFD changes a descriptor's sub-token and mode, and re-arms a
	// one-shot registration.
	l := newLoop[testState](t)
	var s testState
	a, b := socketPair(t)
	src := &ctSource{fds: []int{a.fd}, subBase: 1}
	if _, err := l.AddSource(src.as()); err != nil {
		t.Fatal(err)
	}
	writeFD(t, b, "x") // never read: level-ready from now on
	ctDispatch0(t, l, &s, 1)
	if err := src.reg.ModifyFD(a.fd, 7, calloop.Readable, calloop.OneShot); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 3)
	if fmt.Sprint(src.events) != fmt.Sprint([]ctEv{{1, calloop.Readable}, {7, calloop.Readable}}) {
		t.Fatalf("events %v, want sub 1 once, then sub 7 once (one-shot)", src.events)
	}
	if err := src.reg.ModifyFD(a.fd, 8, calloop.Readable, calloop.OneShot); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 2)
	if len(src.events) != 3 || src.events[2].sub != 8 {
		t.Fatalf("events %v, want a third event with sub 8 after the re-arm", src.events)
	}
	if err := src.reg.DeleteFD(a.fd); err != nil {
		t.Fatal(err)
	}
	if err := src.reg.DeleteFD(a.fd); err != nil {
		t.Fatalf("second DeleteFD = %v", err)
	}
	src.fds = nil
	ctDispatch0(t, l, &s, 1)
	if len(src.events) != 3 {
		t.Fatalf("event after DeleteFD: %v", src.events)
	}
}
