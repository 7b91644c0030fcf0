package calloop

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// Flow is a typed stream of values of type T produced on a loop: by a
// channel ([ChannelFlow]), a ticker ([TickerFlow]), a descriptor decoder
// ([FDFlow]), signals ([SignalFlow]) or any source of the user's
// ([NewFlow] and its [Emitter]). Combinators transform a flow before it
// reaches its consumer: [MapFlow], [Flow.Filter], [Merge], [Flow.Debounce],
// [Flow.Throttle], [Batch] and [Flow.Take]. A flow is consumed once, by a
// callback ([Flow.Sink]) or by tasks ([Next]); a chain reads
//
//	tok, err := calloop.MapFlow(keys.Filter(printable), toCommand).Sink(run)
//
// A flow is a pipeline of plain function calls, not of goroutines or
// queues: a value produced by a source's callback goes through every stage
// to the sink within that callback, on the loop's goroutine, with the
// loop's *S (the functions of [MapFlow] and [Flow.Filter] get it too). No
// stage allocates per value except [Batch], which allocates one slice per
// batch. A [MapFlow] and the [Flow.Filter] after it are fused with what
// consumes them when the flow is consumed: the user's functions are called
// from one function, not through a call per stage, and a [ChannelFlow]
// hands that function the channel's messages a run at a time (a Disable,
// removal or panic in the middle of a run still consumes every message once,
// in order). The producing source's budget applies to the whole pipeline (a
// channel delivers at most a batch of messages per iteration, then yields
// to the other sources), and a panic in a stage or in the sink propagates
// out of [Loop.Dispatch] like any callback's, leaving the loop and the flow
// consistent.
//
// A flow's sources (the channel, the ticker's timer, the descriptor, the
// signal watch, the timers of [Flow.Debounce] and [Batch], and whatever was
// tied to it with [Flow.Adopt]) are children (see [Registrar.Adopt]) of one
// composite source, whose token the consumer returns: disabling it pauses
// the whole pipeline, enabling it resumes it (what the sources raised
// meanwhile is delivered then), removing it tears every part down. Until a
// flow is consumed its sources are silent: nothing is lost, and a channel
// message or a signal sent before is delivered once the consumer is
// attached.
//
// A flow ends when its producer ends (every sender of a [ChannelFlow] was
// closed, [Emitter.End] was called), when [Flow.Take] has let its count
// through, or when every input of a [Merge] has ended; the end passes
// through the stages (a [Flow.Debounce] delivers its pending value first,
// a [Batch] its partial batch), the consumer is told (the sink's callback
// with ok false, [Next] with an error wrapping [ErrClosed]), and the
// pipeline is removed.
//
// A combinator marks its input consumed and returns a new flow; given
// invalid arguments (a nil function, a negative count or duration), it
// returns a flow whose consumer fails with the error, and the input is
// removed with it. Everything about a flow belongs to its loop's goroutine:
// build, consume and feed it from callbacks, task bodies, or from the
// loop's owner between dispatches.
type Flow[S, T any] struct {
	p *pipe[S] // the composite source of this flow's sources
	// push hands a value to the next stage or the consumer (dropValue
	// until consumed), end tells it of the end (nil until consumed). The
	// consumer of f sets it with setPush, which goes through bind when f
	// is the output of a stage that fuses with its consumer (see dst).
	push func(*S, T)
	end  func(*S)
	bind func(d dst[S, T]) // set by MapFlow and Filter on their output, and by ChannelFlow
	root *pipe[S]          // the consumer's composite source (Sink, Next)
	q    *flowQueue[S, T]
	err  error // a construction failure, reported by the consumer
	used bool  // consumed by a combinator, a sink or Next
	done bool  // the end reached this flow
}

// never is a timer duration that does not expire: an idle stage timer.
const never = time.Duration(math.MaxInt64)

// flowQueueCap is how many values a flow consumed by [Next] holds for its
// tasks before it pauses its sources.
const flowQueueCap = 1024

var (
	errFlowEnded = fmt.Errorf("calloop: flow ended: %w", ErrClosed)
	errFlowUsed  = errors.New("calloop: flow already consumed")
	errNilFlow   = errors.New("calloop: nil flow")
)

