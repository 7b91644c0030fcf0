//go:build linux

package calloop_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// box is a parent source: it owns children and, optionally, a descriptor of
// its own.
type box struct {
	reg    *calloop.Registrar
	fd     int // 0: none
	regs   int
	unregs int
	events int
	on     func() // called for each event, if set
}

func (b *box) Register(r *calloop.Registrar) error {
	b.reg = r
	b.regs++
	if b.fd > 0 {
		return r.AddFD(b.fd, 1, calloop.Readable, calloop.Level)
	}
	return nil
}

func (b *box) Unregister(r *calloop.Registrar) error {
	b.unregs++
	if b.fd > 0 {
		return r.DeleteFD(b.fd)
	}
	return nil
}

func (b *box) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	b.events++
	if b.on != nil {
		b.on()
	}
	return calloop.Continue, nil
}

// addBox adds a parent source, as a child of parent if parent is not nil.
func addBox(t *testing.T, l *calloop.Loop[int], parent *box) (*box, calloop.Token) {
	t.Helper()
	b := &box{}
	tok, err := l.AddSource(b)
	must(t, err)
	if parent != nil {
		must(t, parent.reg.Adopt(tok))
	}
	return b, tok
}

// pipe returns a non-blocking pipe closed at the end of the test.
func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func drain(fd int) {
	var buf [64]byte
	for {
		if n, _ := unix.Read(fd, buf[:]); n <= 0 {
			return
		}
	}
}

// everyKind adopts one child of every kind into parent and returns what it
// saw and how to raise an event of each.
type everyKind struct {
	seen  map[string]int
	raise map[string]func()
	toks  map[string]calloop.Token
	tx    *calloop.Sender[int]
	btx   *calloop.Sender[int]
	ping  *calloop.Ping
	inner *calloop.Loop[int]
}

func adoptEveryKind(t *testing.T, l *calloop.Loop[int], parent *box) *everyKind {
	t.Helper()
	k := &everyKind{seen: map[string]int{}, raise: map[string]func(){}, toks: map[string]calloop.Token{}}
	adopt := func(name string, tok calloop.Token, err error) {
		t.Helper()
		must(t, err)
		must(t, parent.reg.Adopt(tok))
		k.toks[name] = tok
	}
	// fd
	r, w := pipe(t)
	tok, err := l.AddFD(r, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		drain(r)
		k.seen["fd"]++
		return calloop.Continue
	})
	adopt("fd", tok, err)
	k.raise["fd"] = func() { unix.Write(w, []byte{1}) }
	// timer: raised by re-arming it to fire at once
	tok, err = l.AddTimer(time.Hour, func(*int, time.Time) calloop.TimerAction {
		k.seen["timer"]++
		return calloop.Again(time.Hour)
	})
	adopt("timer", tok, err)
	k.raise["timer"] = func() { must(t, l.ResetTimer(k.toks["timer"], 0)) }
	// ping
	k.ping, err = calloop.NewPing(l, func(*int) { k.seen["ping"]++ })
	must(t, err)
	adopt("ping", k.ping.Token(), nil)
	k.raise["ping"] = func() { k.ping.Ping(); k.ping.Ping() } // coalesced: one call
	// channels
	k.tx, err = calloop.NewChannel(l, func(_ *int, _ int, ok bool) {
		if ok {
			k.seen["channel"]++
		}
	})
	must(t, err)
	adopt("channel", k.tx.Token(), nil)
	t.Cleanup(func() { k.tx.Close() })
	k.raise["channel"] = func() { must(t, k.tx.Send(1)) }
	k.btx, err = calloop.NewBoundedChannel(l, 2, func(_ *int, _ int, ok bool) {
		if ok {
			k.seen["bounded"]++
		}
	})
	must(t, err)
	adopt("bounded", k.btx.Token(), nil)
	t.Cleanup(func() { k.btx.Close() })
	k.raise["bounded"] = func() { must(t, k.btx.TrySend(1)) }
	// signal
	tok, err = calloop.Notify(l, func(*int, os.Signal) { k.seen["signal"]++ }, syscall.SIGUSR1)
	adopt("signal", tok, err)
	k.raise["signal"] = func() { syscall.Kill(os.Getpid(), syscall.SIGUSR1) }
	// another custom source, with a descriptor of its own
	cr, cw := pipe(t)
	sub := &box{fd: cr, on: func() { drain(cr); k.seen["source"]++ }}
	tok, err = l.AddSource(sub)
	adopt("source", tok, err)
	k.raise["source"] = func() { unix.Write(cw, []byte{1}) }
	// a nested loop with a ping of its own
	k.inner = newLoop[int](t)
	ip, err := calloop.NewPing(k.inner, func(*int) { k.seen["loop"]++ })
	must(t, err)
	tok, err = calloop.AddLoop(l, k.inner, func(s *int) *int { return s })
	adopt("loop", tok, err)
	k.raise["loop"] = ip.Ping
	// idle: one-shot; raised by adding a new one
	k.raise["idle"] = func() {
		tok, err := l.AddIdle(func(*int) { k.seen["idle"]++ })
		adopt("idle", tok, err)
	}
	return k
}

