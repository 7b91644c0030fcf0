package calloop

// Internal state the external tests (package calloop_test) observe, so that
// they wait for a condition instead of grepping goroutine stacks for
// unexported names.

// SendersBlocked returns how many Send calls wait on tx's full bounded
// channel: each counted one has released the channel's lock in its wait.
func SendersBlocked[T any](tx *Sender[T]) int {
	tx.c.mu.Lock()
	defer tx.c.mu.Unlock()
	return tx.c.waiters
}

// Armed reports whether l has announced that it is about to sleep, or is
// sleeping, in the poller: from then on only a wakeup through the kernel
// (Wakeup, Stop, Close, a ping) makes its Dispatch return early.
func Armed[S any](l *Loop[S]) bool { return l.w.armed.Load() }
