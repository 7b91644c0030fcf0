package calloop

import (
	"errors"
	"time"
)

// AddLoop embeds inner as a source of outer: whenever inner has something to
// do (a ready descriptor, a due timer, a ping, an idle callback), outer
// dispatches one iteration of inner, without blocking, with the state that
// state returns.
//
// Each loop keeps its own clock ([WithClock]). Inner's timers are due on
// inner's clock, whatever outer's is: on a [VirtualClock], they fire when
// that clock is moved, which wakes outer (blocked in the kernel or not) to
// dispatch inner; outer never waits for a virtual deadline in real time.
// Inner on the monotonic clock in an outer on a virtual one: inner's timers
// fire in real time, outer waking for them, while outer's own timers wait
// for its clock. The two loops share a goroutine; inner must not be run or
// dispatched elsewhere meanwhile. A loop is nested in at most one loop at a
// time, and never in itself or in a loop nested in it: those are errors.
// Removing the source detaches inner, which can then be run on its own, or
// nested elsewhere, again. An error from inner's dispatch fails outer's
// iteration.
func AddLoop[S, T any](outer *Loop[S], inner *Loop[T], state func(*S) *T) (Token, error) {
	if outer == nil || inner == nil || state == nil {
		return Token{}, errors.New("calloop: AddLoop with a nil loop or state function")
	}
	n := &nestSource[S, T]{outer: outer, inner: inner, state: state}
	if err := inner.attach(outer); err != nil {
		return Token{}, err
	}
	tok, err := outer.AddSource(n)
	if err != nil {
		inner.detach()
		return Token{}, err
	}
	return tok, nil
}

// nestedLoop is what a nest source needs of its inner loop: the loop's
// public face plus two questions only the loop can answer. It keeps the
// nest source out of the inner loop's fields.
type nestedLoop[T any] interface {
	Fd() int
	Dispatch(timeout time.Duration, s *T) error
	// nestWork reports what the loop has to do that its descriptor does
	// not show.
	nestWork() nestWork
	detach()
}

// nestWork is what a nested loop has to do that its descriptor does not
// show: work now (synthetic events, idle callbacks, a signal not yet
// taken), and its earliest timer, on its clock.
type nestWork struct {
	now      bool
	timed    bool          // it has timers; then:
	deadline time.Time     // the earliest deadline
	due      bool          // it is due on the loop's clock
	vc       *VirtualClock // the loop's clock; nil: the monotonic clock
}

// loopNode is a loop as a node of the nesting forest; it is not generic,
// so that loops of different state types can be compared.
type loopNode interface{ nestHost() loopNode }

func (l *Loop[S]) nestHost() loopNode {
	if l.host == nil {
		return nil
	}
	return l.host
}

// attach records that l is nested in host.
func (l *Loop[S]) attach(host loopNode) error {
	if l.closed {
		return ErrClosed
	}
	if l.host != nil {
		return errors.New("calloop: AddLoop: the inner loop is already nested in a loop")
	}
	for h := host; h != nil; h = h.nestHost() {
		if h == loopNode(l) {
			return errors.New("calloop: AddLoop: a loop cannot be nested in itself or in a loop nested in it")
		}
	}
	l.host = host
	return nil
}

func (l *Loop[S]) detach() { l.host = nil }

func (l *Loop[S]) nestWork() nestWork {
	w := nestWork{now: len(l.synthNext) > 0 || len(l.idles) > 0 || l.w.pending(), vc: l.vc}
	if l.timers.len() > 0 {
		next := l.timers.next()
		w.timed, w.deadline, w.due = true, l.base.Add(time.Duration(next)), next <= l.clock()
	}
	return w
}

type nestSource[S, T any] struct {
	outer *Loop[S]
	inner nestedLoop[T]
	state func(*S) *T
	timer Token     // an outer timer at inner's earliest deadline
	when  time.Time // that deadline
}

func (n *nestSource[S, T]) Register(r *Registrar) error {
	return r.AddFD(n.inner.Fd(), 0, Readable, Level)
}

func (n *nestSource[S, T]) Unregister(r *Registrar) error {
	n.dropTimer()
	return r.DeleteFD(n.inner.Fd())
}

func (n *nestSource[S, T]) removed() { n.inner.detach() }

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
// not show: synthetic events and idle callbacks now, timers later. On one
// clock, inner's earliest timer is a timer of outer's. On two clocks, an
// outer timer would mean nothing: a timer due on inner's clock is work now;
// a later one, on a virtual clock, waits for the clock to move, which wakes
// inner and so makes its descriptor readable; on the monotonic clock (outer
// being virtual), it bounds outer's sleep in real time.
func (n *nestSource[S, T]) BeforeSleep(r *Registrar) error {
	w := n.inner.nestWork()
	if w.now || w.timed && w.due && w.vc != n.outer.vc {
		r.Ready(0, Readable)
	}
	if !w.timed || w.vc != n.outer.vc {
		n.dropTimer()
		if w.timed && w.vc == nil {
			n.outer.wakeBy(w.deadline)
		}
		return nil
	}
	when := w.deadline
	if !n.timer.IsZero() && when.Equal(n.when) {
		return nil
	}
	n.dropTimer()
	n.when = when
	tok, err := n.outer.AddTimerAt(when, func(s *S, _ time.Time) TimerAction {
		n.timer = Token{}
		if err := n.inner.Dispatch(0, n.state(s)); err != nil {
			n.outer.Fail(err)
		}
		return Drop()
	})
	n.timer = tok
	return err
}