func TestChildrenEveryKindFollowParent(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	k := adoptEveryKind(t, l, parent)
	var s int
	kinds := []string{"fd", "timer", "ping", "channel", "bounded", "signal", "source", "loop", "idle"}
	// Enabled: every child delivers, once per raise.
	for _, n := range kinds {
		k.raise[n]()
	}
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
		for _, n := range kinds {
			if k.seen[n] == 0 {
				return false
			}
		}
		return true
	})
	for _, n := range kinds {
		if k.seen[n] != 1 {
			t.Errorf("enabled: %s delivered %d times, want 1", n, k.seen[n])
		}
	}
	// Disabled: nothing is delivered; everything raised waits.
	must(t, l.Disable(ptok))
	for _, n := range kinds {
		k.raise[n]()
	}
	for range 5 {
		must(t, l.Dispatch(20*time.Millisecond, &s))
	}
	for _, n := range kinds {
		if k.seen[n] != 1 {
			t.Errorf("disabled: %s delivered (count %d)", n, k.seen[n])
		}
	}
	// Enabled again: what waited is delivered, once.
	must(t, l.Enable(ptok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
		for _, n := range kinds {
			if k.seen[n] < 2 {
				return false
			}
		}
		return true
	})
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	for _, n := range kinds {
		if k.seen[n] != 2 {
			t.Errorf("after Enable: %s delivered %d times, want 2", n, k.seen[n])
		}
	}
	if parent.regs != 2 || parent.unregs != 1 {
		t.Errorf("parent registered %d, unregistered %d times; want 2, 1", parent.regs, parent.unregs)
	}
	// Removed: every child goes with the parent.
	must(t, l.Remove(ptok))
	for n, tok := range k.toks {
		if n == "idle" {
			continue // ran and was released
		}
		if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Errorf("%s after its parent's Remove: %v, want ErrInvalidToken", n, err)
		}
	}
	if err := k.tx.Send(1); !errors.Is(err, calloop.ErrClosed) {
		t.Errorf("Send to a removed child channel: %v", err)
	}
	// The nested loop was detached: it can be nested again.
	tok, err := calloop.AddLoop(l, k.inner, func(s *int) *int { return s })
	must(t, err)
	must(t, l.Remove(tok))
}

func TestChildrenCustomSourceChildDisabledWithParent(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	r, w := pipe(t)
	sub := &box{fd: r}
	stok, err := l.AddSource(sub)
	must(t, err)
	must(t, parent.reg.Adopt(stok))
	var s int
	unix.Write(w, []byte{1})
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return sub.events > 0 })
	must(t, l.Disable(ptok))
	if sub.unregs != 1 {
		t.Fatalf("child source unregistered %d times on its parent's Disable", sub.unregs)
	}
	n := sub.events
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if sub.events != n {
		t.Fatal("child source's level fd reported while its parent is disabled")
	}
	must(t, l.Enable(ptok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return sub.events > n })
	if sub.regs != 2 {
		t.Fatalf("child source registered %d times, want 2", sub.regs)
	}
}

