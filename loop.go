package calloop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/calloop-go/calloop/internal/poller"
)

// maxEventBatch bounds the kernel event buffer's growth.
const maxEventBatch = 8192

// Loop is a callback event loop whose callbacks share one state value of type
// S. Sources (file descriptors, timers, idle callbacks, pings, channels,
// signals, custom sources, other loops) are registered with callbacks;
// [Loop.Dispatch] waits for events and runs the callbacks one at a time on
// the calling goroutine, each with the same *S.
//
// A Loop is owned by one goroutine at a time: its methods are called from
// callbacks or from the owner between dispatches, never concurrently. The
// exceptions, safe from any goroutine, are [Loop.Stop] and [Loop.Wakeup],
// and the handles that sources give out for that purpose ([Ping.Ping],
// [Sender.Send]). A second concurrent Dispatch is detected and fails with
// [ErrDispatching].
type Loop[S any] struct {
	w    *wakeup
	p    *poller.Poller
	id   uint32 // identity for tokens (token.go)
	opts options
	base time.Time // timer clock origin; timers use nanoseconds since base
	now  int64     // this iteration's clock reading (since base), if nowSet
	// nowSet: the iteration read the clock (it does so only when timers exist).
	nowSet bool
	// timerSeq is the timer sequence number when this iteration polled: later
	// timers were set during the iteration and wait for the next one.
	timerSeq uint64

	slots   []slot[S]
	free    []uint32 // vacant slot indices, reused last-in first-out
	fdOwner []uint32 // fd -> owning slot index + 1 (0: none)
	hooks   []uint32 // slots whose source has a BeforeSleep hook
	timers  timerSet[S]

	events    []poller.Event // kernel batch buffer
	synth     []poller.Event // events to dispatch this iteration without the kernel
	synthNext []poller.Event // events raised during this iteration, for the next
	idles     []Token        // idle callbacks queued for the coming idle phase
	idleRun   []Token        // the idle phase in progress

	// Progress of the current iteration, so that a panic unwinding out of
	// Dispatch leaves nothing behind (see finish).
	batch    []poller.Event // the batch being dispatched
	batchPos int
	kernel   []poller.Event // the kernel's events, until their batch starts
	idlePos  int
	firing   Token              // the timer whose callback is running
	due      []dueTimer         // timers due in this iteration (fireTimers)
	duePos   int                // the one firing
	later    []heapEntry        // due timers set during this iteration, out of their heap (fireTimers)
	values   []loopValue        // per-loop values of packages (value.go)
	host     loopNode           // the loop this one is nested in (nest.go), or nil
	tlinks   map[uint32]kidLink // child timers' parents (children.go)

	iter    uint64 // iterations begun, for per-iteration budgets of sources
	err     error  // first failure of this iteration (Fail, a source's error)
	closed  bool
	exposed bool // Fd was called: another poller may be watching ours

	running  atomic.Bool
	closeReq atomic.Bool

	st      *loopStats           // instrumentation (stats.go), or nil
	vc      *VirtualClock        // the clock (clock.go), or nil: monotonic
	tnames  map[uint32]timerName // names of timers (stats.go)
	snames  map[uint32]timerName // names of the other sources, by slot index
	wakeAt  time.Time            // a real-time bound on this iteration's sleep (wakeBy), if wakeSet
	wakeSet bool
	nprio   int            // sources with a priority other than the default (priority.go)
	pbuf    []poller.Event // priority.go: the batch sorted by class
	pends   [nClasses]int  // priority.go: where each class's events end in the sorted batch
}

type slotKind uint8

const (
	kindFree slotKind = iota
	kindFD
	kindSource
	kindIdle
)

type slot[S any] struct {
	gen      uint32
	kind     slotKind
	enabled  bool
	hooked   bool
	interest Events
	mode     Mode
	fd       int32 // kindFD; -1 once the fd was found closed and reused
	fdFn     func(*S, Events) Action
	src      Source[S]
	reg      *Registrar
	bell     *bell    // of a source other goroutines wake
	held     bool     // disabled by itself (enabled: active, see children.go)
	removing bool     // Remove is in progress
	prio     Priority // see Loop.SetPriority
	parent   uint32
	kidPos   int32
	kids     []Token
	idleFn   func(*S)
}

