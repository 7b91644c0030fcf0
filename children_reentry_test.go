//go:build linux

package calloop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// hookBox is a source whose Register and Unregister run a hook.
type hookBox struct {
	reg          *calloop.Registrar
	onRegister   func()
	onUnregister func()
	regs, unregs int
}

func (h *hookBox) Register(r *calloop.Registrar) error {
	h.reg = r
	h.regs++
	if h.onRegister != nil {
		h.onRegister()
	}
	return nil
}

func (h *hookBox) Unregister(*calloop.Registrar) error {
	h.unregs++
	if h.onUnregister != nil {
		h.onUnregister()
	}
	return nil
}

func (h *hookBox) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// TestChildrenReentry: the loop's own calls made from a source's Register
// or Unregister, in the middle of a cascade, leave a consistent loop.
func TestChildrenReentry(t *testing.T) {
	t.Run("child's Unregister removes the parent during its Disable", func(t *testing.T) {
		l := newLoop[int](t)
		parent, ptok := addBox(t, l, nil)
		child := &hookBox{}
		ctok, err := l.AddSource(child)
		must(t, err)
		must(t, parent.reg.Adopt(ctok))
		child.onUnregister = func() { must(t, l.Remove(ptok)) }
		if err := l.Disable(ptok); err != nil && !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("Disable: %v", err)
		}
		for _, tok := range []calloop.Token{ptok, ctok} {
			if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
				t.Fatalf("%v after the re-entrant Remove: %v", tok, err)
			}
		}
		if parent.unregs != 0 || child.unregs != 1 {
			t.Fatalf("unregistrations: parent %d child %d, want 0 (it was already inactive) and 1", parent.unregs, child.unregs)
		}
		// The freed slots are clean for new sources.
		b, tok := addBox(t, l, nil)
		var s int
		must(t, l.Dispatch(0, &s))
		must(t, l.Disable(tok))
		must(t, l.Enable(tok))
		if b.regs != 2 || b.unregs != 1 {
			t.Fatalf("new source in a reused slot: %d/%d", b.regs, b.unregs)
		}
	})
	t.Run("a source's Unregister removes or disables itself", func(t *testing.T) {
		l := newLoop[int](t)
		h := &hookBox{}
		tok, err := l.AddSource(h)
		must(t, err)
		h.onUnregister = func() {
			if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
				t.Errorf("Remove of itself from Unregister during Remove: %v", err)
			}
			if err := l.Disable(tok); !errors.Is(err, calloop.ErrInvalidToken) {
				t.Errorf("Disable of itself from Unregister during Remove: %v", err)
			}
		}
		must(t, l.Remove(tok))
		if h.unregs != 1 {
			t.Fatalf("Unregister ran %d times", h.unregs)
		}
	})
	t.Run("a source's Register removes itself on Enable", func(t *testing.T) {
		l := newLoop[int](t)
		parent, ptok := addBox(t, l, nil)
		h := &hookBox{}
		tok, err := l.AddSource(h)
		must(t, err)
		must(t, parent.reg.Adopt(tok))
		must(t, l.Disable(ptok))
		h.onRegister = func() { must(t, l.Remove(tok)) }
		must(t, l.Enable(ptok))
		if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("source removed by its own Register: %v", err)
		}
		must(t, l.Remove(ptok))
	})
	t.Run("Adopt into a parent being removed", func(t *testing.T) {
		l := newLoop[int](t)
		parent, ptok := addBox(t, l, nil)
		child := &hookBox{}
		ctok, err := l.AddSource(child)
		must(t, err)
		must(t, parent.reg.Adopt(ctok))
		var late calloop.Token
		child.onUnregister = func() {
			late, err = l.AddTimer(time.Hour, func(*int, time.Time) calloop.TimerAction { return calloop.Drop() })
			must(t, err)
			if err := parent.reg.Adopt(late); !errors.Is(err, calloop.ErrInvalidToken) {
				t.Errorf("Adopt into a parent being removed: %v", err)
			}
		}
		must(t, l.Remove(ptok))
		// The timer was not adopted: it is still there, on its own.
		if _, ok, err := l.Parent(late); err != nil || ok {
			t.Fatalf("Parent(late) = %v %v", ok, err)
		}
		must(t, l.Remove(late))
	})
}
