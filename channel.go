package calloop

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
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

// chanSpare is how many emptied blocks a channel keeps for reuse.
const chanSpare = 64

// The queue is a list of fixed-size blocks: a sender appends to the last
// block, the loop takes the whole list at once and hands emptied blocks back.
// Nothing is ever copied or regrown, however far the senders run ahead, and
// a steady stream allocates nothing.
type chanBlock[T any] struct {
	buf  []T // len: messages written; cap: the block size
	next *chanBlock[T]
}

type chanCore[T any] struct {
	mu        sync.Mutex
	notFull   sync.Cond
	head      *chanBlock[T] // sent, not yet taken by the loop
	tail      *chanBlock[T]
	n         int // messages from head to tail
	spare     []*chanBlock[T]
	blockSize int
	queued    int  // sent and not yet delivered (bounded channels)
	limit     int  // 0: unbounded
	senders   int  // open Sender handles
	closed    bool // every Sender was closed
	gone      bool // the source was removed or the loop closed
	waiters   int  // senders blocked on a full channel

	bell bell
	tok  Token
}

type chanSource[S, T any] struct {
	c  *chanCore[T]
	fn func(*S, T, bool)
	// many, if set, takes the messages instead of fn, a run of a block
	// at a time (ChannelFlow: the consumer's fused stages).
	many      func(*S, []T, *drain)
	cur       *chanBlock[T] // the blocks taken from c, being delivered
	pos       int           // next message in cur
	empty     []*chanBlock[T]
	delivered int     // by the current Process call
	iter      *uint64 // the loop's iteration count
	lastIter  uint64  // the iteration the budget below belongs to
	spent     int     // messages delivered in lastIter
	d         drain   // active, and the progress of a run given to many
	run       []T     // the run given to many, until accounted for (endRun)
	runBlock  *chanBlock[T]
}

// drain is shared by a channel source and the function that takes runs of
// its messages: that function stops after the message during which active
// turned false (a Disable or a removal), and records in done how many
// messages of the run it consumed, before calling anything that may panic.
type drain struct {
	active bool
	done   int
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
// [Sender.TrySend] fails with [ErrFull]. The room taken by delivered
// messages is given back once per batch, when the source's callback run
// for the iteration ends: a TrySend from fn itself, on the same channel,
// still sees the messages of the batch in progress as taking room.
func NewBoundedChannel[S, T any](l *Loop[S], capacity int, fn func(s *S, msg T, ok bool)) (*Sender[T], error) {
	if capacity <= 0 {
		return nil, errors.New("calloop: NewBoundedChannel with a capacity below 1")
	}
	return newChannel(l, capacity, fn)
}

func newChannel[S, T any](l *Loop[S], limit int, fn func(*S, T, bool)) (*Sender[T], error) {
	tx, _, err := newChannelSource(l, limit, fn)
	return tx, err
}

// newChannelSource is newChannel that also returns the source.
func newChannelSource[S, T any](l *Loop[S], limit int, fn func(*S, T, bool)) (*Sender[T], *chanSource[S, T], error) {
	if fn == nil {
		return nil, nil, errors.New("calloop: NewChannel with a nil callback")
	}
	c := newChanCore[T](limit)
	cs := &chanSource[S, T]{c: c, fn: fn, iter: &l.iter}
	tok, err := l.AddSource(cs)
	if err != nil {
		return nil, nil, err
	}
	c.bell.work = cs.waiting
	l.bind(tok, &c.bell)
	c.tok = tok
	return &Sender[T]{c: c}, cs, nil
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
	t := c.tail
	if t == nil || len(t.buf) == cap(t.buf) {
		var b *chanBlock[T]
		if k := len(c.spare); k > 0 {
			b = c.spare[k-1]
			c.spare = c.spare[:k-1]
		} else {
			b = &chanBlock[T]{buf: make([]T, 0, c.blockSize)}
		}
		if t == nil {
			c.head = b
		} else {
			t.next = b
		}
		c.tail, t = b, b
	}
	t.buf = append(t.buf, msg)
	c.n++
	if c.limit > 0 {
		c.queued++
	}
	first := c.n == 1
	c.mu.Unlock()
	if first {
		c.bell.ring()
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
		c.bell.ring()
	}
	return nil
}

// newChanCore returns a channel with one open sender and a block size of
// about 8 KiB of messages.
func newChanCore[T any](limit int) *chanCore[T] {
	var zero T
	size := max(32, min(1024, 8192/max(1, int(unsafe.Sizeof(zero)))))
	c := &chanCore[T]{limit: limit, senders: 1, blockSize: size}
	c.notFull.L = &c.mu
	return c
}

// takeAll appends every queued message to dst, in order, and reports
// whether every sender is closed. The messages still count against a
// bounded channel's capacity until the caller gives it back (queued).
// Loop goroutine only.
func (c *chanCore[T]) takeAll(dst []T) ([]T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := c.head; b != nil; {
		dst = append(dst, b.buf...)
		next := b.next
		clear(b.buf)
		b.buf, b.next = b.buf[:0], nil
		if len(c.spare) < chanSpare {
			c.spare = append(c.spare, b)
		}
		b = next
	}
	c.head, c.tail, c.n = nil, nil, 0
	return dst, c.closed
}

// waiting reports whether messages or the closed event wait for the loop:
// the work of the channel's bell, so that an Enable raises them again
// however the signals and Disables of earlier iterations interleaved.
func (c *chanCore[T]) waiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n > 0 || c.closed
}