// New creates a loop and its kernel poller (epoll on Linux, kqueue on macOS
// and the BSDs). On other systems it returns an error wrapping
// errors.ErrUnsupported.
func New[S any](opts ...Option) (*Loop[S], error) {
	o := options{events: 256}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	if o.netpoll > 0 || o.netpoll == 0 && !o.lockThread && useNetpoll() {
		p.UseNetpoller() // on failure the poller stays in blocking mode
	}
	l := &Loop[S]{
		w:      &wakeup{p: p},
		id:     nextLoopID(),
		p:      p,
		opts:   o,
		base:   time.Now(),
		events: make([]poller.Event, min(o.events, maxEventBatch)),
	}
	if o.stats {
		l.st = &loopStats{perSource: o.perSource, slowAt: o.slowAt, slowFn: o.slowFn}
	}
	if o.clock != nil {
		l.vc, l.base = o.clock, o.clock.origin
		o.clock.attach(l.w)
	}
	return l, nil
}

// clock reads the loop's clock (the monotonic clock, or the virtual clock
// given WithClock), as nanoseconds since the loop's origin.
func (l *Loop[S]) clock() int64 {
	if l.vc != nil {
		return l.vc.now.Load()
	}
	return int64(time.Since(l.base))
}

// Now returns the time this iteration read the clock after its poll: the
// instant every timer decision of the iteration is based on. Outside a
// dispatch it returns the current time.
func (l *Loop[S]) Now() time.Time {
	if !l.running.Load() {
		if l.vc != nil {
			return l.vc.Now()
		}
		return time.Now()
	}
	if !l.nowSet {
		l.now, l.nowSet = l.clock(), true
	}
	return l.base.Add(time.Duration(l.now))
}

// Fd returns the loop's own pollable descriptor: it becomes readable when the
// loop has something to dispatch, so a loop can be watched by another loop
// (see [AddLoop]) or by any other poller. After Fd has been called the loop
// also makes the descriptor readable for cross-goroutine wakeups that arrive
// between dispatches.
func (l *Loop[S]) Fd() int {
	if !l.exposed {
		l.exposed = true
		l.w.armed.Store(true)
	}
	return l.p.Fd()
}

// Stop asks [Loop.Run] to return after the iteration in progress, or after
// its first iteration if it has not started yet: a Stop is never lost. Stop
// wakes a loop blocked in the kernel. Safe from any goroutine.
func (l *Loop[S]) Stop() {
	l.w.stop.Store(true)
	l.w.wake()
}

// Wakeup makes a blocked [Loop.Dispatch] return, or the next one return
// without blocking if none is in progress. Safe from any goroutine; it makes
// a system call only if the loop is asleep.
func (l *Loop[S]) Wakeup() { l.w.wake() }

// Fail records err as the result of the current iteration: [Loop.Dispatch]
// finishes the iteration (no event already received is lost) and returns err,
// and [Loop.Run] returns it. Only the first failure of an iteration is kept.
// Call it from callbacks.
func (l *Loop[S]) Fail(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}

