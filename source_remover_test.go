package calloop_test

import (
	"errors"
	"testing"

	"github.com/calloop-go/calloop"
)

// removerSource records the calls a custom source gets.
type removerSource struct {
	calls []string
	t     calloop.Token
	l     *calloop.Loop[int]
}

func (r *removerSource) Register(*calloop.Registrar) error {
	r.calls = append(r.calls, "register")
	return nil
}

func (r *removerSource) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

func (r *removerSource) Unregister(*calloop.Registrar) error {
	r.calls = append(r.calls, "unregister")
	return nil
}

func (r *removerSource) Removed() {
	r.calls = append(r.calls, "removed")
	// The token is already gone: a call back into the loop for it fails
	// cleanly.
	if err := r.l.Remove(r.t); !errors.Is(err, calloop.ErrInvalidToken) {
		r.calls = append(r.calls, "remove-again:"+errString(err))
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestSourceRemover: a custom source implementing Remover learns of its
// removal (and only of its removal: not of a Disable), once, whether it
// was enabled or disabled, removed by its own token, its parent's, or the
// loop's Close.
func TestSourceRemover(t *testing.T) {
	add := func(t *testing.T, l *calloop.Loop[int]) *removerSource {
		r := &removerSource{l: l}
		tok, err := l.AddSource(r)
		must(t, err)
		r.t = tok
		return r
	}
	check := func(t *testing.T, r *removerSource, want ...string) {
		t.Helper()
		if len(r.calls) != len(want) {
			t.Fatalf("calls %v, want %v", r.calls, want)
		}
		for i := range want {
			if r.calls[i] != want[i] {
				t.Fatalf("calls %v, want %v", r.calls, want)
			}
		}
	}
	t.Run("enabled", func(t *testing.T) {
		l := newLoop[int](t)
		r := add(t, l)
		must(t, l.Remove(r.t))
		check(t, r, "register", "unregister", "removed")
	})
	t.Run("disabled", func(t *testing.T) {
		l := newLoop[int](t)
		r := add(t, l)
		must(t, l.Disable(r.t))
		check(t, r, "register", "unregister")
		must(t, l.Remove(r.t))
		check(t, r, "register", "unregister", "removed")
	})
	t.Run("close", func(t *testing.T) {
		l, err := calloop.New[int]()
		must(t, err)
		r := add(t, l)
		disabled := add(t, l)
		must(t, l.Disable(disabled.t))
		must(t, l.Close())
		check(t, r, "register", "unregister", "removed")
		check(t, disabled, "register", "unregister", "removed")
	})
	t.Run("child", func(t *testing.T) {
		l := newLoop[int](t)
		parent := add(t, l)
		child := add(t, l)
		var reg *calloop.Registrar
		parent2 := &adoptingSource{adopt: child.t, reg: &reg}
		ptok, err := l.AddSource(parent2)
		must(t, err)
		must(t, l.Disable(ptok))
		check(t, child, "register", "unregister")
		must(t, l.Remove(ptok))
		check(t, child, "register", "unregister", "removed")
		must(t, l.Remove(parent.t))
	})
}

// adoptingSource adopts one token as its child when registered first.
type adoptingSource struct {
	adopt calloop.Token
	reg   **calloop.Registrar
	done  bool
}

func (a *adoptingSource) Register(r *calloop.Registrar) error {
	*a.reg = r
	if !a.done {
		a.done = true
		return r.Adopt(a.adopt)
	}
	return nil
}

func (a *adoptingSource) Process(*int, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

func (a *adoptingSource) Unregister(*calloop.Registrar) error { return nil }
