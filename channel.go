package calloop

import (
	"errors"
	"sync"
	"sync/atomic"
)

// channelBatch is the most messages a channel delivers in one iteration; the
// rest wait for the next iteration, which does not sleep. This keeps a busy
// channel from starving timers and file descriptors.
const channelBatch = 1024

// Sender sends messages to a channel source on a loop (see [NewChannel]). It
// is safe for simultaneous use by multiple goroutines. Messages arrive in the
// order they were sent (the order of the Send calls' completion, for
// concurrent senders).
//
// Every Sender obtained from NewChannel or [Sender.Clone] must be closed:
// when all are, the loop's callback receives the closed event, after every
// message sent before.
type Sender[T any] struct {
	c      *chanCore[T]
	closed atomic.Bool
}

type chanCore[T any] struct {
	mu      sync.Mutex
	notFull sync.Cond
	in      []T  // sent, not yet taken by the loop
	queued  int  // sent and not yet delivered (bounded channels)
	limit   int  // 0: unbounded
	senders int  // open Sender handles
	closed  bool // every Sender was closed
	gone    bool // the source was removed or the loop closed
	waiters int  // senders blocked on a full channel

	w    *wakeup
	node remoteNode
	tok  Token
}

type chanSource[S, T any] struct {
	c      *chanCore[T]
	fn     func(*S, T, bool)
	out    []T // taken from c.in, being delivered
	pos    int
	active bool
}

// NewChannel registers an unbounded channel source on l and returns its first
// sender. fn runs on the loop's goroutine: with (msg, true) for each message,
// and once with (zero, false) after every sender was closed and every message
// delivered; the source is then removed.
//
// Messages are delivered in batches of at most 1024 per iteration; sending
// costs a mutex and, when the loop is asleep, one system call per batch.
// Messages sent while the source is disabled wait for it to be enabled.
func NewChannel[S, T any](l *Loop[S], fn func(s *S, msg T, ok bool)) (*Sender[T], error) {
	return newChannel(l, 0, fn)
}

// NewBoundedChannel is [NewChannel] with room for at most capacity messages
// not yet delivered: [Sender.Send] then blocks until there is room, and
// [Sender.TrySend] fails with [ErrFull].
func NewBoundedChannel[S, T any](l *Loop[S], capacity int, fn func(s *S, msg T, ok bool)) (*Sender[T], error) {
	if capacity <= 0 {
		return nil, errors.New("calloop: NewBoundedChannel with a capacity below 1")
	}
	return newChannel(l, capacity, fn)
}

func newChannel[S, T any](l *Loop[S], limit int, fn func(*S, T, bool)) (*Sender[T], error) {
	if fn == nil {
		return nil, errors.New("calloop: NewChannel with a nil callback")
	}
	c := &chanCore[T]{limit: limit, senders: 1, w: l.w}
	c.notFull.L = &c.mu
	tok, err := l.AddSource(&chanSource[S, T]{c: c, fn: fn})
	if err != nil {
		return nil, err
	}
	c.node.idx, c.node.gen, c.tok = tok.id, tok.gen, tok
	return &Sender[T]{c: c}, nil
}

// Token returns the channel source's token, to remove or disable it.
func (tx *Sender[T]) Token() Token { return tx.c.tok }

// Send sends msg. On a bounded channel it blocks while the channel is full.
// It fails with [ErrClosed] if this sender was closed, or the source removed
// (then msg is not delivered), or the loop closed.
func (tx *Sender[T]) Send(msg T) error { return tx.send(msg, true) }

// TrySend is Send that never blocks: on a full bounded channel it fails with
// [ErrFull].
func (tx *Sender[T]) TrySend(msg T) error { return tx.send(msg, false) }

