//go:build linux

package calloop_test

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// TestTokenForeignLoop: a token of loop b, with the same slot and generation
// as a source of loop a, must not reach a's source.
func TestTokenForeignLoop(t *testing.T) {
	a := newLoop[int](t)
	b := newLoop[int](t)
	fired := 0
	ta, err := a.AddTimer(0, func(*int, time.Time) calloop.TimerAction { fired++; return calloop.Drop() })
	must(t, err)
	tb, err := b.AddTimer(time.Hour, func(*int, time.Time) calloop.TimerAction { return calloop.Drop() })
	must(t, err)
	ia, err := a.AddIdle(func(*int) { fired++ })
	must(t, err)
	ib, err := b.AddIdle(func(*int) {})
	must(t, err)
	if ta == tb || ia == ib {
		t.Fatal("tokens of two loops compare equal")
	}
	for _, op := range []struct {
		name string
		fn   func(calloop.Token) error
	}{{"Remove", a.Remove}, {"Disable", a.Disable}, {"Enable", a.Enable}} {
		for _, tok := range []calloop.Token{tb, ib} {
			if err := op.fn(tok); !errors.Is(err, calloop.ErrInvalidToken) {
				t.Errorf("a.%s(%v of loop b) = %v, want ErrInvalidToken", op.name, tok, err)
			}
		}
	}
	if err := a.ResetTimer(tb, time.Hour); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("a.ResetTimer(token of b) = %v", err)
	}
	var s int
	dispatchUntilTimeout(t, a, &s, 10*time.Millisecond, func() bool { return fired == 2 })
	if err := b.Remove(tb); err != nil {
		t.Fatalf("b.Remove(own timer) = %v", err)
	}
}

func TestTokenForeignFD(t *testing.T) {
	a := newLoop[int](t)
	b := newLoop[int](t)
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var q [2]int
	must(t, unix.Pipe2(q[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	defer unix.Close(q[0])
	defer unix.Close(q[1])
	fa, err := a.AddFD(p[0], calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action { return calloop.Continue })
	must(t, err)
	fb, err := b.AddFD(q[0], calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action { return calloop.Continue })
	must(t, err)
	if err := a.ModifyFD(fb, calloop.Writable, calloop.Level); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("a.ModifyFD(token of b) = %v", err)
	}
	if err := a.Remove(fb); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Errorf("a.Remove(fd token of b) = %v", err)
	}
	must(t, a.Remove(fa))
	must(t, b.Remove(fb))
}

func TestAddFDRejectsUnknownBits(t *testing.T) {
	l := newLoop[int](t)
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	fn := func(*int, calloop.Events) calloop.Action { return calloop.Continue }
	if _, err := l.AddFD(p[0], calloop.Events(0x80), calloop.Level, fn); err == nil {
		t.Error("AddFD accepted an unknown Events bit")
	}
	if _, err := l.AddFD(p[0], calloop.Readable, calloop.Mode(7), fn); err == nil {
		t.Error("AddFD accepted an unknown Mode")
	}
	tok, err := l.AddFD(p[0], calloop.Readable|calloop.Hangup, calloop.Edge, fn)
	must(t, err)
	if err := l.ModifyFD(tok, calloop.Events(0x40)|calloop.Readable, calloop.Level); err == nil {
		t.Error("ModifyFD accepted an unknown Events bit")
	}
	if err := l.ModifyFD(tok, calloop.Readable, calloop.Mode(3)); err == nil {
		t.Error("ModifyFD accepted an unknown Mode")
	}
	src := &fdSrc{fd: p[1], interest: calloop.Events(0x20), mode: calloop.Level}
	if _, err := l.AddSource(src); err == nil {
		t.Error("Registrar.AddFD accepted an unknown Events bit")
	}
	src = &fdSrc{fd: p[1], interest: calloop.Writable, mode: calloop.Mode(9)}
	if _, err := l.AddSource(src); err == nil {
		t.Error("Registrar.AddFD accepted an unknown Mode")
	}
}

type fdSrc struct {
	fd       int
	interest calloop.Events
	mode     calloop.Mode
}

func (f *fdSrc) Register(r *calloop.Registrar) error {
	return r.AddFD(f.fd, 0, f.interest, f.mode)
}
func (f *fdSrc) Unregister(r *calloop.Registrar) error { return r.DeleteFD(f.fd) }
func (f *fdSrc) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

func TestAddLoopTwiceIsAnError(t *testing.T) {
	o1 := newLoop[int](t)
	o2 := newLoop[int](t)
	in := newLoop[int](t)
	st := func(s *int) *int { return s }
	tok, err := calloop.AddLoop(o1, in, st)
	must(t, err)
	if _, err := calloop.AddLoop(o2, in, st); err == nil {
		t.Fatal("an inner loop was nested into two outer loops at once")
	}
	if _, err := calloop.AddLoop(o1, in, st); err == nil {
		t.Fatal("an inner loop was nested twice into the same loop")
	}
	if _, err := calloop.AddLoop(o1, o1, st); err == nil {
		t.Fatal("a loop was nested into itself")
	}
	if _, err := calloop.AddLoop(in, o1, st); err == nil {
		t.Fatal("a cycle of nested loops was accepted")
	}
	// Once detached, the inner loop can go elsewhere.
	must(t, o1.Remove(tok))
	tok2, err := calloop.AddLoop(o2, in, st)
	must(t, err)
	must(t, o2.Remove(tok2))
}