// drop empties the queue for good: the receiving source is gone.
func (c *chanCore[T]) drop() {
	c.mu.Lock()
	c.gone = true
	c.head, c.tail, c.n, c.spare = nil, nil, 0, nil
	c.notFull.Broadcast()
	c.mu.Unlock()
}

func (cs *chanSource[S, T]) Register(r *Registrar) error {
	cs.d.active = true
	return nil
}

// waiting is the work of the channel's bell: messages sent, or taken and
// left undelivered (a budget, a Disable), or the closed event.
func (cs *chanSource[S, T]) waiting() bool { return cs.cur != nil || cs.c.waiting() }

func (cs *chanSource[S, T]) Unregister(r *Registrar) error {
	cs.d.active = false
	return nil
}

func (cs *chanSource[S, T]) removed() {
	cs.d.active = false
	cs.c.bell.silence()
	cs.c.drop()
	cs.cur, cs.pos, cs.empty = nil, 0, nil
}

func (cs *chanSource[S, T]) Process(s *S, _ uint16, _ Events) (Action, error) {
	c := cs.c
	c.bell.take()
	if cs.cur == nil {
		c.mu.Lock()
		cs.cur, cs.pos = c.head, 0
		c.head, c.tail, c.n = nil, nil, 0
		c.mu.Unlock()
	}
	cs.delivered = 0
	if *cs.iter != cs.lastIter {
		cs.lastIter, cs.spent = *cs.iter, 0
	}
	// The budget is per iteration: an Enable and a sender's signal may both
	// call Process in one iteration.
	budget := channelBatch - cs.spent
	// The bookkeeping runs even if a callback panics, disables or removes
	// the source: capacity is given back and the rest is continued.
	defer cs.settle()
	var zero T
	if many := cs.many; many != nil {
		// Runs of messages, each within one block and the budget: the
		// per-message work is the consumer's loop, not this one.
		for cs.d.active && cs.delivered < budget {
			b := cs.cur
			if b == nil {
				break
			}
			if cs.pos == len(b.buf) {
				cs.nextBlock(b)
				continue
			}
			end := min(len(b.buf), cs.pos+budget-cs.delivered)
			cs.run, cs.runBlock, cs.d.done = b.buf[cs.pos:end], b, 0
			many(s, cs.run, &cs.d)
			cs.endRun()
		}
	}
	for cs.d.active && cs.delivered < budget {
		b := cs.cur
		if b == nil {
			break
		}
		if cs.pos == len(b.buf) {
			cs.nextBlock(b)
			continue
		}
		msg := b.buf[cs.pos]
		b.buf[cs.pos] = zero
		cs.pos++
		cs.delivered++
		cs.fn(s, msg, true)
	}
	if b := cs.cur; b != nil && b.next == nil && cs.pos == len(b.buf) {
		cs.cur, cs.pos = nil, 0 // the last block is done: keep it for a sender
		b.buf = b.buf[:0]
		cs.empty = append(cs.empty, b)
	}
	if !cs.d.active || cs.cur != nil {
		return Continue, nil
	}
	c.mu.Lock()
	closed := c.closed && c.n == 0
	c.mu.Unlock()
	if closed {
		cs.fn(s, zero, false)
		return Remove, nil
	}
	return Continue, nil
}

// endRun accounts for the messages of the run given to many that it
// consumed (all of them unless it stopped or panicked), clearing them.
func (cs *chanSource[S, T]) endRun() {
	n := cs.d.done
	clear(cs.run[:n])
	if cs.cur == cs.runBlock {
		cs.pos += n
	}
	cs.delivered += n
	cs.run, cs.runBlock = nil, nil
}

// nextBlock moves on from cur, b, all delivered, keeping it for a sender.
func (cs *chanSource[S, T]) nextBlock(b *chanBlock[T]) {
	cs.cur, cs.pos = b.next, 0
	b.buf, b.next = b.buf[:0], nil
	cs.empty = append(cs.empty, b)
}

// settle accounts for the messages delivered by Process, hands emptied
// blocks back and, if messages are left (cut short by the batch limit, a
// Disable or a panic, or sent while the node was already queued), has the
// source called again in the next iteration, which does not sleep.
func (cs *chanSource[S, T]) settle() {
	if cs.run != nil {
		cs.endRun() // many panicked
	}
	c := cs.c
	cs.spent += cs.delivered
	if c.bell.dead.Load() {
		return
	}
	c.mu.Lock()
	if c.limit > 0 {
		c.queued -= cs.delivered
		if c.waiters > 0 && cs.delivered > 0 {
			c.notFull.Broadcast()
		}
	}
	for _, b := range cs.empty {
		if len(c.spare) < chanSpare {
			c.spare = append(c.spare, b)
		}
	}
	more := c.n > 0 || cs.cur != nil
	c.mu.Unlock()
	clear(cs.empty)
	cs.empty = cs.empty[:0]
	if more && cs.d.active {
		c.bell.ring()
	}
}