// TestChildrenThreeDeep: a grandparent, a parent, a child and a grandchild;
// a child's own Disable survives its ancestors' Enable.
func TestChildrenThreeDeep(t *testing.T) {
	l := newLoop[int](t)
	g, gtok := addBox(t, l, nil)
	p, ptok := addBox(t, l, g)
	c, ctok := addBox(t, l, p)
	r, w := pipe(t)
	fdEvents := 0
	ftok, err := l.AddFD(r, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		fdEvents++
		return calloop.Continue
	})
	must(t, err)
	must(t, c.reg.Adopt(ftok))
	if got, ok, err := l.Parent(ftok); err != nil || !ok || got != ctok {
		t.Fatalf("Parent(fd) = %v %v %v, want %v", got, ok, err, ctok)
	}
	if got, ok, _ := l.Parent(ptok); !ok || got != gtok {
		t.Fatalf("Parent(parent) = %v, want %v", got, gtok)
	}
	if _, ok, _ := l.Parent(gtok); ok {
		t.Fatal("the grandparent has a parent")
	}
	unix.Write(w, []byte{1})
	var s int
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return fdEvents > 0 })

	must(t, l.Disable(gtok))
	n := fdEvents
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if fdEvents != n {
		t.Fatal("a great-grandchild fd was reported with its ancestor disabled")
	}
	// The parent disabled by itself while the grandparent is disabled
	// stays disabled through the grandparent's Enable.
	must(t, l.Disable(ptok))
	must(t, l.Enable(gtok))
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if fdEvents != n {
		t.Fatal("a child disabled by itself was enabled by its ancestor")
	}
	if p.regs != 1 || c.regs != 1 || g.regs != 2 {
		t.Fatalf("registrations g=%d p=%d c=%d, want 2 1 1", g.regs, p.regs, c.regs)
	}
	must(t, l.Enable(ptok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return fdEvents > n })

	// Enabling a child of a disabled ancestor only clears its own Disable.
	must(t, l.Disable(ctok))
	must(t, l.Disable(gtok))
	must(t, l.Enable(ctok))
	n = fdEvents
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if fdEvents != n {
		t.Fatal("Enable of a child woke it under a disabled ancestor")
	}
	must(t, l.Enable(gtok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return fdEvents > n })

	must(t, l.Remove(gtok))
	for _, tok := range []calloop.Token{ptok, ctok, ftok} {
		if err := l.Disable(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("descendant %v after Remove: %v", tok, err)
		}
	}
	// p: the grandparent's two Disables and the Remove; c: the same, with
	// its own Disable instead of the second (p was inactive by then).
	if c.unregs != 3 || p.unregs != 3 || c.regs != 3 || p.regs != 3 {
		t.Fatalf("p: %d/%d, c: %d/%d registrations/unregistrations, want 3/3 each", p.regs, p.unregs, c.regs, c.unregs)
	}
}

// TestChildrenRemoveParentFromChildCallback: two fd children ready in the
// same batch; the first removes the parent: the second is not called, and
// nothing crashes.
func TestChildrenRemoveParentFromChildCallback(t *testing.T) {
	for _, action := range []string{"remove", "disable"} {
		t.Run(action, func(t *testing.T) {
			l := newLoop[int](t)
			parent, ptok := addBox(t, l, nil)
			calls := 0
			var toks []calloop.Token
			var ws []int
			for range 2 {
				r, w := pipe(t)
				ws = append(ws, w)
				tok, err := l.AddFD(r, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
					calls++
					var err error
					if action == "remove" {
						err = l.Remove(ptok)
					} else {
						err = l.Disable(ptok)
					}
					if err != nil {
						t.Errorf("%s of the parent from a child: %v", action, err)
					}
					return calloop.Remove // of itself, already gone: ignored
				})
				must(t, err)
				must(t, parent.reg.Adopt(tok))
				toks = append(toks, tok)
			}
			for _, w := range ws {
				unix.Write(w, []byte{1})
			}
			var s int
			dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return calls > 0 })
			for range 3 {
				must(t, l.Dispatch(0, &s))
			}
			if calls != 1 {
				t.Fatalf("%d child callbacks ran, want 1", calls)
			}
			if action == "disable" {
				// The child that returned Remove is gone; the other is
				// reported again on Enable (level-triggered).
				must(t, l.Enable(ptok))
				dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return calls == 2 })
				return
			}
			for _, tok := range toks {
				if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
					t.Fatalf("child after its parent's removal: %v", err)
				}
			}
		})
	}
}