// Run dispatches until [Loop.Stop] is called (it returns nil), a callback
// fails (it returns that error), the loop is closed ([ErrClosed]), or ctx is
// done (it returns ctx.Err()).
//
// Run notices that ctx is done at the end of an iteration: the iteration in
// progress when the cancellation reaches the loop (the context package wakes
// a sleeping loop for it, from a goroutine of its own), and in any case
// within 64 iterations of ctx being done, which bounds the delay in a loop
// that never sleeps while that goroutine waits for a CPU. (Looking at ctx
// after every iteration would cost a channel operation per iteration.) A ctx
// already done when Run starts ends it after its first iteration.
//
// Run holds the loop from its start to its return, as one long Dispatch: a
// Dispatch or Run called meanwhile (from a callback or another goroutine)
// fails with [ErrDispatching], and a [Loop.Close] from another goroutine
// takes effect at the end of the iteration in progress, which ends Run with
// [ErrClosed]. A panic in a callback propagates out of Run as out of
// Dispatch, and leaves the loop released and consistent.
func (l *Loop[S]) Run(ctx context.Context, s *S) error {
	// Run holds the loop for all its iterations: one claim and one
	// deferred finish instead of one per iteration.
	if !l.running.CompareAndSwap(false, true) {
		return ErrDispatching
	}
	if l.closed {
		l.running.Store(false)
		return ErrClosed
	}
	if l.opts.lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	// Deferred after the unlock, so that it runs first: a Close it carries
	// out runs the sources' Unregister and Removed, and the values' Close,
	// on the locked thread like every callback.
	defer l.finish()
	done := ctx.Done()
	var cancelled *atomic.Bool // set once ctx is done, before the loop is woken for it
	if done != nil {
		cancelled = new(atomic.Bool)
		stop := context.AfterFunc(ctx, func() {
			cancelled.Store(true)
			l.w.wake()
		})
		defer stop()
		select {
		case <-done:
			cancelled.Store(true) // end after the first iteration
		default:
		}
	}
	for i := uint(1); ; i++ {
		if err := l.iterate(-1, s, false); err != nil {
			return err
		}
		if l.exposed {
			l.exposeEnd()
		}
		if l.w.stop.Load() && l.w.stop.Swap(false) {
			return nil
		}
		if done != nil && (cancelled.Load() || i%runCtxCheck == 0) {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		if l.closeReq.Load() {
			return ErrClosed // closed by the deferred finish
		}
	}
}

// runCtxCheck bounds, in iterations, how late [Loop.Run] notices a done
// context in a loop that never sleeps.
const runCtxCheck = 64 // a power of two: the check is a mask

// Dispatch runs one iteration of the loop (see the package documentation for
// its phases). It waits at most timeout for an event: a negative timeout
// waits until something happens, zero does not wait. It returns the first
// failure recorded during the iteration, [ErrClosed] on a closed loop, and
// [ErrDispatching] when called while the loop is already dispatching. A panic
// in a callback propagates out of Dispatch; the loop stays consistent (the
// events not yet dispatched are kept for the next iteration, where a
// level-triggered fd may be reported once more than usual, and an event kept
// for an fd whose interest changed meanwhile may be stale; the timer whose
// callback panicked is removed) and can be dispatched again.
func (l *Loop[S]) Dispatch(timeout time.Duration, s *S) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrDispatching
	}
	if l.closed {
		l.running.Store(false)
		return ErrClosed
	}
	err := l.iterate(timeout, s, true)
	l.end()
	return err
}

// iterate runs one iteration for a caller that holds the loop (running) and
// returns its first failure. With guard, a callback that panics ends the
// iteration and releases the loop (finish) on the panic's way out; without
// it, the caller has a deferred finish of its own (Run).
func (l *Loop[S]) iterate(timeout time.Duration, s *S, guard bool) error {
	l.iter++
	if l.st != nil {
		l.st.iterations.Add(1)
	}
	if l.w.armed.Load() {
		l.w.armed.Store(false)
	}

	// 1. Before sleep.
	if len(l.hooks) > 0 {
		l.beforeSleep(guard)
	}

	// 2-4. Compute the timeout, poll, read the clock. No callback runs
	// here, so nothing can panic.
	if err := l.poll(timeout); err != nil {
		return err
	}

	// Phases 5 and 6, unless they would find nothing to do (a zero-timeout
	// look at a quiet loop, a sleep that timed out).
	if l.kernel != nil || len(l.synthNext) > 0 || len(l.idles) > 0 ||
		l.timers.len() > 0 || l.w.head.Load() != nil {
		if guard {
			l.dispatchGuarded(s)
		} else {
			l.dispatchPhase(s)
		}
	}
	if l.st != nil {
		l.statsIterEnd()
	}
	err := l.err
	l.err = nil
	return err
}

// beforeSleep runs phase 1, the BeforeSleep hooks. With guard, a hook that
// panics ends the iteration (finish) on its way out.
func (l *Loop[S]) beforeSleep(guard bool) {
	ok := false
	defer func() {
		if !ok && guard {
			l.finish()
		}
	}()
	for i := 0; i < len(l.hooks); i++ {
		idx := l.hooks[i]
		sl := &l.slots[idx]
		if err := sl.src.(BeforeSleeper).BeforeSleep(sl.reg); err != nil {
			l.Fail(fmt.Errorf("calloop: %v: before sleep: %w", l.tok(idx, sl.gen), err))
		}
	}
	ok = true
}