// dst is what consumes a flow's values: a push function, or a sink's
// callback, optionally behind one filter. Stateless stages (MapFlow,
// Filter) do not install a closure of their own when they are built; they
// wait for their consumer's dst and hand their input a function that does
// their work and the consumer's in one call (the input's bind, for a
// channel, installs it in the channel itself). A Map+Filter+Sink pipeline
// thus costs one indirect call per value besides the user's functions,
// where a closure per stage would cost three.
type dst[S, T any] struct {
	push func(*S, T)      // the next stage; unused when sink is set
	keep func(*S, T) bool // a filter before push or sink, or nil
	sink func(*S, T, bool)
	root *pipe[S] // the sink's pipeline: no value after its removal
	// many, if set, is push over a run of values (see drain); it belongs
	// to push alone: a stage that changes push or keep drops it.
	many func(*S, []T, *drain)
}

// fn returns d as one function.
func (d dst[S, T]) fn() func(*S, T) {
	push, keep, sink, root := d.push, d.keep, d.sink, d.root
	switch {
	case sink != nil && keep != nil:
		return func(s *S, v T) {
			if keep(s, v) && !root.gone {
				sink(s, v, true)
			}
		}
	case sink != nil:
		return func(s *S, v T) {
			if !root.gone {
				sink(s, v, true)
			}
		}
	case keep != nil:
		return func(s *S, v T) {
			if keep(s, v) {
				push(s, v)
			}
		}
	}
	return push
}

// batch returns d as one function over a run of values, for a source that
// delivers runs (a channel). It calls d's functions per value as fn does,
// stopping when dr.active turns false, and counts in dr.done each value
// before handing it on, so that a panic leaves the count right.
func (d dst[S, T]) batch() func(*S, []T, *drain) {
	if d.many != nil && d.keep == nil && d.sink == nil {
		return d.many
	}
	push, keep, sink, root := d.push, d.keep, d.sink, d.root
	switch {
	case sink != nil && keep != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if keep(s, vs[i]) && !root.gone {
					sink(s, vs[i], true)
				}
			}
		}
	case sink != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if !root.gone {
					sink(s, vs[i], true)
				}
			}
		}
	case keep != nil:
		return func(s *S, vs []T, dr *drain) {
			for i := 0; i < len(vs) && dr.active; i++ {
				dr.done = i + 1
				if keep(s, vs[i]) {
					push(s, vs[i])
				}
			}
		}
	}
	return func(s *S, vs []T, dr *drain) {
		for i := 0; i < len(vs) && dr.active; i++ {
			dr.done = i + 1
			push(s, vs[i])
		}
	}
}

// setPush makes d the consumer of f's values.
func (f *Flow[S, T]) setPush(d dst[S, T]) {
	if f.bind != nil {
		f.bind(d)
		return
	}
	f.push = d.fn()
}

// dropValue is the push of a flow not consumed yet.
func dropValue[S, T any](*S, T) {}

// mkFlow returns a flow of pipe p, not consumed.
func mkFlow[S, T any](p *pipe[S]) *Flow[S, T] {
	return &Flow[S, T]{p: p, push: dropValue[S, T]}
}

// finish ends the flow, once.
func (f *Flow[S, T]) finish(s *S) {
	if f.done {
		return
	}
	f.done = true
	if f.end != nil {
		f.end(s)
	}
}

// pipe is the composite source that holds a flow's sources as children.
// The pipe of a flow not yet consumed is disabled, so its sources are
// silent; a consumer's pipe is the root the user's token names.
type pipe[S any] struct {
	l      *Loop[S]
	reg    *Registrar
	tok    Token
	gone   bool     // removed
	endDue bool     // an end waits to be delivered to the sink (Process)
	onEnd  func(*S) // the sink's end, for endDue
	later  func(*S) // a stage's end left for the next iteration (Process)
	onGone func()   // a Next consumer learns of the removal
}

func newPipe[S any](l *Loop[S]) (*pipe[S], error) {
	if l == nil {
		return nil, errors.New("calloop: flow on a nil loop")
	}
	p := &pipe[S]{l: l}
	tok, err := l.AddSource(p)
	if err != nil {
		return nil, err
	}
	p.tok = tok
	return p, nil
}