// TestChildrenTimerRemovesParent: a child timer's callback removes its
// parent, itself included; its returned action is ignored.
func TestChildrenTimerRemovesParent(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	fired := 0
	var tok calloop.Token
	tok, err := l.AddTimer(0, func(*int, time.Time) calloop.TimerAction {
		fired++
		must(t, l.Remove(ptok))
		return calloop.Again(0)
	})
	must(t, err)
	must(t, parent.reg.Adopt(tok))
	var s int
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return fired > 0 })
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if fired != 1 {
		t.Fatalf("timer fired %d times", fired)
	}
	if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("child timer after its parent's removal: %v", err)
	}
}

// TestChildrenGenerationReuse: slots of removed children are reused by new
// sources; the old tokens stay invalid and never reach them.
func TestChildrenGenerationReuse(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	var old []calloop.Token
	for range 4 {
		tok, err := l.AddIdle(func(*int) {})
		must(t, err)
		must(t, parent.reg.Adopt(tok))
		old = append(old, tok)
		tm, err := l.AddTimer(time.Hour, func(*int, time.Time) calloop.TimerAction { return calloop.Drop() })
		must(t, err)
		must(t, parent.reg.Adopt(tm))
		old = append(old, tm)
	}
	must(t, l.Remove(ptok))
	ran := 0
	var fresh []calloop.Token
	for range 8 {
		tok, err := l.AddIdle(func(*int) { ran++ })
		must(t, err)
		fresh = append(fresh, tok)
		tm, err := l.AddTimer(0, func(*int, time.Time) calloop.TimerAction { ran++; return calloop.Drop() })
		must(t, err)
		fresh = append(fresh, tm)
	}
	np, nptok := addBox(t, l, nil)
	for _, tok := range old {
		if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("old child %v: Remove = %v", tok, err)
		}
		if err := np.reg.Adopt(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("old child %v: Adopt = %v", tok, err)
		}
		if err := parent.reg.Adopt(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("Adopt through a removed parent: %v", err)
		}
	}
	var s int
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ran == len(fresh) })
	must(t, l.Remove(nptok))
}

func TestChildrenAdoptMisuse(t *testing.T) {
	l := newLoop[int](t)
	other := newLoop[int](t)
	a, atok := addBox(t, l, nil)
	b, btok := addBox(t, l, a)
	c, ctok := addBox(t, l, b)
	// Cycles.
	for _, tc := range []struct {
		name   string
		parent *box
		child  calloop.Token
	}{{"self", a, atok}, {"ancestor", c, atok}, {"grandparent of itself", b, atok}} {
		if err := tc.parent.reg.Adopt(tc.child); err == nil {
			t.Errorf("%s: Adopt accepted a cycle", tc.name)
		}
	}
	// A second parent.
	d, _ := addBox(t, l, nil)
	if err := d.reg.Adopt(ctok); err == nil {
		t.Error("a child was adopted by a second parent")
	}
	// A foreign token.
	otok, err := other.AddIdle(func(*int) {})
	must(t, err)
	if err := a.reg.Adopt(otok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("Adopt of another loop's token: %v", err)
	}
	// The zero token.
	if err := a.reg.Adopt(calloop.Token{}); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("Adopt of the zero token: %v", err)
	}
	// A child removed twice.
	must(t, l.Remove(ctok))
	if err := l.Remove(ctok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("second Remove of a child: %v", err)
	}
	// A child removed alone leaves its parent's other children in place.
	e, etok := addBox(t, l, b)
	_ = e
	must(t, l.Remove(etok))
	if got, ok, err := l.Parent(btok); err != nil || !ok || got != atok {
		t.Errorf("Parent(b) = %v %v %v", got, ok, err)
	}
	// Adopt after the parent was removed.
	must(t, l.Remove(atok))
	tok, err := l.AddIdle(func(*int) {})
	must(t, err)
	if err := a.reg.Adopt(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("Adopt into a removed parent: %v", err)
	}
	if err := b.reg.Adopt(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("Adopt into a removed child: %v", err)
	}
}

