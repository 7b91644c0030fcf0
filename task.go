package calloop

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Tasks are coroutines on the loop (iter.Pull): a body is straight-line code
// that awaits timers, descriptors, futures and other tasks, and between two
// awaits has the loop's state to itself, like any callback. The body runs on
// a goroutine of its own, but only while the loop goroutine is switched into
// it and blocked, so the two never run at once; iter.Pull tells the race
// detector as much. A switch costs a fraction of a goroutine hand-off
// (the benchmarks in task_bench_test.go measure both).

var (
	errTaskLocked = errors.New("calloop: Spawn on a loop created WithLockOSThread: a coroutine cannot switch threads")
	errNotInBody  = errors.New("calloop: task method called outside the task's own body")
)

// Task is a coroutine running on a loop: see [Spawn]. Its methods that wait
// ([Task.Sleep], [Task.WaitFD], [Task.Join], and the functions [Await] and
// [Recv]) may only be called from the task's own body. [Task.Cancel] is safe
// from any goroutine; the other methods belong to the loop's goroutine (the
// task's body, or any callback of its loop).
type Task[S any] struct {
	h    *hub[S]
	body func(*Task[S]) error
	fut  Future[struct{}]

	co    *taskCoro[S] // the coroutine running the body, once started
	yield func(struct{}) bool

	seq      uint64 // the wait in progress; bumped when it ends
	waiting  bool
	started  bool
	bodyDone bool // the body returned (or panicked)
	finished bool
	canceled bool
	observed bool  // its result has a consumer: Join or Future was called
	joiners  int   // Joins parked on this task
	wakeErr  error // why the wait ended, if not by the awaited event
	waitTok  Token // the timer or descriptor source of the wait
	timerTok Token // the task's timer, while pending or firing
	firing   bool  // in the task's timer callback: Sleep re-arms that timer
	rearm    bool  // Sleep asked the firing timer to fire again at rearmAt
	rearmAt  time.Time
	fdEv     Events
	onTimer  func(*S, time.Time) TimerAction
	onFD     func(*S, Events) Action
	idx      int // in hub.tasks

	ctx       context.Context
	ctxCancel context.CancelFunc

	err error       // the body's result
	pe  *PanicError // the body's panic
}

// Spawn starts a task on l: body runs on the loop's goroutine, as part of
// the next iteration, and again after each of its awaits completes, until it
// returns. Between awaits it has the same exclusive access to the loop's
// state ([Task.State]) as any callback, and it may call any method of l.
//
// The body's result goes to whoever joins the task ([Task.Join]) or awaits
// its [Task.Future]. If no one does, a non-nil error fails the loop (see
// [Loop.Fail]), and a panic is re-raised out of [Loop.Dispatch] as a
// *[PanicError]; a panic is re-raised inside a task joining the panicking
// one instead, and so travels up the chain of joins.
//
// Spawn fails on a closed loop, and on a loop created [WithLockOSThread]:
// the body runs on a coroutine of its own, which cannot switch between
// locked threads. For the same reason, do not drive a loop that has tasks
// from a goroutine that locks its thread, and never lock or unlock the
// thread inside a body. A body must not call runtime.Goexit (nor
// testing.T.FailNow): it would end the loop's goroutine.
//
// Closing the loop stops every task: its pending await returns an error
// wrapping both [ErrClosed] and context.Canceled, as do the awaits after it,
// so the body returns and its goroutine ends. Call Spawn on the loop's
// goroutine.
func Spawn[S any](l *Loop[S], body func(t *Task[S]) error) (*Task[S], error) {
	if body == nil {
		return nil, errors.New("calloop: Spawn with a nil body")
	}
	if l.opts.lockThread {
		return nil, errTaskLocked
	}
	h, err := hubOf(l)
	if err != nil {
		return nil, err
	}
	t := &Task[S]{h: h, body: body, idx: len(h.tasks)}
	t.fut.h = &h.asyncCore
	t.fut.node.s = &t.fut
	t.fut.onCancel = t
	h.tasks = append(h.tasks, t)
	t.waiting = true
	h.ready(wakeEntry{t, t.seq})
	return t, nil
}