func (p *pipe[S]) Register(r *Registrar) error {
	p.reg = r
	if p.endDue || p.later != nil {
		r.Ready(0, Readable) // an end raised while the pipeline was paused
	}
	return nil
}

// endLater has end run in the pipe's next Process: in the next iteration,
// or once the pipeline is resumed.
func (p *pipe[S]) endLater(end func(*S)) {
	if p.gone || p.later != nil {
		return
	}
	p.later = end
	p.reg.Ready(0, Readable)
}

func (p *pipe[S]) Unregister(*Registrar) error { return nil }

func (p *pipe[S]) Process(s *S, _ uint16, _ Events) (Action, error) {
	if fn := p.later; fn != nil {
		p.later = nil
		fn(s)
	}
	if p.endDue {
		p.endDue = false
		p.onEnd(s)
	}
	return Continue, nil
}

func (p *pipe[S]) removed() {
	p.gone = true
	if p.onGone != nil {
		p.onGone()
	}
}

// active reports whether the pipe's children may deliver events.
func (p *pipe[S]) active() bool {
	sl := p.l.lookup(p.tok)
	return sl != nil && sl.enabled
}

// addTimer adds a timer firing d from now as a child of p. It takes p's
// class: a timer made anew after a panic (the loop removes a timer whose
// callback panicked) keeps the class a SetPriority on the pipeline gave the
// one it replaces.
func (p *pipe[S]) addTimer(d time.Duration, fn func(*S, time.Time) TimerAction) (Token, error) {
	tok, err := p.l.AddTimer(d, fn)
	if err != nil {
		return Token{}, err
	}
	if err := p.adopt(tok); err != nil {
		p.l.Remove(tok)
		return Token{}, err
	}
	if c, err := p.l.Priority(p.tok); err == nil && c != PriorityDefault {
		p.l.SetPriority(tok, c)
	}
	return tok, nil
}

func (p *pipe[S]) adopt(t Token) error {
	if p.gone {
		return ErrInvalidToken
	}
	return p.reg.Adopt(t)
}

// newFlow returns a flow with a pipe of its own, disabled until consumed.
func newFlow[S, T any](l *Loop[S]) (*Flow[S, T], error) {
	p, err := newPipe(l)
	if err != nil {
		return nil, err
	}
	if err := l.Disable(p.tok); err != nil {
		l.Remove(p.tok)
		return nil, err
	}
	return mkFlow[S, T](p), nil
}

// own adopts the source or timer t into f's pipe; on failure both go.
func (f *Flow[S, T]) own(t Token) error {
	if err := f.p.adopt(t); err != nil {
		f.p.l.Remove(t)
		f.p.l.Remove(f.p.tok)
		return err
	}
	return nil
}

// Token returns the token that controls f and everything upstream of it:
// once f is consumed by [Flow.Sink] or [Next], the consumer's (the one Sink
// returns); before that, the token of the composite source holding the
// sources f was built from, so that a flow never consumed can be removed.
func (f *Flow[S, T]) Token() Token {
	switch {
	case f == nil:
		return Token{}
	case f.root != nil:
		return f.root.tok
	case f.p != nil:
		return f.p.tok
	}
	return Token{}
}

// Adopt ties source or timer t to f's pipeline: it becomes a child (see
// [Registrar.Adopt]) of the composite source that holds f's sources, so
// that it is paused, resumed and removed with the pipeline. A custom
// source feeding an [Emitter] is usually tied to the emitter's flow this
// way. Adopt fails as [Registrar.Adopt] does, and with f's construction
// error.
func (f *Flow[S, T]) Adopt(t Token) error {
	if f == nil {
		return errNilFlow
	}
	if f.p == nil {
		return f.err
	}
	return f.p.adopt(t)
}

// Emitter is the producing end of a flow made by [NewFlow]: a source's
// callback (or a task body, or the loop's owner) hands values to the flow
// with [Emitter.Emit]. It belongs to the loop's goroutine.
type Emitter[S, T any] struct {
	f *Flow[S, T]
}