// TestChildrenAdoptIntoDisabledParent: a child adopted by a disabled parent
// is silenced at once and woken by the parent's Enable.
func TestChildrenAdoptIntoDisabledParent(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	must(t, l.Disable(ptok))
	fired, idled := 0, 0
	tm, err := l.AddTimer(0, func(*int, time.Time) calloop.TimerAction { fired++; return calloop.Drop() })
	must(t, err)
	must(t, parent.reg.Adopt(tm))
	id, err := l.AddIdle(func(*int) { idled++ })
	must(t, err)
	must(t, parent.reg.Adopt(id))
	var s int
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if fired != 0 || idled != 0 {
		t.Fatalf("children of a disabled parent ran: timer %d idle %d", fired, idled)
	}
	if err := l.Disable(id); err == nil {
		t.Fatal("an idle child was disabled by itself")
	}
	must(t, l.Enable(ptok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return fired == 1 && idled == 1 })
}

// TestChildrenBuiltinSemantics: budgets, coalescing, the closed event and
// timer deadlines hold inside a parent, two levels down.
func TestChildrenBuiltinSemantics(t *testing.T) {
	l := newLoop[int](t)
	g, _ := addBox(t, l, nil)
	parent, _ := addBox(t, l, g)
	var s int

	// A channel delivers at most 1024 messages per iteration, then the
	// closed event after the last one, and is removed.
	var perIter []int
	got, closed := 0, false
	tx, err := calloop.NewChannel(l, func(_ *int, _ int, ok bool) {
		if !ok {
			closed = true
			return
		}
		got++
	})
	must(t, err)
	must(t, parent.reg.Adopt(tx.Token()))
	for i := range 3000 {
		must(t, tx.Send(i))
	}
	tx.Close()
	for !closed {
		before := got
		must(t, l.Dispatch(time.Second, &s))
		perIter = append(perIter, got-before)
	}
	for _, n := range perIter {
		if n > 1024 {
			t.Fatalf("a child channel delivered %d messages in one iteration", n)
		}
	}
	if got != 3000 {
		t.Fatalf("delivered %d, want 3000", got)
	}
	if err := l.Remove(tx.Token()); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("closed child channel still registered: %v", err)
	}

	// Pings coalesce.
	pings := 0
	p, err := calloop.NewPing(l, func(*int) { pings++ })
	must(t, err)
	must(t, parent.reg.Adopt(p.Token()))
	for range 100 {
		p.Ping()
	}
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return pings > 0 })
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	if pings != 1 {
		t.Fatalf("100 pings gave %d calls", pings)
	}

	// Timers never fire early.
	const d = 30 * time.Millisecond
	start := time.Now()
	var at time.Time
	tm, err := l.AddTimer(d, func(_ *int, deadline time.Time) calloop.TimerAction {
		at = time.Now()
		return calloop.Drop()
	})
	must(t, err)
	must(t, parent.reg.Adopt(tm))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return !at.IsZero() })
	if at.Sub(start) < d {
		t.Fatalf("child timer fired after %v, before its %v", at.Sub(start), d)
	}
}