// dispatchGuarded is dispatchPhase for Dispatch: a callback that panics
// leaves the iteration's progress behind, and finish, deferred, puts it back
// on the panic's way out and releases the loop; a normal return skips that.
func (l *Loop[S]) dispatchGuarded(s *S) {
	done := false
	defer func() {
		if !done {
			l.finish()
		}
	}()
	l.dispatchPhase(s)
	done = true
}

// dispatchPhase runs phases 5 and 6 of an iteration that has something to
// dispatch.
func (l *Loop[S]) dispatchPhase(s *S) {
	// 5. Dispatch: synthetic events, remote signals, kernel events, timers.
	if len(l.synthNext) > 0 {
		l.synth, l.synthNext = l.synthNext, l.synth[:0] // l.synth is empty here
	}
	// A load first: the swap is a locked instruction, and a busy loop has
	// usually nothing there. A bell pushed after the load is found before
	// the next sleep (poll checks the stack after arming), as one pushed
	// after the swap would be.
	if l.w.head.Load() != nil {
		for n := l.w.take(); n != nil; {
			next := n.next
			n.next = nil
			n.queued.Store(false)
			l.remoteReady(n)
			n = next
		}
	}
	if l.nprio > 0 || l.timers.nprio > 0 {
		l.dispatchClasses(s) // priority.go
	} else {
		if len(l.synth) > 0 {
			l.dispatchBatch(s, l.synth)
			l.synth = l.synth[:0]
		}
		if kernel := l.kernel; kernel != nil {
			l.kernel = nil
			l.batch = kernel
			for l.batchPos = 0; l.batchPos < len(kernel); l.batchPos++ {
				l.dispatchEvent(s, kernel[l.batchPos])
			}
		}
		l.batch = nil
		if l.timers.len() > 0 {
			l.fireTimers(s, clsDefault)
		}
	}

	// 6. Idle callbacks queued before this phase.
	if len(l.idles) > 0 {
		l.runIdles(s)
	}
}

// poll computes the poll timeout (phase 2) and waits (phase 3), leaving the
// kernel's events in l.kernel and this iteration's clock in l.now (phase 4).
func (l *Loop[S]) poll(timeout time.Duration) error {
	if len(l.synthNext) > 0 || len(l.idles) > 0 || l.err != nil {
		timeout = 0
	}
	if l.wakeSet {
		if d := max(time.Until(l.wakeAt), 0); timeout < 0 || d < timeout {
			timeout = d
		}
		l.wakeSet = false
	}
	var start int64
	ntimers := l.timers.len()
	if timeout != 0 && ntimers > 0 {
		start = l.clock()
		d := time.Duration(l.timers.next() - start)
		if d < 0 {
			d = 0
		}
		if l.vc != nil && d > 0 {
			// Virtual time passes only when the clock is moved, which
			// wakes the loop: the timer does not bound the wait.
		} else if timeout < 0 || d < timeout {
			timeout = d
		}
	}
	if timeout > 0 && start == 0 {
		start = l.clock()
	}
	pstart := int64(-1) // a poll that does not block is busy time
	var n int
	for {
		// Look first, without announcing a sleep: a busy loop finds its
		// events here and leaves the armed flag alone (two locked
		// instructions less per iteration).
		var err error
		n, err = l.p.Wait(l.events, 0)
		if err == nil && n == 0 && timeout != 0 {
			// Nothing ready: announce the sleep, then look at the
			// wakeup stack once more (store then check: see wakeup).
			l.w.armed.Store(true)
			if l.w.pending() {
				break
			}
			if l.st != nil && pstart < 0 {
				pstart = l.statsPollStart()
			}
			n, err = l.p.Block(l.events, timeout)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, poller.ErrInterrupted) {
			l.w.armed.Store(false)
			return err
		}
		if timeout > 0 && l.vc == nil {
			// Retry with what is left, keeping the iteration's deadline.
			left := time.Duration(start + int64(timeout) - l.clock())
			if left <= 0 {
				break
			}
			start, timeout = l.clock(), left
		}
	}
	// Loads first: a store is a locked instruction, and in a busy loop
	// neither flag is usually set.
	if l.w.armed.Load() {
		l.w.armed.Store(false)
	}
	if l.w.woken.Load() {
		l.w.woken.Store(false)
	}
	if n > 0 { // else l.kernel stays nil (every iteration leaves it so): Dispatch tests it
		l.kernel = l.events[:n]
	}
	if n == len(l.events) && n < maxEventBatch {
		// The batch filled: poll for more next time. The old buffer stays
		// valid for this iteration's l.kernel.
		l.events = make([]poller.Event, min(2*n, maxEventBatch))
	}
	l.nowSet = ntimers > 0
	if l.st != nil {
		l.now = l.statsPollEnd(pstart)
	} else if l.nowSet {
		l.now = l.clock()
	}
	l.timerSeq = l.timers.seq
	return nil
}