// NewFlow returns a flow fed by hand, and its emitter: the way to make a
// flow of a custom source's events. Tie the source to the flow with
// [Flow.Adopt], so that it is silent until the flow is consumed and goes
// with the pipeline. Call NewFlow on the loop's goroutine.
func NewFlow[S, T any](l *Loop[S]) (*Flow[S, T], *Emitter[S, T], error) {
	f, err := newFlow[S, T](l)
	if err != nil {
		return nil, nil, err
	}
	return f, &Emitter[S, T]{f: f}, nil
}

// Emit pushes v through the flow's stages to its consumer, at once, on the
// calling goroutine (the loop's). It reports whether v went in: false when
// the flow is not consumed yet, is paused (its consumer's token disabled),
// has ended or was removed; v is then dropped.
func (e *Emitter[S, T]) Emit(s *S, v T) bool {
	f := e.f
	if f.done || !f.used || !f.p.active() {
		return false
	}
	f.push(s, v)
	return true
}

// End ends the flow (see [Flow]); later emits are dropped. End is
// idempotent.
func (e *Emitter[S, T]) End(s *S) { e.f.finish(s) }

// ChannelFlow returns a flow of the messages sent on a new channel, and the
// channel's first sender: as [NewChannel] when capacity is 0 (unbounded),
// as [NewBoundedChannel] otherwise. The flow ends once every sender is
// closed and every message sent before went through. Messages are
// delivered in batches of at most the channel's budget per iteration.
// Call ChannelFlow on the loop's goroutine.
func ChannelFlow[S, T any](l *Loop[S], capacity int) (*Flow[S, T], *Sender[T], error) {
	if capacity < 0 {
		return nil, nil, errors.New("calloop: ChannelFlow with a negative capacity")
	}
	f, err := newFlow[S, T](l)
	if err != nil {
		return nil, nil, err
	}
	tx, cs, err := newChannelSource(l, capacity, func(s *S, m T, ok bool) {
		if ok {
			f.push(s, m)
		} else {
			f.finish(s)
		}
	})
	if err != nil {
		l.Remove(f.p.tok)
		return nil, nil, err
	}
	// The consumer's function takes the messages from the channel itself.
	f.bind = func(d dst[S, T]) {
		f.push = d.fn()
		cs.many = d.batch()
	}
	if err := f.own(tx.Token()); err != nil {
		return nil, nil, err
	}
	return f, tx, nil
}

// TickerFlow returns a flow of the deadlines of a loop timer that fires
// every d, without drift: the first d after TickerFlow is called (at once
// if the flow is consumed later than that). Like time.Ticker, it drops
// ticks it could not deliver in time rather than catching up in a burst.
// The flow never ends by itself. It fails if d is not positive. Call
// TickerFlow on the loop's goroutine.
func TickerFlow[S any](l *Loop[S], d time.Duration) (*Flow[S, time.Time], error) {
	if d <= 0 {
		return nil, errors.New("calloop: TickerFlow with a period below 1ns")
	}
	f, err := newFlow[S, time.Time](l)
	if err != nil {
		return nil, err
	}
	// after is the next deadline on the period's grid after deadline.
	after := func(deadline time.Time) time.Time {
		next := deadline.Add(d)
		if now := l.Now(); !next.After(now) {
			next = deadline.Add((now.Sub(deadline)/d + 1) * d)
		}
		return next
	}
	var tick func(s *S, deadline time.Time) TimerAction
	tick = func(s *S, deadline time.Time) TimerAction {
		pushed := false
		defer func() {
			if !pushed && !f.p.gone {
				// A stage or the consumer panicked: the loop removes
				// this timer, a new one keeps the ticks going.
				f.p.addTimer(after(deadline).Sub(l.Now()), tick)
			}
		}()
		f.push(s, deadline)
		pushed = true
		return At(after(deadline))
	}
	tok, err := l.AddTimer(d, tick)
	if err != nil {
		l.Remove(f.p.tok)
		return nil, err
	}
	if err := f.own(tok); err != nil {
		return nil, err
	}
	return f, nil
}