// State returns the loop's state. It is valid in the body between two
// awaits: the same pointer the loop's callbacks get.
func (t *Task[S]) State() *S { return t.h.s }

// Context returns a context that is cancelled when the task is cancelled,
// finishes, or its loop closes: pass it to the work of [Go] and other
// blocking calls made on the task's behalf.
func (t *Task[S]) Context() context.Context {
	if t.ctx == nil {
		t.ctx, t.ctxCancel = context.WithCancel(t.h.ctx)
		if t.canceled || t.finished {
			t.ctxCancel()
		}
	}
	return t.ctx
}

// Cancel cancels the task: its pending await (or its next one) returns an
// error wrapping context.Canceled, and so do the awaits after it; its
// [Task.Context] is cancelled. The task's future, and every Join of it,
// resolve with the cancellation error at once, without waiting for the body
// to return. A task not started yet never runs. Cancel reports whether it
// won, as [Future.Cancel] does. Safe from any goroutine; the cancellation
// reaches the body in the loop's next iteration.
func (t *Task[S]) Cancel() bool { return t.fut.Cancel() }

// Future returns a future that resolves when the task finishes, with the
// body's error (a *[PanicError] if it panicked), or with a cancellation error
// when the task is cancelled. Taking it makes the caller responsible for the
// task's error: it no longer fails the loop.
func (t *Task[S]) Future() *Future[struct{}] {
	t.observed = true
	return &t.fut
}

// Join waits for task u to finish and returns its error. If u panicked, Join
// panics with the same *[PanicError]. A cancelled u makes Join return a
// cancellation error; so does cancelling the joining task.
func (t *Task[S]) Join(u *Task[S]) error {
	u.observed = true
	if err := t.begin(); err != nil {
		return err
	}
	if u == t {
		return errors.New("calloop: a task cannot join itself")
	}
	if !u.fut.resolved {
		u.joiners++
		u.fut.waiters = append(u.fut.waiters, wakeEntry{t, t.seq})
		err := t.park()
		u.joiners--
		if err != nil {
			return err
		}
	}
	if pe, ok := u.fut.err.(*PanicError); ok {
		panic(pe)
	}
	return u.fut.err
}

// Sleep waits d on a loop timer. It returns nil when the timer fires, or a
// cancellation error. Sleep(0) yields to the rest of the loop: the body
// continues in the next iteration.
func (t *Task[S]) Sleep(d time.Duration) error {
	if err := t.begin(); err != nil {
		return err
	}
	if t.firing {
		// Called while this task's own timer callback drains the run queue
		// (a loop of Sleeps): the callback re-arms the timer, which saves
		// removing one timer and adding another.
		t.rearm, t.rearmAt = true, t.h.l.clockTime().Add(d)
		t.waitTok = t.timerTok
		return t.park()
	}
	if t.onTimer == nil {
		t.onTimer = t.timerFired
	}
	tok, err := t.h.l.AddTimer(d, t.onTimer)
	if err != nil {
		return err
	}
	t.timerTok, t.waitTok = tok, tok
	return t.park()
}

// WaitFD waits until fd is ready for ev (Readable, Writable or both) and
// returns the readiness reported, which may include [Error] and [Hangup].
// The descriptor is registered with the loop for the duration of the wait
// only (OneShot), so it must not be registered with the loop otherwise.
func (t *Task[S]) WaitFD(fd int, ev Events) (Events, error) {
	if err := t.begin(); err != nil {
		return 0, err
	}
	if t.onFD == nil {
		t.onFD = t.fdReady
	}
	tok, err := t.h.l.AddFD(fd, ev, OneShot, t.onFD)
	if err != nil {
		return 0, err
	}
	t.waitTok = tok
	if err := t.park(); err != nil {
		return 0, err
	}
	return t.fdEv, nil
}

