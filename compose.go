package calloop

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Composition. Methods cannot have type parameters, so the combinators are
// top-level functions taking and returning futures, and a chain reads inside
// out, as one expression:
//
//	page := calloop.Timeout(calloop.Map(fetch, parse), 2*time.Second)
//
// Every combinator runs its function on the loop goroutine, in the
// iteration in which its input is resolved, and propagates cancellation:
// cancelling the future it returns cancels its inputs. Errors pass through
// unchanged (the functions of Map and Then are only called on success).
// All inputs must belong to the same loop. Call the combinators on the loop's
// goroutine.

// mapNode is the continuation of Map.
type mapNode[T, U any] struct {
	src *Future[T]
	dst *Future[U]
	fn  func(T) (U, error)
}

func (m *mapNode[T, U]) cancelUpstream() { m.src.cancelLocal() }

func (m *mapNode[T, U]) wake(uint64) {
	if m.dst.resolved || m.dst.state.Load() != futPending {
		return
	}
	var u U
	err := m.src.err
	if err == nil {
		u, err = m.fn(m.src.v)
	}
	m.dst.complete(u, err)
}

// Map returns a future of fn applied to f's value. If f fails, the result
// fails with the same error and fn is not called. A panic in fn propagates
// out of [Loop.Dispatch], as any callback's does. Call Map on f's loop's
// goroutine; fn runs there.
func Map[T, U any](f *Future[T], fn func(v T) (U, error)) *Future[U] {
	dst := newFuture[U](f.h)
	n := &mapNode[T, U]{src: f, dst: dst, fn: fn}
	dst.onCancel = n
	f.await(f.h, n, 0)
	return dst
}

// thenNode is the continuation of Then: first of the input, then of the
// future fn returned.
type thenNode[T, U any] struct {
	src  *Future[T]
	next *Future[U]
	dst  *Future[U]
	fn   func(T) (*Future[U], error)
}

func (n *thenNode[T, U]) cancelUpstream() {
	n.src.cancelLocal()
	if n.next != nil {
		n.next.cancelLocal()
	}
}

func (n *thenNode[T, U]) wake(seq uint64) {
	if n.dst.resolved || n.dst.state.Load() != futPending {
		return
	}
	var zero U
	if seq == 1 {
		n.dst.complete(n.next.v, n.next.err)
		return
	}
	if n.src.err != nil {
		n.dst.complete(zero, n.src.err)
		return
	}
	g, err := n.fn(n.src.v)
	switch {
	case err != nil:
		n.dst.complete(zero, err)
	case g == nil:
		n.dst.complete(zero, errors.New("calloop: Then: the function returned a nil future"))
	case g.h != nil && g.h != n.dst.h:
		n.dst.complete(zero, errOtherLoop)
	default:
		n.next = g
		g.await(n.dst.h, n, 1)
	}
}

// Then chains an asynchronous step: once f succeeds, fn starts the next
// operation (with [Go], or a combinator) and the result is that operation's.
// fn's signature matches Go's, so a step is often
//
//	calloop.Then(f, func(id int) (*calloop.Future[User], error) {
//		return calloop.Go(l, func(ctx context.Context) (User, error) { return lookup(ctx, id) }, nil)
//	})
//
// If f fails, or fn returns an error, the result fails with that error.
// Call Then on f's loop's goroutine; fn runs there.
func Then[T, U any](f *Future[T], fn func(v T) (*Future[U], error)) *Future[U] {
	dst := newFuture[U](f.h)
	n := &thenNode[T, U]{src: f, dst: dst, fn: fn}
	dst.onCancel = n
	f.await(f.h, n, 0)
	return dst
}

// allNode is the continuation of All; seq is the input's index.
type allNode[T any] struct {
	fs   []*Future[T]
	dst  *Future[[]T]
	left int
}

func (a *allNode[T]) wake(i uint64) {
	if a.dst.resolved || a.dst.state.Load() != futPending {
		return
	}
	if err := a.fs[i].err; err != nil {
		a.dst.complete(nil, err)
		a.cancelUpstream()
		return
	}
	if a.left--; a.left > 0 {
		return
	}
	vs := make([]T, len(a.fs))
	for j, f := range a.fs {
		vs[j] = f.v
	}
	a.dst.complete(vs, nil)
}

func (a *allNode[T]) cancelUpstream() {
	for _, f := range a.fs {
		f.cancelLocal()
	}
}

