//go:build linux

package calloop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Tokens and arguments: stale, zero and foreign tokens, nil callbacks.

func TestStaleAndZeroTokensAreInvalid(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	a, _ := socketPair(t)
	nop := func(*testState, calloop.Events) calloop.Action { return calloop.Continue }
	mk := map[string]func() calloop.Token{
		"fd": func() calloop.Token {
			tok, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, nop)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"timer": func() calloop.Token {
			tok, err := l.AddTimer(time.Hour, func(*testState, time.Time) calloop.TimerAction { return calloop.Drop() })
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"idle": func() calloop.Token {
			tok, err := l.AddIdle(func(*testState) {})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"source": func() calloop.Token {
			tok, err := l.AddSource((&ctSource{}).as())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"ping": func() calloop.Token {
			p, err := calloop.NewPing(l, func(*testState) {})
			if err != nil {
				t.Fatal(err)
			}
			return p.Token()
		},
		"channel": func() calloop.Token {
			tx, err := calloop.NewChannel(l, func(*testState, int, bool) {})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tx.Close() })
			return tx.Token()
		},
	}
	ops := map[string]func(calloop.Token) error{
		"Remove":     l.Remove,
		"Enable":     l.Enable,
		"Disable":    l.Disable,
		"ModifyFD":   func(tok calloop.Token) error { return l.ModifyFD(tok, calloop.Readable, calloop.Level) },
		"ResetTimer": func(tok calloop.Token) error { return l.ResetTimer(tok, time.Second) },
		"ResetTimerAt": func(tok calloop.Token) error {
			return l.ResetTimerAt(tok, time.Now())
		},
	}
	for kind, add := range mk {
		old := add()
		if err := l.Remove(old); err != nil {
			t.Fatalf("%s: Remove = %v", kind, err)
		}
		// A new source of the same kind reuses the slot with a new generation.
		fresh := add()
		if fresh == old {
			t.Fatalf("%s: token %v reissued after removal", kind, old)
		}
		for name, op := range ops {
			if err := op(old); !isInvalid(err) {
				t.Errorf("%s: %s(stale token) = %v, want ErrInvalidToken", kind, name, err)
			}
		}
		if err := l.Remove(fresh); err != nil {
			t.Errorf("%s: the stale token's operations touched the new source: Remove = %v", kind, err)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	}
	var zero calloop.Token
	if !zero.IsZero() {
		t.Fatal("zero Token: IsZero = false")
	}
	for name, op := range ops {
		if err := op(zero); !isInvalid(err) {
			t.Errorf("%s(zero Token) = %v, want ErrInvalidToken", name, err)
		}
	}
	// A token of the wrong kind: ResetTimer on a source, ModifyFD on a timer.
	tm := mk["timer"]()
	src := mk["source"]()
	if err := l.ResetTimer(src, time.Second); !isInvalid(err) {
		t.Errorf("ResetTimer(source token) = %v, want ErrInvalidToken", err)
	}
	if err := l.ModifyFD(tm, calloop.Readable, calloop.Level); err == nil {
		t.Errorf("ModifyFD(timer token) = nil, want an error")
	}
	if err := l.ModifyFD(src, calloop.Readable, calloop.Level); err == nil {
		t.Errorf("ModifyFD(custom source token) = nil, want an error")
	}
}

func TestNilCallbacksAreErrors(t *testing.T) {
	l := newLoop[testState](t)
	a, _ := socketPair(t)
	checks := map[string]error{}
	_, checks["AddFD"] = l.AddFD(a.fd, calloop.Readable, calloop.Level, nil)
	_, checks["AddTimer"] = l.AddTimer(0, nil)
	_, checks["AddTimerAt"] = l.AddTimerAt(time.Now(), nil)
	_, checks["AddIdle"] = l.AddIdle(nil)
	_, checks["AddSource"] = l.AddSource(nil)
	_, checks["NewPing"] = calloop.NewPing[testState](l, nil)
	_, checks["NewChannel"] = calloop.NewChannel[testState, int](l, nil)
	_, checks["NewBoundedChannel"] = calloop.NewBoundedChannel[testState, int](l, 1, nil)
	_, checks["NewBoundedChannel(0)"] = calloop.NewBoundedChannel(l, 0, func(*testState, int, bool) {})
	_, checks["AddLoop(nil)"] = calloop.AddLoop[testState, testState](l, nil, func(s *testState) *testState { return s })
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s with a nil callback or bad argument = nil, want an error", name)
		} else if !strings.HasPrefix(err.Error(), "calloop:") {
			t.Errorf("%s error %q lacks the calloop: prefix", name, err)
		}
	}
}