// Await waits until f is resolved and returns its value and error; a future
// already resolved returns at once, without a switch. Cancelling the task
// makes a pending Await return a cancellation error (f itself is left
// alone: cancel it too if no one else needs it). Call it from t's body; f
// must belong to t's loop.
func Await[S, T any](t *Task[S], f *Future[T]) (T, error) {
	var zero T
	if f.h != &t.h.asyncCore && f.h != nil {
		return zero, errOtherLoop
	}
	if f.resolved {
		return f.v, f.err
	}
	if err := t.begin(); err != nil {
		return zero, err
	}
	f.waiters = append(f.waiters, wakeEntry{t, t.seq})
	if err := t.park(); err != nil {
		return zero, err
	}
	return f.v, f.err
}

// AwaitGo runs work in a goroutine, with the task's context, and waits for
// its result: [Go] and [Await] in one call, for blocking work in a body.
// Cancelling the task cancels the work's context.
func AwaitGo[S, T any](t *Task[S], work func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if err := t.begin(); err != nil {
		return zero, err
	}
	ctx := t.Context()
	f, err := Go(t.h.l, func(context.Context) (T, error) { return work(ctx) }, nil)
	if err != nil {
		return zero, err
	}
	v, err := Await(t, f)
	if err != nil && !f.resolved {
		f.cancelLocal()
	}
	return v, err
}

// begin checks that a wait may start.
func (t *Task[S]) begin() error {
	switch {
	case t.h.cur != t:
		return errNotInBody
	case t.h.dead.Load():
		return errLoopClosed
	case t.canceled:
		return errCanceled
	}
	return nil
}

// park suspends the body until a waker resumes it.
func (t *Task[S]) park() error {
	t.waiting = true
	if !t.yield(struct{}{}) {
		t.waiting = false
		return errLoopClosed // stopped by Close
	}
	err := t.wakeErr
	t.wakeErr = nil
	return err
}

// wake resumes the body if seq names the wait in progress. Loop goroutine,
// from the hub's drain.
func (t *Task[S]) wake(seq uint64) {
	if !t.waiting || seq != t.seq || t.finished {
		return
	}
	t.seq++
	t.waiting = false
	t.waitTok = Token{}
	h := t.h
	if !t.started {
		t.started = true
		if t.canceled {
			t.finish()
			return
		}
		t.co = h.coroutine()
		t.co.task = t
	}
	prev := h.cur
	h.cur = t
	_, more := t.co.next()
	h.cur = prev
	if !more {
		t.co = nil // the coroutine ended (runtime.Goexit): not reusable
		t.bodyDone = true
	}
	if t.bodyDone {
		t.finish()
	}
}

// taskCoro is a coroutine that runs task bodies, one after the other:
// finished tasks hand theirs back to the hub, because creating a coroutine
// (a goroutine and its stack) costs more than the body of a short task.
type taskCoro[S any] struct {
	next func() (struct{}, bool)
	stop func()
	task *Task[S] // the task to run, set before the first next
}

// maxIdleCoros bounds the coroutines a hub keeps for reuse.
const maxIdleCoros = 1024

// coroutine returns an idle coroutine, or a new one.
func (h *hub[S]) coroutine() *taskCoro[S] {
	if n := len(h.idle); n > 0 {
		co := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		return co
	}
	co := &taskCoro[S]{}
	co.next, co.stop = iter.Pull(co.loop)
	return co
}

// loop is the coroutine's body: run a task's body, then wait idle for the
// next task, until stopped.
func (co *taskCoro[S]) loop(yield func(struct{}) bool) {
	for {
		t := co.task
		t.yield = yield
		t.run()
		t.bodyDone = true
		if !yield(struct{}{}) {
			return
		}
	}
}

// run runs the body. It recovers the body's panic itself, so that the stack
// is the body's, and the result is handled like an error.
func (t *Task[S]) run() {
	normal := false
	defer func() {
		if !normal {
			t.pe = newPanicError(recover())
		}
	}()
	t.err = t.body(t)
	normal = true
}