// wakeBy bounds the coming sleep of the loop by real time t, whatever its
// clock: a before-sleep hook (a nested loop on the monotonic clock in a
// loop on a virtual one) calls it in every iteration that needs it.
func (l *Loop[S]) wakeBy(t time.Time) {
	if !l.wakeSet || t.Before(l.wakeAt) {
		l.wakeAt, l.wakeSet = t, true
	}
}

// remoteReady turns a bell rung from another goroutine into a synthetic
// event (see bell).
func (l *Loop[S]) remoteReady(n *bell) {
	if int(n.idx) >= len(l.slots) || l.slots[n.idx].gen != n.gen || n.dead.Load() {
		return
	}
	n.pending = true
	if !l.slots[n.idx].enabled {
		return // raised again when the source is activated (raiseOwed)
	}
	l.synth = append(l.synth, poller.MakeEvent(key(n.idx, n.gen, 0), poller.Readable))
}

// bind ties bell b to source t, which it wakes.
func (l *Loop[S]) bind(t Token, b *bell) {
	b.w, b.idx, b.gen = l.w, t.id, t.gen
	l.slots[t.id].bell = b
}

// raiseOwed raises, for a source just activated, the event its bell owes:
// what was rung while the source was inactive, or left undelivered.
func (l *Loop[S]) raiseOwed(idx uint32) {
	sl := &l.slots[idx]
	if b := sl.bell; b != nil && b.owed() {
		l.ready(idx, sl.gen, 0, Readable)
	}
}

func (l *Loop[S]) dispatchBatch(s *S, batch []poller.Event) {
	l.batch, l.batchPos = batch, 0
	for ; l.batchPos < len(batch); l.batchPos++ {
		l.dispatchEvent(s, batch[l.batchPos])
	}
}

// dispatchEvent routes one event to its source, dropping it if the source was
// removed or disabled since the event was raised.
func (l *Loop[S]) dispatchEvent(s *S, ev poller.Event) {
	idx, gen16, sub := splitKey(evKey(&ev))
	if int(idx) >= len(l.slots) {
		return
	}
	sl := &l.slots[idx]
	if uint16(sl.gen) != gen16 || !sl.enabled {
		return
	}
	tok := l.tok(idx, sl.gen)
	kind := sl.kind
	var act Action
	switch kind {
	case kindFD:
		if sl.fd < 0 {
			return // its number was taken over by a newer source
		}
		r := evReady(&ev)
		if r&(Error|Hangup) != 0 {
			r |= sl.interest & (Readable | Writable)
		}
		act = sl.fdFn(s, r)
	case kindSource:
		var err error
		act, err = sl.src.Process(s, sub, evReady(&ev))
		if err != nil {
			l.Fail(fmt.Errorf("calloop: %v: %w", tok, err))
		}
	default:
		return
	}
	if l.st != nil {
		l.statsCallback(statKind(kind-kindFD), tok)
	}
	if act != Continue {
		l.apply(tok, act)
	}
}

// apply carries out a callback's Action, unless the callback already removed
// its own source.
func (l *Loop[S]) apply(t Token, act Action) {
	switch act {
	case Disable:
		if err := l.Disable(t); err != nil && !errors.Is(err, ErrInvalidToken) {
			l.Fail(err)
		}
	case Remove:
		l.Remove(t)
	}
}