// TestChildrenPanic: a panic in a child's callback propagates out of
// Dispatch; the loop, the parent and the child stay usable.
func TestChildrenPanic(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	calls := 0
	p, err := calloop.NewPing(l, func(*int) {
		calls++
		if calls == 1 {
			panic("child boom")
		}
	})
	must(t, err)
	must(t, parent.reg.Adopt(p.Token()))
	p.Ping()
	var s int
	func() {
		defer func() {
			if r := recover(); fmt.Sprint(r) != "child boom" {
				t.Fatalf("recovered %v, want the child's panic", r)
			}
		}()
		for range 100 {
			must(t, l.Dispatch(time.Second, &s))
		}
		t.Fatal("the child's panic did not propagate")
	}()
	must(t, l.Disable(ptok))
	p.Ping()
	must(t, l.Dispatch(0, &s))
	if calls != 1 {
		t.Fatal("a child ran while its parent was disabled after a panic")
	}
	must(t, l.Enable(ptok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return calls == 2 })
	must(t, l.Remove(ptok))
	if err := l.Remove(p.Token()); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("child after its parent's Remove: %v", err)
	}
}

// TestChildrenZeroAllocs: an fd event through a parent two levels up
// allocates nothing.
func TestChildrenZeroAllocs(t *testing.T) {
	l := newLoop[int](t)
	g, _ := addBox(t, l, nil)
	parent, _ := addBox(t, l, g)
	r, w := pipe(t)
	var buf [1]byte
	tok, err := l.AddFD(r, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action {
		unix.Read(r, buf[:])
		return calloop.Continue
	})
	must(t, err)
	must(t, parent.reg.Adopt(tok))
	var s int
	one := []byte{1}
	allocs := testing.AllocsPerRun(1000, func() {
		unix.Write(w, one)
		if err := l.Dispatch(time.Second, &s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per child fd event, want 0", allocs)
	}
}

// failingParent adopts a child in Register, then fails.
type failingParent struct {
	l     *calloop.Loop[int]
	child calloop.Token
}

func (f *failingParent) Register(r *calloop.Registrar) error {
	tok, err := f.l.AddTimer(0, func(*int, time.Time) calloop.TimerAction { return calloop.Drop() })
	if err != nil {
		return err
	}
	f.child = tok
	if err := r.Adopt(tok); err != nil {
		return err
	}
	return errors.New("register failed")
}
func (f *failingParent) Unregister(*calloop.Registrar) error { return nil }
func (f *failingParent) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// TestChildrenOfFailedRegister: children adopted by a Register that fails
// are removed with the source that was not added.
func TestChildrenOfFailedRegister(t *testing.T) {
	l := newLoop[int](t)
	f := &failingParent{l: l}
	if _, err := l.AddSource(f); err == nil {
		t.Fatal("AddSource succeeded")
	}
	if err := l.Remove(f.child); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("child of a failed Register: %v, want ErrInvalidToken", err)
	}
	// The slot is reused cleanly.
	b, tok := addBox(t, l, nil)
	tm, err := l.AddTimer(time.Hour, func(*int, time.Time) calloop.TimerAction { return calloop.Drop() })
	must(t, err)
	must(t, b.reg.Adopt(tm))
	must(t, l.Remove(tok))
	if err := l.Remove(tm); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("child timer after Remove: %v", err)
	}
}

// TestChildrenIdleDuringIdlePhase: an idle child whose parent is disabled,
// then enabled again, by an idle callback of the same phase runs once.
func TestChildrenIdleDuringIdlePhase(t *testing.T) {
	l := newLoop[int](t)
	parent, ptok := addBox(t, l, nil)
	var log []string
	_, err := l.AddIdle(func(*int) {
		log = append(log, "first")
		must(t, l.Disable(ptok))
	})
	must(t, err)
	child, err := l.AddIdle(func(*int) { log = append(log, "child") })
	must(t, err)
	must(t, parent.reg.Adopt(child))
	_, err = l.AddIdle(func(*int) {
		log = append(log, "third")
		must(t, l.Enable(ptok))
	})
	must(t, err)
	var s int
	for range 4 {
		must(t, l.Dispatch(0, &s))
	}
	if got := fmt.Sprint(log); got != "[first third child]" {
		t.Fatalf("idle order %s, want [first third child]: the child skipped while its parent was disabled, then run once in the next iteration", got)
	}
}