// finish delivers the result of a body that returned.
func (t *Task[S]) finish() {
	t.unlist()
	if co := t.co; co != nil {
		co.task = nil
		if h := t.h; len(h.idle) < maxIdleCoros && !h.dead.Load() {
			h.idle = append(h.idle, co)
		} else {
			co.stop()
		}
	}
	t.co, t.yield = nil, nil
	if t.ctxCancel != nil {
		t.ctxCancel()
	}
	err := t.err
	if t.pe != nil {
		err = t.pe
	}
	if t.fut.complete(struct{}{}, err) {
		if t.pe != nil {
			if t.joiners == 0 {
				panic(t.pe)
			}
			return
		}
		if err != nil && !t.observed {
			t.h.l.Fail(fmt.Errorf("calloop: task failed: %w", err))
		}
		return
	}
	if t.pe != nil {
		panic(t.pe) // the task was cancelled, so no one is told otherwise
	}
}

// cancelUpstream is the task future's onCancel: the cancellation reaches
// the body. Loop goroutine.
func (t *Task[S]) cancelUpstream() {
	if t.finished || t.canceled {
		return
	}
	t.canceled = true
	if t.ctxCancel != nil {
		t.ctxCancel()
	}
	if t.waiting {
		if !t.waitTok.IsZero() {
			if t.waitTok == t.timerTok {
				t.timerTok, t.rearm = Token{}, false
			}
			t.h.l.Remove(t.waitTok)
			t.waitTok = Token{}
		}
		t.seq++
		if t.started {
			t.wakeErr = errCanceled
		}
		t.h.ready(wakeEntry{t, t.seq})
	}
}

func (t *Task[S]) timerFired(s *S, _ time.Time) TimerAction {
	h := t.h
	d := h.enter()
	defer t.fired(d)
	t.waitTok = Token{}
	t.firing = true
	h.ready(wakeEntry{t, t.seq})
	h.leave(s)
	t.firing = false
	if t.rearm {
		t.rearm = false
		return At(t.rearmAt)
	}
	t.timerTok = Token{}
	return Drop()
}

// fired ends timerFired. While a panic unwinds, the loop removes the timer
// whose callback panicked, so a re-arm asked for meanwhile becomes a new
// timer.
func (t *Task[S]) fired(d int) {
	if t.firing {
		t.firing = false
		t.timerTok = Token{}
		if t.rearm {
			t.rearm = false
			if tok, err := t.h.l.AddTimerAt(t.rearmAt, t.onTimer); err == nil {
				t.timerTok, t.waitTok = tok, tok
			}
		}
	}
	t.h.exit(d)
}

func (t *Task[S]) fdReady(s *S, ev Events) Action {
	h := t.h
	d := h.enter()
	defer h.exit(d)
	// Remove the registration before the body runs: it may wait on the
	// same descriptor again.
	h.l.Remove(t.waitTok)
	t.waitTok = Token{}
	t.fdEv = ev
	h.ready(wakeEntry{t, t.seq})
	h.leave(s)
	return Continue
}

// unlist removes the task from the hub's live list.
func (t *Task[S]) unlist() {
	if t.finished {
		return
	}
	t.finished = true
	ts := t.h.tasks
	last := ts[len(ts)-1]
	ts[t.idx] = last
	last.idx = t.idx
	ts[len(ts)-1] = nil
	t.h.tasks = ts[:len(ts)-1]
}

// kill stops the task's coroutine when the loop closes: the pending await
// returns errLoopClosed and the body runs to its end. Its result and any
// panic are discarded: there is no one left to tell.
func (t *Task[S]) kill() {
	t.unlist()
	if t.ctxCancel != nil {
		t.ctxCancel()
	}
	if t.co != nil {
		h := t.h
		prev := h.cur
		h.cur = t
		t.co.stop() // the body's panics are recovered in run
		h.cur = prev
	}
	t.co, t.yield = nil, nil
}