func (l *Loop[S]) runIdles(s *S) {
	l.idleRun, l.idles = l.idles, l.idleRun[:0]
	for l.idlePos = 0; l.idlePos < len(l.idleRun); l.idlePos++ {
		t := l.idleRun[l.idlePos]
		sl := l.lookup(t)
		if sl == nil || sl.kind != kindIdle || !sl.enabled {
			continue // removed, or its parent was disabled (Enable queues it again)
		}
		fn := sl.idleFn
		l.unlink(t)
		l.release(t.id)
		fn(s)
		if l.st != nil {
			l.statsCallback(statIdle, t)
		}
	}
	clear(l.idleRun)
	l.idleRun = l.idleRun[:0]
	l.idlePos = 0
}

// finish ends a Dispatch, normally or while a panic unwinds through it.
func (l *Loop[S]) finish() {
	if l.batch != nil || l.kernel != nil || len(l.synth) > 0 || len(l.idleRun) > 0 ||
		!l.firing.IsZero() || len(l.due) > 0 || len(l.later) > 0 {
		l.unwound()
	}
	l.end()
}

// unwound puts back what a panic left in the middle of the iteration: the
// events not reached, the idle callbacks not run, the timers not fired.
func (l *Loop[S]) unwound() {
	if l.batch != nil {
		// A callback panicked: keep the events it did not reach.
		if l.batchPos+1 < len(l.batch) {
			l.synthNext = append(l.synthNext, l.batch[l.batchPos+1:]...)
		}
		l.batch = nil
	}
	if l.kernel != nil {
		l.synthNext = append(l.synthNext, l.kernel...)
		l.kernel = nil
	}
	if len(l.synth) > 0 {
		l.synth = l.synth[:0]
	}
	if l.idlePos+1 < len(l.idleRun) {
		l.idles = append(l.idleRun[l.idlePos+1:], l.idles...)
		l.idleRun = nil
	} else if len(l.idleRun) > 0 {
		clear(l.idleRun)
		l.idleRun = l.idleRun[:0]
	}
	l.idlePos = 0
	if !l.firing.IsZero() {
		l.removeTimer(l.firing)
		l.firing = Token{}
	}
	if len(l.due) > 0 {
		l.requeueDue()
	}
	if len(l.later) > 0 {
		l.requeueLater()
	}
}

// end is the last step of every Dispatch that got past its checks.
func (l *Loop[S]) end() {
	if l.exposed {
		l.exposeEnd()
	}
	l.running.Store(false)
	if l.closeReq.Load() {
		l.closeNow()
	}
}

// exposeEnd ends an iteration of a loop whose descriptor is watched (Fd):
// wakeups from now on make it readable, and so does work already pending.
func (l *Loop[S]) exposeEnd() {
	l.w.armed.Store(true)
	if l.w.pending() || len(l.synthNext) > 0 || len(l.idles) > 0 {
		l.w.kick() // keep our fd readable for whoever watches it
	}
}

// Close removes every source, releases every descriptor the loop owns and
// makes later calls fail with [ErrClosed]. Senders and pings of the loop fail
// with [ErrClosed] from then on, and blocked senders are released. Close is
// idempotent. Called while the loop is dispatching (from a callback, or from
// another goroutine), it takes effect when that Dispatch returns.
func (l *Loop[S]) Close() error {
	if l.running.Load() {
		l.closeReq.Store(true)
		l.w.wake()
		if l.running.Load() {
			return nil
		}
		// The dispatch ended meanwhile; close here unless it already did.
	}
	return l.closeNow()
}

func (l *Loop[S]) closeNow() error {
	if !l.running.CompareAndSwap(false, true) {
		return nil // a Dispatch started; it will close on its way out
	}
	defer l.running.Store(false)
	if l.closed {
		return nil
	}
	for i := 0; i < len(l.slots); i++ { // removals may add slots
		if l.slots[i].kind != kindFree {
			l.Remove(l.tok(uint32(i), l.slots[i].gen))
		}
	}
	l.timers.reset()
	l.tlinks, l.tnames = nil, nil
	if l.vc != nil {
		l.vc.detach(l.w)
	}
	l.closed = true
	verr := l.closeValues()
	l.w.mu.Lock()
	l.w.closed = true
	err := l.p.Close()
	l.w.mu.Unlock()
	return errors.Join(verr, err)
}