func (tx *Sender[T]) send(msg T, block bool) error {
	c := tx.c
	c.mu.Lock()
	for {
		if c.gone || tx.closed.Load() {
			c.mu.Unlock()
			return ErrClosed
		}
		if c.limit == 0 || c.queued < c.limit {
			break
		}
		if !block {
			c.mu.Unlock()
			return ErrFull
		}
		c.waiters++
		c.notFull.Wait()
		c.waiters--
	}
	c.in = append(c.in, msg)
	c.queued++
	first := len(c.in) == 1
	c.mu.Unlock()
	if first {
		c.w.signal(&c.node)
	}
	return nil
}

// Clone returns a new open sender on the same channel; the closed event
// waits for it too. Cloning a closed sender fails with [ErrClosed].
func (tx *Sender[T]) Clone() (*Sender[T], error) {
	c := tx.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if tx.closed.Load() || c.senders == 0 {
		return nil, ErrClosed
	}
	c.senders++
	return &Sender[T]{c: c}, nil
}

// Close closes this sender; later sends on it fail. Messages it sent are
// still delivered. Close is idempotent.
func (tx *Sender[T]) Close() error {
	c := tx.c
	c.mu.Lock()
	if tx.closed.Swap(true) {
		c.mu.Unlock()
		return nil
	}
	c.senders--
	last := c.senders == 0
	if last {
		c.closed = true
	}
	if c.waiters > 0 {
		c.notFull.Broadcast() // a blocked Send on this handle must return
	}
	c.mu.Unlock()
	if last {
		c.w.signal(&c.node)
	}
	return nil
}

func (cs *chanSource[S, T]) Register(r *Registrar) error {
	cs.active = true
	c := cs.c
	c.mu.Lock()
	more := len(c.in) > 0 || c.closed
	c.mu.Unlock()
	if more || cs.pos < len(cs.out) {
		r.Ready(0, Readable) // what arrived or was left while disabled
	}
	return nil
}

func (cs *chanSource[S, T]) Unregister(r *Registrar) error {
	cs.active = false
	return nil
}

func (cs *chanSource[S, T]) removed() {
	cs.active = false
	c := cs.c
	c.node.dead.Store(true)
	c.mu.Lock()
	c.gone = true
	c.in = nil
	c.notFull.Broadcast()
	c.mu.Unlock()
	clear(cs.out)
	cs.out, cs.pos = nil, 0
}

func (cs *chanSource[S, T]) Process(s *S, _ uint16, _ Events) (Action, error) {
	c := cs.c
	c.node.pending = false
	if cs.pos == len(cs.out) {
		clear(cs.out)
		c.mu.Lock()
		cs.out, c.in = c.in, cs.out[:0]
		c.mu.Unlock()
		cs.pos = 0
	}
	end := min(len(cs.out), cs.pos+channelBatch)
	start := cs.pos
	// The bookkeeping runs even if a callback panics, disables or removes
	// the source: capacity is given back and the rest is continued.
	defer cs.settle(start)
	var zero T
	for cs.active && cs.pos < end {
		msg := cs.out[cs.pos]
		cs.out[cs.pos] = zero
		cs.pos++
		cs.fn(s, msg, true)
	}
	if !cs.active || cs.pos < len(cs.out) {
		return Continue, nil
	}
	c.mu.Lock()
	closed := c.closed && len(c.in) == 0
	c.mu.Unlock()
	if closed {
		cs.fn(s, zero, false)
		return Remove, nil
	}
	return Continue, nil
}

// settle accounts for the messages delivered since start and, if any are
// left (cut short by the batch limit, a Disable or a panic, or sent while the
// node was already queued), has the source called again in the next
// iteration, which does not sleep.
func (cs *chanSource[S, T]) settle(start int) {
	c := cs.c
	if c.node.dead.Load() {
		return
	}
	delivered := cs.pos - start
	c.mu.Lock()
	c.queued -= delivered
	if c.waiters > 0 && delivered > 0 {
		c.notFull.Broadcast()
	}
	more := len(c.in) > 0 || cs.pos < len(cs.out)
	c.mu.Unlock()
	if more && cs.active {
		c.w.signal(&c.node)
	}
}
