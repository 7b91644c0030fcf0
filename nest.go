package calloop

import (
	"errors"
	"time"
)

// AddLoop embeds inner as a source of outer: whenever inner has something to
// do (a ready descriptor, a due timer, a ping, an idle callback), outer
// dispatches one iteration of inner, without blocking, with the state that
// state returns. The two loops share a goroutine; inner must not be run or
// dispatched elsewhere meanwhile. Removing the source detaches inner, which
// can then be run on its own again. An error from inner's dispatch fails
// outer's iteration.
func AddLoop[S, T any](outer *Loop[S], inner *Loop[T], state func(*S) *T) (Token, error) {
	if inner == nil || state == nil {
		return Token{}, errors.New("calloop: AddLoop with a nil loop or state function")
	}
	return outer.AddSource(&nestSource[S, T]{outer: outer, inner: inner, state: state})
}

type nestSource[S, T any] struct {
	outer *Loop[S]
	inner *Loop[T]
	state func(*S) *T
	timer Token // an outer timer at inner's earliest deadline
	when  int64 // that deadline, in inner's clock
}

func (n *nestSource[S, T]) Register(r *Registrar) error {
	return r.AddFD(n.inner.Fd(), 0, Readable, Level)
}

func (n *nestSource[S, T]) Unregister(r *Registrar) error {
	n.dropTimer()
	return r.DeleteFD(n.inner.Fd())
}

func (n *nestSource[S, T]) dropTimer() {
	if !n.timer.IsZero() {
		n.outer.Remove(n.timer)
		n.timer = Token{}
	}
}

func (n *nestSource[S, T]) Process(s *S, _ uint16, _ Events) (Action, error) {
	return Continue, n.inner.Dispatch(0, n.state(s))
}

// BeforeSleep keeps outer awake for work of inner's that its descriptor does
// not show: synthetic events and idle callbacks now, timers later.
func (n *nestSource[S, T]) BeforeSleep(r *Registrar) error {
	in := n.inner
	if len(in.synthNext) > 0 || len(in.idles) > 0 || in.w.pending() {
		r.Ready(0, Readable)
	}
	if in.timers.len() == 0 {
		n.dropTimer()
		return nil
	}
	when := in.timers.next()
	if !n.timer.IsZero() && when == n.when {
		return nil
	}
	n.dropTimer()
	n.when = when
	tok, err := n.outer.AddTimerAt(in.base.Add(time.Duration(when)), func(s *S, _ time.Time) TimerAction {
		n.timer = Token{}
		if err := n.inner.Dispatch(0, n.state(s)); err != nil {
			n.outer.Fail(err)
		}
		return Drop()
	})
	n.timer = tok
	return err
}