// All returns a future of the values of fs, in order, once every one has
// succeeded. It fails with the first error among them, as soon as it is
// known, and then cancels the others. All of no futures is resolved at
// once, with an empty slice. Call All on the futures' loop's goroutine.
func All[T any](fs ...*Future[T]) *Future[[]T] {
	h, err := sameLoop(fs)
	if err != nil || len(fs) == 0 {
		return resolved([]T{}, err)
	}
	a := &allNode[T]{fs: append([]*Future[T](nil), fs...), left: len(fs)}
	a.dst = newFuture[[]T](h)
	a.dst.onCancel = a
	for i, f := range a.fs {
		f.await(h, a, uint64(i))
	}
	return a.dst
}

// firstNode is the continuation of First.
type firstNode[T any] struct {
	fs  []*Future[T]
	dst *Future[T]
}

func (n *firstNode[T]) wake(i uint64) {
	if n.dst.resolved || n.dst.state.Load() != futPending {
		return
	}
	f := n.fs[i]
	n.dst.complete(f.v, f.err)
	n.cancelUpstream()
}

func (n *firstNode[T]) cancelUpstream() {
	for _, f := range n.fs {
		f.cancelLocal()
	}
}

// First returns a future of whichever of fs is resolved first, success or
// failure (a race), and cancels the others. When several are resolved in
// the same iteration, the one resolved first wins. First of no futures
// fails at once. Call First on the futures' loop's goroutine.
func First[T any](fs ...*Future[T]) *Future[T] {
	h, err := sameLoop(fs)
	if err == nil && len(fs) == 0 {
		err = errors.New("calloop: First of no futures")
	}
	if err != nil {
		var zero T
		return resolved(zero, err)
	}
	n := &firstNode[T]{fs: append([]*Future[T](nil), fs...)}
	n.dst = newFuture[T](h)
	n.dst.onCancel = n
	for i, f := range n.fs {
		f.await(h, n, uint64(i))
	}
	return n.dst
}

// timeoutNode is the continuation of Timeout: seq 0 is the input, 1 the
// timer.
type timeoutNode[T any] struct {
	src *Future[T]
	dst *Future[T]
	tok Token
	d   time.Duration
}

func (n *timeoutNode[T]) wake(seq uint64) {
	if n.dst.resolved || n.dst.state.Load() != futPending {
		return
	}
	if seq == 0 {
		n.stopTimer()
		n.dst.complete(n.src.v, n.src.err)
		return
	}
	n.tok = Token{}
	var zero T
	n.dst.complete(zero, fmt.Errorf("calloop: timed out after %v: %w", n.d, context.DeadlineExceeded))
	n.src.cancelLocal()
}

func (n *timeoutNode[T]) cancelUpstream() {
	n.stopTimer()
	n.src.cancelLocal()
}

func (n *timeoutNode[T]) stopTimer() {
	if !n.tok.IsZero() {
		n.dst.h.timers.remove(n.tok)
		n.tok = Token{}
	}
}

// Timeout returns f, bounded by d on a loop timer: if f is not resolved
// within d, the result fails with an error wrapping
// context.DeadlineExceeded, and f is cancelled. A future already resolved
// is returned as it is. Call Timeout on f's loop's goroutine.
func Timeout[T any](f *Future[T], d time.Duration) *Future[T] {
	if f.resolved || f.h == nil {
		return f
	}
	n := &timeoutNode[T]{src: f, d: d}
	n.dst = newFuture[T](f.h)
	n.dst.onCancel = n
	tok, err := f.h.timers.afterFunc(d, n, 1)
	if err != nil {
		var zero T
		return resolved(zero, err)
	}
	n.tok = tok
	f.await(f.h, n, 0)
	return n.dst
}

// resolved returns a future resolved at creation, belonging to no loop.
func resolved[T any](v T, err error) *Future[T] {
	f := &Future[T]{resolved: true, v: v, err: err}
	f.state.Store(futDone)
	return f
}

// sameLoop returns the loop core that every input belongs to.
func sameLoop[T any](fs []*Future[T]) (*asyncCore, error) {
	var h *asyncCore
	for _, f := range fs {
		if f == nil {
			return nil, errors.New("calloop: nil future")
		}
		if f.h == nil {
			continue
		}
		if h != nil && f.h != h {
			return nil, errOtherLoop
		}
		h = f.h
	}
	return h, nil
}