// SignalFlow returns a flow of the signals sigs (all incoming signals if
// none is given) the process receives, watched as [Notify] does. The flow
// never ends by itself. Call SignalFlow on the loop's goroutine.
func SignalFlow[S any](l *Loop[S], sigs ...os.Signal) (*Flow[S, os.Signal], error) {
	f, err := newFlow[S, os.Signal](l)
	if err != nil {
		return nil, err
	}
	tok, err := Notify(l, func(s *S, sig os.Signal) { f.push(s, sig) }, sigs...)
	if err != nil {
		l.Remove(f.p.tok)
		return nil, err
	}
	if err := f.own(tok); err != nil {
		return nil, err
	}
	return f, nil
}

// FDFlow returns a flow of the values decode makes of descriptor fd's
// input: fd is registered for interest, level-triggered, and on each event
// decode reads what it wants and hands every value it decodes to e, and
// calls [Emitter.End] at the end of the input (the pipeline, fd's
// registration included, is then removed; the loop never closes fd). Call
// FDFlow on the loop's goroutine.
func FDFlow[S, T any](l *Loop[S], fd int, interest Events, decode func(s *S, ev Events, e *Emitter[S, T])) (*Flow[S, T], error) {
	if decode == nil {
		return nil, errors.New("calloop: FDFlow with a nil decoder")
	}
	f, err := newFlow[S, T](l)
	if err != nil {
		return nil, err
	}
	e := &Emitter[S, T]{f: f}
	tok, err := l.AddFD(fd, interest, Level, func(s *S, ev Events) Action {
		decode(s, ev, e)
		return Continue
	})
	if err != nil {
		l.Remove(f.p.tok)
		return nil, err
	}
	if err := f.own(tok); err != nil {
		return nil, err
	}
	return f, nil
}

// attach consumes f for a sink or a queue: a new active root pipe adopts
// f's pipe. The caller sets f.push and f.end, then starts f's sources
// (start).
func (f *Flow[S, T]) attach() (*pipe[S], error) {
	if f == nil {
		return nil, errNilFlow
	}
	if f.used {
		return nil, errFlowUsed
	}
	if f.err != nil {
		f.used = true
		if f.p != nil {
			f.p.l.Remove(f.p.tok)
		}
		return nil, f.err
	}
	l := f.p.l
	root, err := newPipe(l)
	if err != nil {
		return nil, err
	}
	if err := root.reg.Adopt(f.p.tok); err != nil {
		l.Remove(root.tok)
		return nil, err
	}
	f.used, f.root = true, root
	return root, nil
}

// start enables f's sources under the consumer's root; on failure the
// pipeline is removed.
func (f *Flow[S, T]) start() error {
	l := f.p.l
	if err := l.Enable(f.p.tok); err != nil {
		l.Remove(f.root.tok)
		return err
	}
	return nil
}

// sinkStage is the consumer of [Flow.Sink].
type sinkStage[S, T any] struct {
	root *pipe[S]
	fn   func(*S, T, bool)
}

func (k *sinkStage[S, T]) end(s *S) {
	if k.root.gone {
		return
	}
	if !k.root.active() {
		k.root.endDue = true // delivered when the pipeline is enabled
		return
	}
	k.deliverEnd(s)
}

func (k *sinkStage[S, T]) deliverEnd(s *S) {
	if k.root.gone {
		return
	}
	var zero T
	defer k.root.l.Remove(k.root.tok) // even if fn panics
	k.fn(s, zero, false)
}

// Sink consumes f with a callback: fn runs on the loop's goroutine with
// (v, true) for each value, and once with (zero, false) when f ends, after
// which the pipeline is removed. Sink starts f's sources and returns the
// token of the whole pipeline: disabling it pauses every source upstream,
// enabling it resumes them, removing it removes them all (fn is not called
// after). A flow that ended before it was consumed (Take(0), say) has fn
// called with ok false in the next iteration.
//
// Sink fails, and leaves the loop as it was, if fn is nil or f was already
// consumed; it fails with f's construction error (and removes f's
// sources) if a combinator was given invalid arguments.
func (f *Flow[S, T]) Sink(fn func(s *S, v T, ok bool)) (Token, error) {
	if fn == nil {
		return Token{}, errors.New("calloop: Sink with a nil callback")
	}
	root, err := f.attach()
	if err != nil {
		return Token{}, err
	}
	k := &sinkStage[S, T]{root: root, fn: fn}
	f.setPush(dst[S, T]{sink: fn, root: root})
	f.end = k.end
	root.onEnd = k.deliverEnd
	if f.done {
		root.endDue = true
		root.reg.Ready(0, Readable)
	}
	if err := f.start(); err != nil {
		return Token{}, err
	}
	return root.tok, nil
}

