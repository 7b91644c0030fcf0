package calloop

import "fmt"

// inboxHigh is how many received messages an inbox holds before it stops
// taking more from its channel: the rest wait in the channel (and a bounded
// channel's senders block), until tasks have received some.
const inboxHigh = 1024

var errInboxClosed = fmt.Errorf("calloop: inbox closed: %w", ErrClosed)

// Inbox is the receiving end of a channel whose messages are received by
// tasks, with [Recv], rather than by a callback: see [NewInbox]. It belongs
// to its loop's goroutine.
type Inbox[T any] struct {
	h       *asyncCore
	buf     []T
	head    int
	closed  bool
	paused  bool
	pause   func(on bool)
	waiters []wakeEntry
}

// NewInbox registers a channel source on l whose messages queue up for tasks
// to receive with [Recv], and returns the inbox and the channel's first
// sender. Senders are as for [NewChannel] (capacity 0) or
// [NewBoundedChannel] (capacity > 0): safe from any goroutine; closing every
// sender makes Recv fail with [ErrClosed] once the queued messages are
// received. Several tasks may receive from one inbox; each message goes to
// one of them, in order. Call NewInbox on the loop's goroutine.
func NewInbox[S, T any](l *Loop[S], capacity int) (*Inbox[T], *Sender[T], error) {
	h, err := hubOf(l)
	if err != nil {
		return nil, nil, err
	}
	in := &Inbox[T]{h: &h.asyncCore}
	fn := func(s *S, msg T, ok bool) {
		d := h.enter()
		defer h.exit(d)
		if ok {
			in.buf = append(in.buf, msg)
		} else {
			in.closed = true
		}
		if ok && len(in.buf)-in.head >= inboxHigh {
			in.pause(true)
		}
		in.wakeAll()
		h.leave(s)
	}
	var tx *Sender[T]
	if capacity > 0 {
		tx, err = NewBoundedChannel(l, capacity, fn)
	} else {
		tx, err = NewChannel(l, fn)
	}
	if err != nil {
		return nil, nil, err
	}
	tok := tx.Token()
	in.pause = func(on bool) {
		if on == in.paused || in.closed {
			return
		}
		in.paused = on
		if on {
			l.Disable(tok)
		} else {
			l.Enable(tok)
		}
	}
	return in, tx, nil
}

func (in *Inbox[T]) wakeAll() {
	for i, e := range in.waiters {
		in.h.ready(e)
		in.waiters[i] = wakeEntry{}
	}
	in.waiters = in.waiters[:0]
}

// Len returns the number of messages received by the loop and not yet by a
// task.
func (in *Inbox[T]) Len() int { return len(in.buf) - in.head }

// Recv receives the next message of in, waiting for one if there is none.
// It fails with an error wrapping [ErrClosed] when every sender was closed
// and every message received, and with a cancellation error when the task
// is cancelled. Call it from t's body; in must belong to t's loop.
func Recv[S, T any](t *Task[S], in *Inbox[T]) (T, error) {
	var zero T
	for {
		if in.head < len(in.buf) {
			v := in.buf[in.head]
			in.buf[in.head] = zero
			in.head++
			if in.head == len(in.buf) {
				in.buf, in.head = in.buf[:0], 0
			}
			if in.paused && len(in.buf)-in.head < inboxHigh/2 {
				in.pause(false)
			}
			return v, nil
		}
		if in.closed {
			return zero, errInboxClosed
		}
		if err := t.begin(); err != nil {
			return zero, err
		}
		if in.h != &t.h.asyncCore {
			return zero, errOtherLoop
		}
		in.waiters = append(in.waiters, wakeEntry{t, t.seq})
		if err := t.park(); err != nil {
			return zero, err
		}
	}
}
