// Package calloop is a callback event loop with shared state, after Rust's
// calloop: sources (file descriptors, timers, idle callbacks, cross-goroutine
// pings and channels, signals, custom sources, other loops) are registered
// with callbacks, and [Loop.Dispatch] waits for events and runs the callbacks
// one at a time on one goroutine, each with direct access to the same state
// value *S. No locks, no data races, cheap waiting.
//
//	type App struct{ ticks int }
//
//	l, err := calloop.New[App]()
//	...
//	defer l.Close()
//	l.AddTimer(time.Second, func(a *App, deadline time.Time) calloop.TimerAction {
//		a.ticks++                         // direct access, no locks
//		return calloop.Again(time.Second) // fire again in a second
//	})
//	calloop.Notify(l, func(a *App, _ os.Signal) { l.Stop() }, os.Interrupt)
//	err = l.Run(ctx, &app) // until Stop, a failure, or ctx is done
//
// # The loop iteration
//
// [Loop.Dispatch] runs exactly one iteration; [Loop.Run] repeats it. An
// iteration has these phases, in this order:
//
//  1. Before sleep: every enabled source implementing [BeforeSleeper] gets its
//     hook; a hook may raise synthetic events with [Registrar.Ready].
//  2. Timeout: the smallest of the caller's timeout and the time to the
//     earliest timer; zero if synthetic events or idle callbacks are queued, a
//     cross-goroutine signal (ping, channel message, Wakeup, Stop) has
//     arrived, or an earlier failure is pending.
//  3. Poll: one epoll_wait (kqueue: kevent) for a batch of events, which grows
//     when it fills. A wait interrupted by a signal (EINTR) is resumed with
//     what is left of the timeout.
//  4. Clock: the clock is read once; that reading ([Loop.Now]) is the "now"
//     of every timer decision in the iteration.
//  5. Dispatch: first the synthetic events (raised by sources during the
//     previous iteration, or continuing work a budget cut short), then the
//     cross-goroutine signals in arrival order, then the kernel's events in
//     the kernel's order, then the due timers in (deadline, insertion) order.
//     An event whose source was removed or disabled since it was raised is
//     dropped. Timers set or re-armed during the iteration, even if due, and
//     sources added during it, wait for the next iteration. Sources and
//     timers given a priority ([Loop.SetPriority]) reorder this phase by
//     class: the events of PriorityHigh sources, then the due PriorityHigh
//     timers, then the same for PriorityDefault, then for PriorityLow, each
//     in the order above.
//  6. Idle: the idle callbacks queued before this phase run, first queued
//     first; those queued during it run in the next iteration.
//  7. Stop: [Loop.Run] returns if [Loop.Stop] was called (from any goroutine,
//     at any time, even before Run started), if a callback failed, or if its
//     context is done (noticed when the cancellation reaches the loop, and
//     within 64 iterations in a loop that never sleeps; see [Loop.Run]).
//
// # Fairness
//
// Every source gets a bounded amount of work per iteration: one callback per
// kernel event, at most 1024 messages per channel, at most 1024 task steps
// and future continuations (together, per loop), the idle callbacks queued
// before the idle phase. Work left over is continued in the next iteration,
// which does not sleep, after the other sources have had their turn: a busy
// channel, or a hundred thousand tasks spawned at once, cannot starve timers
// or descriptors. Priorities only order an iteration's work, never defer it,
// so with them too an event received or a timer due at an iteration's poll
// is dispatched in that iteration, whatever its class: a saturated higher
// class delays a lower one by zero iterations (see [Loop.SetPriority]).
//
// # Insight and time
//
// [WithStats] makes the loop count its iterations and callbacks, its time
// waiting and busy, the longest callback and how late timers fire;
// [Loop.Stats] reads them from any goroutine, and resets nothing, so that
// any number of readers can; a [StatsReader] adds the maxima of its own
// window, since its previous read. [WithSourceStats] accounts
// time per source, under names given with [Loop.SetName]
// ([Loop.SourceStats]); [WithSlowCallback] reports every callback slower
// than a threshold, on the loop's goroutine. All of it is off by default,
// and then costs a few untaken branches per event and per iteration.
//
// [WithClock] drives a loop with a [VirtualClock]: its timers fire when the
// program moves the clock, in order, with no real sleeping, for
// deterministic tests and simulations. Nested loops ([AddLoop]) keep their
// own clocks: a virtual-clock loop in a real-clock one fires its timers
// when its clock moves, never making the outer loop wait in real time.
//
// # Sources
//
//   - [Loop.AddFD]: readiness of a file descriptor, Level (default), Edge or
//     OneShot; [Loop.ModifyFD] changes the interest or re-arms. In the
//     callback, [ReadFD] and [WriteFD] read and write a ready non-blocking
//     descriptor with a raw system call on Linux, the cheapest way to do it
//     from Go (never on a blocking descriptor: see their contract).
//   - [Loop.AddTimer], [Loop.AddTimerAt]: one-shot timers whose callback drops
//     or re-arms them ([Drop], [Again], [At]); [Loop.ResetTimer] moves one.
//     A heap with lazy deletion makes add and re-arm O(log n) and cancel
//     O(1), amortized, and a burst of timers set between two iterations is
//     sorted at once, in O(n); a million timers are normal.
//   - [Loop.AddIdle]: a callback at the end of the next iteration.
//   - [NewPing]: a coalescing wakeup from any goroutine.
//   - [NewChannel], [NewBoundedChannel]: messages from any goroutine, in
//     order, in batches, then a closed event.
//   - [Notify]: operating-system signals, through os/signal.
//   - [Loop.AddSource]: any value implementing [Source].
//   - [AddLoop]: another loop, embedded as one source.
//
// Every registration returns a [Token], or a handle with a Token method,
// which [Loop.Disable], [Loop.Enable] and [Loop.Remove] take. Sources may be
// added, disabled, enabled, changed and removed from any callback, including
// their own.
//
// The shape of the API follows one rule. Methods of Loop are the loop's own
// life (Run, Dispatch, Stop, Close), its tokens (Remove, Disable, Enable,
// Parent) and the sources the loop implements itself (AddFD, AddTimer,
// AddIdle, AddSource). Everything built on those, which a package outside
// this one could have written with [Source], [Registrar.Adopt] and [Value],
// is a package-level function taking the loop first: [NewPing],
// [NewChannel], [NewInbox], [Notify], [AddLoop], [Go], [Spawn], [LimitGo].
// Constructors return a Token, or a handle (Ping, Sender) when the source has
// an end that other goroutines use.
//
// # Tokens and misuse
//
// A token names one source of one loop. It carries a generation: once the
// source is removed, the token fails with [ErrInvalidToken], even after the
// slot was reused by a new source. It carries the loop's identity: a token of
// another loop fails with ErrInvalidToken, never reaching a source that
// happens to have the same slot and generation here. The zero Token is never
// valid.
//
// Misuse gets an error, not a crash and not a corrupted loop: a nil callback;
// Events bits or a Mode the package does not define; a descriptor registered
// twice or already closed; a token that is stale, foreign or zero; removing a
// source twice; adopting a child into a parent that was removed, a child that
// already has a parent, or a source that is the parent itself or one of its
// ancestors (a cycle); nesting a loop that is already nested, or in itself,
// or in a loop nested in it; a Dispatch from inside a callback or a second
// goroutine ([ErrDispatching]); any call on a closed loop ([ErrClosed]).
// A panic in a callback, a child's included, propagates out of Dispatch; the
// loop stays consistent (see Errors and panics).
//
// Callbacks steer their source with an [Action] (Continue, Disable, Remove).
// Failures are errors: [Loop.Fail] ends the iteration with an error, which
// Dispatch and Run return.
//
// # Futures and tasks
//
// [Go] runs blocking work in a goroutine and delivers its result, a
// [Future], to a callback on the loop with *S; [Future.Cancel] (any
// goroutine) cancels the work's context and resolves the future at once with
// an error wrapping context.Canceled. A panic in the work is re-raised out of
// Dispatch as a *[PanicError] carrying the work goroutine's stack.
// [LimitGo] bounds the goroutines in flight ([ErrGoLimit] beyond it). [Map],
// [Then], [All], [First] and [Timeout] (on a loop timer) compose futures into
// one expression; [When] consumes one.
//
// [Spawn] starts a task: straight-line code on the loop goroutine (an
// iter.Pull coroutine, cheaper to switch to than a goroutine) that awaits timers
// ([Task.Sleep]), descriptors ([Task.WaitFD]), futures ([Await]), other tasks
// ([Task.Join]) and messages ([Recv] on a [NewInbox]), and between two awaits
// has *S to itself, like any callback. Cancelling a task makes its pending
// await fail with context.Canceled. A task's error or panic goes to whoever
// joins it, or else fails the loop. Tasks need a loop not locked to its
// thread (see [WithLockOSThread]).
//
// All of this rides on one hidden source per loop and the loop's wakeup: no
// descriptor of its own, no goroutine but the work's and the coroutines'.
// Closing the loop cancels every work context and waits for the work
// goroutines, and stops every task, so nothing outlives Close.
//
// # Per-loop values
//
// A package that layers on the loop (a protocol library, a widget toolkit)
// often needs one value per loop: a shared read buffer, the list of its
// connections to flush before the loop sleeps. [Value] keeps it on the loop,
// under a package-level [Key], typed, and created on first use; the value's
// type may depend on S, so one key serves every Loop[S]. When the loop
// closes, after its sources were removed, the values that implement
// [io.Closer] are closed. [LookupValue] and [DeleteValue] complete the set.
// No process-global registry keyed by the loop is needed, and nothing
// outlives the loop.
//
// # Concurrency
//
// A Loop belongs to one goroutine at a time: its methods are called from its
// callbacks, or by its owner between dispatches. Safe from any goroutine:
// [Loop.Stop], [Loop.Wakeup], [Ping.Ping], and the methods of [Sender]. These
// never block the loop and allocate nothing in steady state. A Dispatch
// while another is in progress (from a second goroutine, or from a callback)
// fails with [ErrDispatching] instead of corrupting the loop.
//
// Every source that other goroutines wake (pings, channels, inboxes, signal
// watches, the results of futures) is built on one wake building block: a
// wakeup from another goroutine is never lost, and one that arrives while
// its source is disabled is delivered, once, when the source is enabled.
//
// The package starts goroutines only where it says so: one per signal source
// (os/signal needs a Go channel), [context.AfterFunc]'s while Run's context
// is cancelled, the work of [Go], and one coroutine per running [Spawn]ed
// task (kept, up to 1024 per loop, for reuse by later tasks until Close). Closing a loop leaves no goroutine and no descriptor
// of its own behind.
//
// A sleeping loop blocks its OS thread in the kernel, as a goroutine in a
// system call does, after a non-blocking look and a runtime.Gosched (so
// that goroutines its callbacks made ready run first). [WithNetpoller]
// parks it in Go's runtime netpoller instead, so that an idle loop holds no
// thread. [WithLockOSThread] pins Run's goroutine to
// its thread, for thread-affine C libraries.
//
// # Errors and panics
//
// System call failures are returned as *os.SyscallError. The sentinels
// [ErrClosed], [ErrInvalidToken], [ErrFull] and [ErrDispatching] work with
// errors.Is. A panic in a callback propagates out of Dispatch and Run; the
// loop stays consistent and can be dispatched again (see [Loop.Dispatch]).
// Misuse that is a programming error, such as a nil callback, is an error,
// never a crash.
//
// # Writing a source
//
// A custom source implements [Source]: Register adds its descriptors through
// a [Registrar] under sub-tokens of its choice, Process turns one event into
// calls of its own callback, and Unregister removes the descriptors. A source
// that has work left after its budget, or data already buffered in user
// space, raises a synthetic event with [Registrar.Ready] and is called again
// in the next iteration. A source that needs to act before every sleep (to
// flush output, or to report buffered input) also implements [BeforeSleeper].
// The LineReader example builds a buffered line reader from a descriptor this
// way.
//
// # Composing sources
//
// A custom source can own other sources, of any kind: descriptors, timers,
// idle callbacks, pings, channels, signal watches, other custom sources and
// nested loops. It creates them as usual and hands their tokens to
// [Registrar.Adopt]; they become its children. A library can then ship "a
// connection" (a socket, an idle timer, a channel of replies from worker
// goroutines) or "a terminal" (the tty, an escape-sequence timeout, a
// SIGWINCH watch) as one source with one token:
//
//   - Disable of the parent silences every descendant; Enable resumes those
//     not disabled by themselves (a child's own Disable survives its parent's
//     Enable). An event raised while a child was silenced (a ping, a channel
//     message, a signal, a due timer, a level-triggered descriptor) is
//     delivered after the Enable, once.
//   - Remove of the parent removes every descendant first, deepest first,
//     then the parent. Removing a child detaches it. A source added as the
//     child of a Register that fails goes with it.
//   - A child keeps its own token, its typed callback (usually a closure or
//     a method value over the parent's struct) and every semantic of its
//     kind: budgets, coalescing, a channel's closed event after its last
//     message, timers never early, generation-checked tokens. Its events
//     reach it as they would reach a source without a parent, at the same
//     cost, with no allocation.
//   - Children nest to any depth, and may be disabled, enabled and removed
//     on their own, from any callback, including their parent's or their
//     own.
//
// [Loop.Parent] names a child's parent. The composite example (IdleConn)
// builds a line-protocol connection with an idle timeout this way.
//
// Flows compose what sources produce before it reaches a callback. A
// [Flow] is a typed stream of values from a channel, a ticker, a decoded
// descriptor, signals or a custom source ([NewFlow]); [MapFlow],
// [Flow.Filter], [Merge], [Flow.Debounce], [Flow.Throttle], [Batch] and
// [Flow.Take] transform it, and a callback ([Flow.Sink]) or a task ([Next])
// consumes it, with the loop's *S. The stages are plain calls within the
// producing source's callback (no goroutine per stage, no allocation per
// value but Batch's slices), and the flow's sources, timers included, are
// children of one
// composite source whose token the consumer returns: one Disable, Enable
// or Remove for the whole pipeline. cmd/termapp builds its terminal input
// this way: one composite source (the tty, an escape-sequence timeout, a
// SIGWINCH watch) whose keys are mapped to commands and whose window sizes
// are debounced.
//
// # Platforms
//
// Linux uses epoll (with epoll_pwait2 for nanosecond timeouts where the
// kernel has it) and an eventfd; macOS, FreeBSD and DragonFly BSD use kqueue
// with EVFILT_USER; NetBSD and OpenBSD use kqueue and a pipe. On kqueue a
// descriptor readable and writable at once is reported as two events, and a
// second [Loop.AddFD] of a descriptor already registered takes it over
// instead of failing (kqueue cannot tell it from a closed descriptor's
// reused number). On
// other systems [New] returns an error wrapping errors.ErrUnsupported; the
// package still builds.
package calloop