// flowQueue is the consumer of [Next]: values wait here for tasks.
type flowQueue[S, T any] struct {
	h       *hub[S]
	root    *pipe[S]
	inner   Token // f's pipe: paused while the queue is full
	buf     []T
	head    int
	ended   bool
	paused  bool
	waiters []wakeEntry
}

func (q *flowQueue[S, T]) push(_ *S, v T) {
	if q.root.gone {
		return
	}
	if q.head > 0 && len(q.buf) == cap(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, v)
	q.wake()
	if !q.paused && len(q.buf)-q.head >= flowQueueCap {
		q.paused = true
		q.root.l.Disable(q.inner)
	}
}

func (q *flowQueue[S, T]) end(*S) {
	q.ended = true
	q.wake()
	q.root.l.Remove(q.root.tok)
}

func (q *flowQueue[S, T]) gone() {
	q.ended = true
	if !q.h.dead.Load() {
		q.wake()
	}
}

func (q *flowQueue[S, T]) wake() {
	for i, e := range q.waiters {
		q.h.ready(e)
		q.waiters[i] = wakeEntry{}
	}
	q.waiters = q.waiters[:0]
}

// Next receives the next value of f in a task, waiting for one if there is
// none. The first Next consumes f (as [Flow.Sink] would) into a queue that
// any task of the loop may then receive from with Next, each value going
// to one of them, in order; [Flow.Token] then names the pipeline. Values
// that arrive while no task waits are queued; when a thousand or so are
// queued, f's sources are paused until the tasks catch up, so a fast
// producer cannot grow the queue without bound.
//
// Next fails with an error wrapping [ErrClosed] once f has ended (or its
// pipeline was removed) and every queued value was received, with a
// cancellation error when the task is cancelled, with f's construction
// error, and if f was consumed otherwise. Call it from t's body; f must
// belong to t's loop.
func Next[S, T any](t *Task[S], f *Flow[S, T]) (T, error) {
	var zero T
	if f == nil {
		return zero, errNilFlow
	}
	q := f.q
	if q == nil {
		if err := t.begin(); err != nil {
			return zero, err
		}
		if f.p != nil && f.p.l != t.h.l {
			return zero, errors.New("calloop: Next: the flow belongs to another loop")
		}
		var err error
		if q, err = f.queue(t.h); err != nil {
			return zero, err
		}
	} else if q.h != t.h {
		return zero, errors.New("calloop: Next: the flow belongs to another loop")
	}
	for {
		if q.head < len(q.buf) {
			v := q.buf[q.head]
			q.buf[q.head] = zero
			q.head++
			if q.head == len(q.buf) {
				q.buf, q.head = q.buf[:0], 0
			}
			if q.paused && len(q.buf)-q.head <= flowQueueCap/2 && !q.root.gone {
				q.paused = false
				if err := q.root.l.Enable(q.inner); err != nil {
					return v, err
				}
			}
			return v, nil
		}
		if q.ended {
			return zero, errFlowEnded
		}
		if err := t.begin(); err != nil {
			return zero, err
		}
		q.waiters = append(q.waiters, wakeEntry{t, t.seq})
		if err := t.park(); err != nil {
			return zero, err
		}
	}
}

// queue consumes f into a queue for Next.
func (f *Flow[S, T]) queue(h *hub[S]) (*flowQueue[S, T], error) {
	root, err := f.attach()
	if err != nil {
		return nil, err
	}
	q := &flowQueue[S, T]{h: h, root: root, inner: f.p.tok}
	f.q, f.end = q, q.end
	f.setPush(dst[S, T]{push: q.push})
	root.onGone = q.gone
	if f.done {
		q.ended = true
		f.p.l.Remove(root.tok)
		return q, nil
	}
	if err := f.start(); err != nil {
		return nil, err
	}
	return q, nil
}
