package calloop

import (
	"errors"
	"fmt"
)

var errInboxClosed = fmt.Errorf("calloop: inbox closed: %w", ErrClosed)

// Inbox is the receiving end of a channel whose messages are received by
// tasks, with [Recv], rather than by a callback: see [NewInbox]. It belongs
// to its loop's goroutine.
type Inbox[T any] struct {
	h       *asyncCore
	c       *chanCore[T]
	buf     []T // taken from the channel, not yet received
	head    int
	closed  bool // every sender closed and every message taken
	waiters []wakeEntry
}

// inboxSource moves messages from the channel into the inbox and wakes the
// tasks waiting in Recv. It shares chanCore (and so Sender) with the
// callback channels of channel.go.
type inboxSource[S, T any] struct {
	h  *hub[S]
	in *Inbox[T]
}

// NewInbox registers a channel on l whose messages queue up for tasks to
// receive with [Recv], and returns the inbox and the channel's first
// sender. Senders are as for [NewChannel] (capacity 0: unbounded) or
// [NewBoundedChannel] (capacity > 0: at most capacity messages sent and not
// yet received by a task, so Send blocks and TrySend fails with [ErrFull]
// until tasks catch up). Closing every sender makes Recv fail with an error
// wrapping [ErrClosed], once the messages sent before are received. Several
// tasks may receive from one inbox; each message goes to one of them, in
// order. Removing the source (its token is the senders' [Sender.Token]) or
// closing the loop makes further sends fail. Call NewInbox on the loop's
// goroutine.
func NewInbox[S, T any](l *Loop[S], capacity int) (*Inbox[T], *Sender[T], error) {
	if capacity < 0 {
		return nil, nil, errors.New("calloop: NewInbox with a negative capacity")
	}
	h, err := hubOf(l)
	if err != nil {
		return nil, nil, err
	}
	c := newChanCore[T](capacity)
	in := &Inbox[T]{h: &h.asyncCore, c: c}
	tok, err := l.AddSource(&inboxSource[S, T]{h: h, in: in})
	if err != nil {
		return nil, nil, err
	}
	c.bell.work = c.waiting
	l.bind(tok, &c.bell)
	c.tok = tok
	return in, &Sender[T]{c: c}, nil
}

func (is *inboxSource[S, T]) Register(r *Registrar) error { return nil }

func (is *inboxSource[S, T]) Unregister(r *Registrar) error { return nil }

// Process takes every message sent so far: the inbox's buffer is bounded by
// the channel's capacity, or by nothing, as the channel's is.
func (is *inboxSource[S, T]) Process(s *S, _ uint16, _ Events) (Action, error) {
	h, in, c := is.h, is.in, is.in.c
	c.bell.take()
	d := h.enter()
	defer h.exit(d)
	if in.head == len(in.buf) {
		in.buf, in.head = in.buf[:0], 0
	}
	var closed bool
	in.buf, closed = c.takeAll(in.buf)
	if closed {
		in.closed = true
	}
	for i, e := range in.waiters {
		h.ready(e)
		in.waiters[i] = wakeEntry{}
	}
	in.waiters = in.waiters[:0]
	h.leave(s)
	return Continue, nil
}

func (is *inboxSource[S, T]) removed() {
	in, c := is.in, is.in.c
	c.bell.silence()
	c.drop()
	in.closed = true
	// Tasks already waiting in Recv learn of it: their Recv fails. (Tasks
	// of a closing loop are stopped by the hub instead.)
	if !is.h.dead.Load() {
		for i, e := range in.waiters {
			is.h.ready(e)
			in.waiters[i] = wakeEntry{}
		}
	}
	in.waiters = in.waiters[:0]
}

// Len returns the number of messages taken from the channel by the loop and
// not yet received by a task.
func (in *Inbox[T]) Len() int { return len(in.buf) - in.head }

// Recv receives the next message of in, waiting for one if there is none.
// It fails with an error wrapping [ErrClosed] when every sender was closed
// and every message received (or the source was removed), and with a
// cancellation error when the task is cancelled. Call it from t's body; in
// must belong to t's loop.
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
			if c := in.c; c.limit > 0 {
				c.mu.Lock()
				c.queued--
				if c.waiters > 0 {
					c.notFull.Signal()
				}
				c.mu.Unlock()
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
