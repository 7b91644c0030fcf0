package calloop

import (
	"sync"
	"sync/atomic"

	"github.com/calloop-go/calloop/internal/poller"
)

// wakeup is the part of a loop that other goroutines touch. It is not
// generic, so that pings and senders need not know the loop's state type.
//
// One wake primitive serves every cross-goroutine source. A source with
// something to deliver pushes its node onto a lock-free stack (at most once
// until the loop takes it) and kicks the loop. A kick costs a syscall only
// when the loop is armed, that is, about to sleep or sleeping in the kernel;
// a busy loop finds the stack by itself before it next sleeps. The
// store-then-check order on both sides (push then load armed; store armed
// then load the stack) makes a lost wakeup impossible.
type wakeup struct {
	head  atomic.Pointer[remoteNode]
	armed atomic.Bool // true: the loop may sleep without looking at head again
	woken atomic.Bool // a Wakeup or Stop the loop has not yet seen
	stop  atomic.Bool // a Stop that Run has not yet seen

	mu     sync.RWMutex // excludes Close from a Wake in flight: the fd number could be reused
	closed bool
	p      *poller.Poller
}

// remoteNode is a source's entry in the wakeup stack. queued is set while the
// node is on the stack. The loop goroutine alone reads idx, gen, pending and deferred.
type remoteNode struct {
	next     *remoteNode
	queued   atomic.Bool
	dead     atomic.Bool // the source was removed: signals are ignored
	idx, gen uint32
	pending  bool // signalled, and the source's Process has not run since
	deferred bool // signalled while its source was disabled
}

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
func (w *wakeup) signal(n *remoteNode) {
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
func (w *wakeup) take() *remoteNode {
	n := w.head.Swap(nil)
	var prev *remoteNode
	for n != nil {
		next := n.next
		n.next = prev
		prev = n
		n = next
	}
	return prev
}
