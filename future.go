package calloop

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the loop's asynchronous runtime: futures bridged from
// goroutines ([Go]), the loop-side machinery that composition (compose.go)
// and tasks (task.go) share, and the per-loop hub that ties them together.
//
// Every loop that uses futures or tasks gets one hub: a Source[S] that is
// invisible to the user. Goroutines hand results to it through a lock-free
// stack and the loop's ordinary remote-node wakeup (no descriptor of its own,
// no syscall while the loop is busy). On the loop goroutine, resolving a
// future appends its waiters to a run queue; the run queue is drained when
// the hub's callback (or one of the timer and descriptor callbacks that
// tasks use) ends, so a chain of continuations runs in the same iteration
// without recursion, and with the *S of that iteration.

// Future states; only the transitions out of futPending are contended.
const (
	futPending  uint32 = iota
	futDone            // the result is set (by the goroutine, or on the loop)
	futCanceled        // Cancel won the race
)

// Sub-tokens of the hub's events.
const (
	subRemote uint16 = 0 // the remote node: results and cancellations posted from any goroutine
	subRun    uint16 = 1 // synthetic: the run queue has work queued outside a hub callback
)

var (
	// ErrGoLimit is returned by [Go] when the loop already has as many work
	// goroutines in flight as [LimitGo] allows.
	ErrGoLimit = errors.New("calloop: too many goroutines in flight")

	errCanceled   = fmt.Errorf("calloop: canceled: %w", context.Canceled)
	errOtherLoop  = errors.New("calloop: future belongs to another loop")
	errLoopClosed = fmt.Errorf("%w (%w)", ErrClosed, context.Canceled)
)

// PanicError is a panic recovered from a goroutine the package runs on the
// loop's behalf (the work of [Go]) or from a task body ([Spawn]). It is
// re-raised on the loop goroutine, out of [Loop.Dispatch], with the original
// value in Value and the stack of the goroutine that panicked in Stack, so
// the panic is never swallowed and its origin is not lost. When Value is an
// error, errors.Is and errors.As see it through Unwrap.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack, as debug.Stack reports it
}

