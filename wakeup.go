package calloop

import (
	"sync"
	"sync/atomic"

	"github.com/calloop-go/calloop/internal/poller"
)

// wakeup is the part of a loop that other goroutines touch. It is not
// generic, so that pings and senders need not know the loop's state type.
//
// One wake primitive serves every cross-goroutine source (see bell). A
// source with something to deliver pushes its bell onto a lock-free stack
// (at most once until the loop takes it) and kicks the loop. A kick costs a syscall only
// when the loop is armed, that is, about to sleep or sleeping in the kernel;
// a busy loop finds the stack by itself before it next sleeps. The
// store-then-check order on both sides (push then load armed; store armed
// then load the stack) makes a lost wakeup impossible.
type wakeup struct {
	head  atomic.Pointer[bell]
	armed atomic.Bool // true: the loop may sleep without looking at head again
	woken atomic.Bool // a Wakeup or Stop the loop has not yet seen
	stop  atomic.Bool // a Stop that Run has not yet seen

	mu     sync.RWMutex // excludes Close from a Wake in flight: the fd number could be reused
	closed bool
	p      *poller.Poller
}

// bell is the one wake building block of the sources that other goroutines
// wake: ping, channel, inbox, signal watch and the futures hub. The two
// rules every one of them needs are written here and in the loop, once:
//
//   - No lost wakeup: ring pushes the bell onto the wakeup stack (once until
//     the loop takes it) and kicks the loop; see wakeup.signal.
//   - Raised while disabled, delivered on Enable: a bell the loop takes
//     becomes owed (Loop.remoteReady) and stays owed until its source's
//     Process takes it. If the source is not active when the loop takes
//     the bell, no event is raised then; when the source is activated again
//     (Enable, or its parent's Enable), the loop raises one for an owed bell
//     (Loop.raiseOwed). A source that leaves work behind (a budget, a
//     Disable in the middle of a batch) reports it through work.
//
// queued is set while the bell is on the stack. The loop goroutine alone
// reads idx, gen and pending.
type bell struct {
	next     *bell
	queued   atomic.Bool
	dead     atomic.Bool // the source was removed: rings are ignored
	w        *wakeup
	idx, gen uint32
	pending  bool        // taken by the loop, and not yet by the source's Process
	work     func() bool // optional: work waiting that no ring shows
}

// ring has the bell's source called on the loop. Any goroutine; no
// allocation; a system call only if the loop sleeps.
func (b *bell) ring() {
	if !b.dead.Load() {
		b.w.signal(b)
	}
}

// take reports whether the bell was owed and clears it: a source's Process
// calls it first. A false result means a second event for one ring (a
// Disable/Enable cycle raised it again), which a coalescing source ignores.
func (b *bell) take() bool {
	p := b.pending
	b.pending = false
	return p
}

// owed reports whether an Enable must raise an event for the bell.
func (b *bell) owed() bool { return b.pending || b.work != nil && b.work() }

// silence makes later rings do nothing: the source was removed.
func (b *bell) silence() { b.dead.Store(true) }

// kick makes a sleeping loop return from the kernel.
func (w *wakeup) kick() {
	if w.armed.Load() && w.armed.Swap(false) {
		w.mu.RLock()
		if !w.closed {
			w.p.Wake() // can only fail if the fd is gone, which mu excludes
		}
		w.mu.RUnlock()
	}
}

// signal queues n for the loop and wakes it. Any goroutine; no allocation.
func (w *wakeup) signal(n *bell) {
	if n.queued.Load() || !n.queued.CompareAndSwap(false, true) {
		return
	}
	for {
		old := w.head.Load()
		n.next = old
		if w.head.CompareAndSwap(old, n) {
			break
		}
	}
	w.kick()
}

// wake sets the sticky woken flag and kicks the loop.
func (w *wakeup) wake() {
	w.woken.Store(true)
	w.kick()
}

// pending reports whether something arrived that the loop has not taken.
func (w *wakeup) pending() bool {
	return w.head.Load() != nil || w.woken.Load()
}

// take empties the stack and returns its nodes oldest first.
func (w *wakeup) take() *bell {
	n := w.head.Swap(nil)
	var prev *bell
	for n != nil {
		next := n.next
		n.next = prev
		prev = n
		n = next
	}
	return prev
}