// newPanicError wraps a recovered value; a *PanicError passes through (a
// task re-raising the panic of a task it joined keeps the original).
func newPanicError(r any) *PanicError {
	if pe, ok := r.(*PanicError); ok {
		return pe
	}
	if r == nil {
		r = "runtime.Goexit called" // recover sees nil only for Goexit since Go 1.21
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}

// Error returns the panic value and the stack it was raised on.
func (p *PanicError) Error() string {
	return fmt.Sprintf("calloop: panic: %v\n\ngoroutine stack:\n%s", p.Value, p.Stack)
}

// Unwrap returns Value if it is an error, otherwise nil.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// asyncNode is an entry of the hub's remote stack: a future whose result or
// cancellation was posted from some goroutine.
type asyncNode struct {
	next *asyncNode
	s    settler
}

type settler interface{ settle() }

// canceler is what a future's cancellation reaches on the loop: the inputs
// of a combinator, or a task's body.
type canceler interface{ cancelUpstream() }

// waker is a loop-side continuation: a task waiting for something, or a
// combinator waiting for one of its inputs. seq tells a waker which of its
// waits an entry is for, so that a stale entry (the task was cancelled and
// moved on) is recognised and ignored, instead of being searched for and
// removed.
type waker interface{ wake(seq uint64) }

type wakeEntry struct {
	w   waker
	seq uint64
}

// asyncCore is the part of the hub that is not generic in S, so that a
// Future[T] can reach it.
type asyncCore struct {
	bell bell
	head atomic.Pointer[asyncNode]
	dead atomic.Bool // the loop is closing or closed: posts are dropped

	ctx      context.Context // parent of every work context; cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup // work goroutines
	inflight atomic.Int64
	limit    int64 // 0: unlimited; loop goroutine only

	// Loop goroutine only.
	timers   asyncTimers
	reg      *Registrar
	batch    []*asyncNode // remote entries being settled
	batchPos int
	runq     []wakeEntry // woken continuations
	runPos   int
	runReady bool // a subRun event is pending
	depth    int  // hub callbacks in progress
}

// asyncTimers is the S-specific service the core needs: loop timers for
// [Timeout].
type asyncTimers interface {
	afterFunc(d time.Duration, w waker, seq uint64) (Token, error)
	remove(t Token)
}

// post hands n to the loop. Any goroutine; no allocation.
func (c *asyncCore) post(n *asyncNode) {
	if c.dead.Load() {
		return
	}
	for {
		old := c.head.Load()
		n.next = old
		if c.head.CompareAndSwap(old, n) {
			break
		}
	}
	c.bell.ring()
}

// ready queues a continuation. Inside a hub callback the queue is drained
// when the callback ends; elsewhere (a user callback, the code between
// dispatches) a synthetic event has the hub drain it in the next iteration.
func (c *asyncCore) ready(e wakeEntry) {
	c.runq = append(c.runq, e)
	if c.depth == 0 && !c.runReady && c.reg != nil {
		c.runReady = true
		c.reg.Ready(subRun, Readable)
	}
}

// enter starts a hub callback; it returns the depth for exit.
func (c *asyncCore) enter() int {
	c.depth++
	return c.depth
}

// exit is deferred by every hub callback. On the normal path leave has
// already decremented depth and exit does nothing; while a panic unwinds,
// exit restores the depth and makes sure the work left in the queues is
// continued in the next iteration, so that a panic out of Dispatch loses
// nothing.
func (c *asyncCore) exit(d int) {
	if c.depth < d {
		return
	}
	c.depth = d - 1
	if (c.runPos < len(c.runq) || c.batchPos < len(c.batch)) && !c.runReady && c.reg != nil {
		c.runReady = true
		c.reg.Ready(subRun, Readable)
	}
}

// hub is a loop's asynchronous runtime, registered as a hidden source.
type hub[S any] struct {
	asyncCore
	l     *Loop[S]
	s     *S         // the state of the dispatch in progress, for continuations
	cur   *Task[S]   // the task whose body is running
	tasks []*Task[S] // live tasks, for Close
	idle  []*taskCoro[S]

	budgetIter uint64 // the iteration spent belongs to
	spent      int    // continuations run in that iteration
}

// hubKey keeps a loop's hub as a per-loop value (value.go), the way any
// package layered on the loop keeps its state.
var hubKey = NewKey("calloop.hub")

// hubOf returns l's hub, registering it on first use. Loop goroutine only.
func hubOf[S any](l *Loop[S]) (*hub[S], error) {
	h, err := Value(l, hubKey, func() (*hub[S], error) {
		h := &hub[S]{l: l}
		h.timers = h
		h.ctx, h.cancel = context.WithCancel(context.Background())
		tok, err := l.AddSource(h)
		if err != nil {
			h.cancel()
			return nil, err
		}
		l.bind(tok, &h.bell)
		return h, nil
	})
	if err != nil {
		return nil, err
	}
	if h.dead.Load() {
		return nil, ErrClosed
	}
	return h, nil
}

func (h *hub[S]) Register(r *Registrar) error {
	h.reg = r
	return nil
}

func (h *hub[S]) Unregister(r *Registrar) error { return nil }

// Process settles what goroutines posted, then runs the woken continuations.
func (h *hub[S]) Process(s *S, sub uint16, _ Events) (Action, error) {
	d := h.enter()
	defer h.exit(d)
	h.s = s
	if sub == subRemote {
		h.bell.take()
	}
	if sub == subRun {
		h.runReady = false
	}
	if h.batchPos == len(h.batch) {
		h.batch, h.batchPos = h.batch[:0], 0
	}
	// The stack is newest first; settle oldest first.
	start := len(h.batch)
	for n := h.head.Swap(nil); n != nil; {
		next := n.next
		n.next = nil
		h.batch = append(h.batch, n)
		n = next
	}
	for i, j := start, len(h.batch)-1; i < j; i, j = i+1, j-1 {
		h.batch[i], h.batch[j] = h.batch[j], h.batch[i]
	}
	for h.batchPos < len(h.batch) {
		n := h.batch[h.batchPos]
		h.batch[h.batchPos] = nil
		h.batchPos++
		n.s.settle() // may panic (a PanicError from work): exit keeps the rest
	}
	h.leave(s)
	return Continue, nil
}

// leave ends a hub callback normally: the outermost one drains the run
// queue, up to the per-iteration budget; what is left over continues in the
// next iteration, which does not sleep.
func (h *hub[S]) leave(s *S) {
	if h.depth == 1 {
		h.s = s
		if it := h.l.iter; h.budgetIter != it {
			h.budgetIter, h.spent = it, 0
		}
		for h.runPos < len(h.runq) {
			if h.spent >= runBudget {
				if !h.runReady && h.reg != nil {
					h.runReady = true
					h.reg.Ready(subRun, Readable)
				}
				h.depth--
				return
			}
			h.spent++
			e := h.runq[h.runPos]
			h.runq[h.runPos] = wakeEntry{}
			h.runPos++
			e.w.wake(e.seq) // may panic: exit keeps the rest
		}
		h.runq, h.runPos = h.runq[:0], 0
	}
	h.depth--
}

// runBudget is how many continuations (task steps, combinator wakeups) the
// hub runs per iteration, as a channel delivers at most channelBatch
// messages.
const runBudget = 1024

// removed runs when the loop closes: work contexts are cancelled and their
// goroutines waited for, and every task's coroutine is stopped.
func (h *hub[S]) removed() {
	h.dead.Store(true)
	h.bell.silence()
	h.cancel()
	h.wg.Wait()
	for len(h.tasks) > 0 {
		h.tasks[len(h.tasks)-1].kill()
	}
	for _, co := range h.idle {
		co.stop()
	}
	h.idle = nil
	h.head.Store(nil)
	clear(h.runq)
	clear(h.batch)
	h.runq, h.batch = nil, nil
}

func (h *hub[S]) afterFunc(d time.Duration, w waker, seq uint64) (Token, error) {
	return h.l.AddTimer(d, func(s *S, _ time.Time) TimerAction {
		dd := h.enter()
		defer h.exit(dd)
		h.ready(wakeEntry{w, seq})
		h.leave(s)
		return Drop()
	})
}

func (h *hub[S]) remove(t Token) { h.l.Remove(t) }

// Future is the result of an asynchronous operation, a value of type T or an
// error, delivered on a loop's goroutine. Futures come from [Go] (work in a
// goroutine), from the combinators [Map], [Then], [All], [First] and
// [Timeout], and from tasks ([Task.Future]). They are consumed by a callback
// ([Go]'s done, [When]) or awaited by a task ([Await]).
//
// A future is resolved exactly once, on the loop goroutine, and its
// continuations run there with the loop's *S. [Future.Cancel] is safe from
// any goroutine; everything else about a Future belongs to its loop's
// goroutine.
type Future[T any] struct {
	h          *asyncCore
	state      atomic.Uint32
	node       asyncNode
	cancelWork context.CancelFunc // Go futures: the work's context
	onCancel   canceler           // loop side: propagate a cancellation upstream

	// Written by the work goroutine before it moves state to futDone.
	rv     T
	rerr   error
	rpanic *PanicError

	// Loop goroutine only.
	resolved bool
	v        T
	err      error
	waiters  []wakeEntry
}

// Cancel cancels the future: if it is not resolved yet, it will be resolved,
// in the loop's next iteration, with an error that wraps context.Canceled,
// and the work behind it is told to stop: the context of [Go]'s work is
// cancelled, the inputs of a combinator are cancelled, a task ([Task.Cancel])
// sees its pending await fail. Cancel reports whether it won: true if the
// future will carry the cancellation error, false if it was already resolved
// (or its result already on its way to the loop), or cancelled before.
//
// Cancel is safe from any goroutine and never blocks.
func (f *Future[T]) Cancel() bool {
	if f.h == nil || !f.state.CompareAndSwap(futPending, futCanceled) {
		return false
	}
	if f.cancelWork != nil {
		f.cancelWork()
	}
	f.h.post(&f.node)
	return true
}

// cancelLocal is Cancel on the loop goroutine, as combinators propagate a
// cancellation upstream: the future is resolved at once, without waiting for
// an iteration.
func (f *Future[T]) cancelLocal() {
	if f.h == nil || !f.state.CompareAndSwap(futPending, futCanceled) {
		return
	}
	if f.cancelWork != nil {
		f.cancelWork()
	}
	f.canceled()
}

// canceled resolves a cancelled future and propagates the cancellation.
func (f *Future[T]) canceled() {
	var zero T
	f.resolve(zero, errCanceled)
	if f.onCancel != nil {
		f.onCancel.cancelUpstream()
	}
}

func newFuture[T any](h *asyncCore) *Future[T] {
	f := &Future[T]{h: h}
	f.node.s = f
	return f
}

// settle resolves a future whose result or cancellation was posted. Loop
// goroutine.
func (f *Future[T]) settle() {
	if f.state.Load() == futCanceled {
		f.canceled()
		return
	}
	v, err, pe := f.rv, f.rerr, f.rpanic
	var zero T
	f.rv, f.rerr = zero, nil
	if pe != nil {
		err = pe
	}
	f.resolve(v, err)
	if pe != nil {
		panic(pe)
	}
}

// complete resolves the future from the loop goroutine, unless a Cancel got
// there first; it reports whether it did.
func (f *Future[T]) complete(v T, err error) bool {
	if !f.state.CompareAndSwap(futPending, futDone) {
		return false
	}
	f.resolve(v, err)
	return true
}

func (f *Future[T]) resolve(v T, err error) {
	f.v, f.err, f.resolved = v, err, true
	for i, e := range f.waiters {
		f.h.ready(e)
		f.waiters[i] = wakeEntry{}
	}
	f.waiters = nil
}

// await has w woken with seq once f is resolved: in the current drain if it
// already is. h is the caller's hub (f.h is nil for a future resolved at
// creation).
func (f *Future[T]) await(h *asyncCore, w waker, seq uint64) {
	switch {
	case !f.resolved:
		f.waiters = append(f.waiters, wakeEntry{w, seq})
	case h != nil:
		h.ready(wakeEntry{w, seq})
	default:
		w.wake(seq)
	}
}

// goFuture is a future of [Go], with its done callback.
type goFuture[S, T any] struct {
	Future[T]
	hub  *hub[S]
	done func(*S, T, error)
}

func (g *goFuture[S, T]) wake(uint64) { g.done(g.hub.s, g.v, g.err) }

// Go runs work in a new goroutine and delivers its result to the loop: done
// is called on the loop's goroutine, with the loop's *S, in the iteration
// after work returns. done may be nil when the result is consumed otherwise
// (by a task's [Await], or a combinator).
//
// The context given to work is cancelled by [Future.Cancel] (from any
// goroutine) and when the loop is closed. A cancelled future is resolved at
// once, without waiting for work to notice: done gets the zero T and an
// error wrapping context.Canceled, and whatever work returns later is
// discarded. A panic in work is not swallowed: it is re-raised on the loop
// goroutine, out of [Loop.Dispatch], as a *[PanicError] carrying the
// original value and the work goroutine's stack (even if the future was
// cancelled); awaiters of the future see that *PanicError as its error.
//
// Closing the loop cancels every work context and waits for the work
// goroutines to return, so no goroutine outlives [Loop.Close]; work that
// ignores its context delays Close. The done callbacks of futures not yet
// delivered are not called after Close.
//
// Go fails (the work is not started) if work is nil, if the loop is closed,
// and with [ErrGoLimit] if [LimitGo] set a limit that is reached. Call it on
// the loop's goroutine: from a callback, a task body, or by the loop's owner
// between dispatches.
func Go[S, T any](l *Loop[S], work func(ctx context.Context) (T, error), done func(s *S, v T, err error)) (*Future[T], error) {
	if work == nil {
		return nil, errors.New("calloop: Go with a nil work function")
	}
	h, err := hubOf(l)
	if err != nil {
		return nil, err
	}
	if n := h.inflight.Add(1); h.limit > 0 && n > h.limit {
		h.inflight.Add(-1)
		return nil, ErrGoLimit
	}
	var f *Future[T]
	if done != nil {
		g := &goFuture[S, T]{hub: h, done: done}
		f = &g.Future
		f.waiters = append(f.waiters, wakeEntry{g, 0})
	} else {
		f = &Future[T]{}
	}
	f.h = &h.asyncCore
	f.node.s = f
	ctx, cancel := context.WithCancel(h.ctx)
	f.cancelWork = cancel
	h.wg.Add(1)
	go f.run(ctx, work)
	return f, nil
}

// run is the work goroutine.
func (f *Future[T]) run(ctx context.Context, work func(context.Context) (T, error)) {
	h := f.h
	normal := false
	defer func() {
		var pe *PanicError
		if !normal {
			pe = newPanicError(recover())
		}
		f.cancelWork()
		f.rpanic = pe
		// Only the loop reads rv, rerr and rpanic, and only after it sees
		// futDone, which only this goroutine sets.
		if f.state.CompareAndSwap(futPending, futDone) {
			h.post(&f.node)
		} else if pe != nil {
			h.post(&asyncNode{s: panicSettler{pe}}) // cancelled, but the panic must surface
		}
		h.inflight.Add(-1)
		h.wg.Done()
	}()
	f.rv, f.rerr = work(ctx)
	normal = true
}

type panicSettler struct{ pe *PanicError }

func (p panicSettler) settle() { panic(p.pe) }

// LimitGo sets the most work goroutines [Go] may have in flight on l at
// once; beyond it Go fails with [ErrGoLimit] (it neither blocks nor drops
// work silently). A goroutine counts until its work returns, even after its
// future was cancelled. n <= 0 removes the limit (the default). Call it on
// the loop's goroutine.
func LimitGo[S any](l *Loop[S], n int) error {
	h, err := hubOf(l)
	if err != nil {
		return err
	}
	h.limit = int64(max(n, 0))
	return nil
}

// whenNode is the continuation of [When].
type whenNode[S, T any] struct {
	h  *hub[S]
	f  *Future[T]
	fn func(*S, T, error)
}

func (w *whenNode[S, T]) wake(uint64) { w.fn(w.h.s, w.f.v, w.f.err) }

// When calls fn on the loop's goroutine, with the loop's *S, once f is
// resolved: in the iteration in which it is, or in the next one if it
// already is. Call it on the loop's goroutine; f must belong to l.
func When[S, T any](l *Loop[S], f *Future[T], fn func(s *S, v T, err error)) error {
	if fn == nil || f == nil {
		return errors.New("calloop: When with a nil future or callback")
	}
	h, err := hubOf(l)
	if err != nil {
		return err
	}
	if f.h != nil && f.h != &h.asyncCore {
		return errOtherLoop
	}
	f.await(&h.asyncCore, &whenNode[S, T]{h: h, f: f, fn: fn}, 0)
	return nil
}
