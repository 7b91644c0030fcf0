package stream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// Handler is the set of callbacks of a connection; all run on the loop
// goroutine with *S, one at a time, like every other callback of the loop.
// A callback may call any method of any connection or listener of the loop,
// including closing its own connection; such a close takes effect when the
// callback returns (OnClose is never called from inside another callback of
// the same connection).
type Handler[S any] struct {
	// OnOpen is optional: a connection was accepted or a dial completed.
	OnOpen func(s *S, c *Conn[S])
	// OnData is required: in holds every unconsumed byte received so far;
	// return how many bytes were consumed. in is only valid during the
	// call. A return value below 0 counts as 0, above len(in) as len(in).
	//
	// The rest is kept and offered again, prefixed to newer data, by this
	// rule: when more data arrives; in a later loop iteration, even without
	// new data, after reading resumes ([Conn.ResumeReading], or the end of
	// a backpressure pause) and after [Conn.OfferAgain]. Otherwise kept
	// input waits for more data: that suits a handler that stops because
	// its input ends in an incomplete message, but a handler that stops
	// early for another reason (it has written enough for now) must call
	// OfferAgain, or it will not see the complete messages it left until
	// the peer sends more, which the peer may never do. When the peer
	// finishes sending (EOF), input left unconsumed is offered once more,
	// the final offer, with [Conn.ReadClosed] true; what that call leaves
	// is dropped.
	OnData func(s *S, c *Conn[S], in []byte) int
	// OnClose is optional: called exactly once per connection, after its
	// descriptor is closed; err is nil for a clean close by either side
	// (EOF, Close, Abort), else the reason: a system call error (such as
	// a reset by the peer, errors.Is(err, syscall.ECONNRESET)), a dial
	// failure or timeout (a *net.OpError), ErrInputTooLarge or
	// ErrOutputTooLarge. It is not called when the loop itself is closed
	// with connections still open: their descriptors are closed silently.
	OnClose func(s *S, c *Conn[S], err error)
	// OnDrain is optional: output that had grown above Config.HighWater
	// (which paused reading from the peer) has drained to
	// Config.LowWater, and reading has resumed. A producer that stops
	// writing once Buffered passes HighWater writes more here. It is
	// called in the loop iteration after the drain.
	OnDrain func(s *S, c *Conn[S])
	// OnReadClosed is optional: the peer has closed its writing side (the
	// input reached EOF) while this side may still write. It follows the
	// final offer of the input left unconsumed (see OnData). If it is nil
	// the connection is closed gracefully at EOF (buffered output is
	// flushed first, then OnClose(nil)), except that a producer waiting
	// for OnDrain (its output had passed HighWater) is let finish: OnDrain
	// is still called, and the graceful close follows the first OnDrain
	// call that leaves the output at or below HighWater. If set, the
	// connection stays open for writing until the handler calls Close,
	// CloseWrite or Abort.
	OnReadClosed func(s *S, c *Conn[S])
}

// shared is what the connections of one listener (or one dial) share.
type shared[S any] struct {
	h       Handler[S]
	cfg     config
	network string
}

type connState uint8

const (
	stDialing connState = iota // connecting; output is queued
	stOpen
	stClosing // graceful close: not reading, flushing output
	stLinger  // graceful close: output flushed and shut down, discarding input until the peer's EOF
	stDone    // closed for the user; descriptor closing at the next opportunity
	stClosed  // descriptor closed, OnClose called
)

// subTask is the sub-token of the synthetic events a connection raises for
// itself: a close to finish, input to offer again, a dial that completed at
// once.
const subTask = 1

var lastID atomic.Uint64

// writeTrace, when set (by tests), sees the result of every write call.
var writeTrace func(n int)

// Conn is a buffered, non-blocking stream connection (TCP or Unix) on a
// loop. It is a source of the loop: its callbacks ([Handler]) run on the
// loop goroutine with the loop's *S.
//
// Every method must be called on the loop goroutine: from a callback of the
// loop, or by the loop's owner between dispatches. A Conn is not safe for
// concurrent use; to write from another goroutine, send the data to the
// loop (a calloop channel) and write it there.
//
// Output is buffered: [Conn.Write] never blocks. The writes made during
// callbacks are coalesced and reach the socket with one system call when
// the callback returns (for the connection whose callback it is) or before
// the loop next sleeps (for the others). When the peer does not read, the
// output buffer grows; above [Config.HighWater] the connection stops
// reading from the peer until the output drains below [Config.LowWater],
// and above [Config.MaxOutput] it is closed.
type Conn[S any] struct {
	e     *engine[S]
	sh    *shared[S]
	reg   *calloop.Registrar
	tok   calloop.Token
	timer calloop.Token // dial timeout, then close timeout
	fd    int
	id    uint64
	state connState

	interest   calloop.Events // registered with the loop
	registered bool           // fd registered (not parked)
	parked     bool           // fd deregistered: hang-up while not reading
	removing   bool           // the source is being removed by us
	busy       bool           // inside this connection's Process
	raised     bool           // a subTask event is pending
	dirty      bool           // on the engine's dirty list
	blocked    bool           // the socket refused output: wait for Writable
	userPaused bool
	bpPaused   bool // backpressure: output above HighWater
	eof        bool // the peer finished sending
	wrShut     bool // CloseWrite called
	wrDone     bool // shutdown(SHUT_WR) done
	drainDue   bool // OnDrain to call once the output is at LowWater
	// closeAfterDrain: the peer finished sending while a producer waited
	// for OnDrain; close once it stops short of HighWater.
	closeAfterDrain bool
	closeReq        bool // Close during a dial with output queued: flush once connected, then close
	again           bool // OfferAgain called during OnData
	waitLow         bool // OfferAgain: not reading until output is at LowWater, then offer
	offerDue        bool // OfferAgain: kept input to offer in the next iteration
	inData          bool // inside OnData

	in       []byte // unconsumed input
	out      []byte // copied output; out[outPos:] not yet written
	outPos   int
	refs     []outRef // output queued by reference; refs[refHead:] not yet written
	refHead  int
	refBytes int   // bytes of refs[refHead:] not yet written
	err      error // the close reason for OnClose

	isSock  bool   // a socket (not a descriptor of another kind given to Wrap)
	wrapped bool   // made by Wrap: opening, with no connect to check
	noHalf  bool   // readable and writable, but cannot be half-closed
	curIn   []byte // the in of the running OnData
	inKept  bool   // curIn is the connection's own buffer
	taken   bool   // TakeInput during the running OnData
	reserve int    // ReserveInput during the running OnData
	// inReserved: in's spare capacity was reserved by the last OnData
	// call; reads go there, however small the room left.
	inReserved bool

	raddr, laddr net.Addr
	ctx          any
}

func newConn[S any](e *engine[S], sh *shared[S], fd int, raddr net.Addr, st connState) *Conn[S] {
	c := &Conn[S]{e: e, sh: sh, fd: fd, raddr: raddr, state: st, id: lastID.Add(1), isSock: true}
	if st == stDialing {
		c.interest = calloop.Writable
	} else {
		c.interest = calloop.Readable
	}
	return c
}

// ID returns the connection's identifier, unique in the process. It never
// changes, and may be called from any goroutine.
func (c *Conn[S]) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address (a *net.TCPAddr or *net.UnixAddr;
// for a dial, the address dialled). It never changes, and may be called
// from any goroutine.
func (c *Conn[S]) RemoteAddr() net.Addr { return c.raddr }

// LocalAddr returns the local address of the connection, or nil if it is
// not known (the dial has not completed, or the connection was closed
// before the address was asked for). Loop goroutine only.
func (c *Conn[S]) LocalAddr() net.Addr {
	if c.laddr == nil && c.isSock && c.fd >= 0 && c.state != stDialing && c.state < stClosed {
		c.laddr = sock.LocalAddr(c.fd)
	}
	return c.laddr
}

// SetContext attaches user data to the connection. Loop goroutine only.
func (c *Conn[S]) SetContext(v any) { c.ctx = v }

// Context returns the value set with SetContext, or nil. Loop goroutine only.
func (c *Conn[S]) Context() any { return c.ctx }

// Buffered returns the number of output bytes not yet written to the
// socket. Loop goroutine only.
func (c *Conn[S]) Buffered() int { return c.pending() }

// readable reports whether the connection wants input now.
func (c *Conn[S]) readable() bool {
	return c.state == stOpen && !c.userPaused && !c.bpPaused && !c.waitLow && !c.eof
}

// Write queues p for the peer and returns len(p). It never blocks: when
// nothing is queued and the call is made outside the callbacks of this
// package (a timer, a channel callback, the loop's owner) p goes to the
// socket at once, as far as the socket takes it; inside the callbacks of
// this package p is queued and written with the rest of the callback's
// output when the callback returns, with one system call; writes of 64 KiB
// or more go to the socket at once (after what is queued, with writev)
// instead of being copied. p may be reused as soon as Write returns.
//
// Write fails with [ErrClosed] after Close, Abort or CloseWrite or once the
// connection has failed, and with [ErrOutputTooLarge] when the output
// exceeds Config.MaxOutput (the connection is then closed). A write error
// of the socket (a peer reset) is returned too, and the connection is
// closed with it. Before a dial completes, Write queues the data for the
// connection. Loop goroutine only.
func (c *Conn[S]) Write(p []byte) (int, error) {
	if (c.state != stOpen && c.state != stDialing) || c.wrShut || c.closeReq {
		return 0, ErrClosed
	}
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if c.state == stOpen && !c.blocked && (c.e.depth == 0 || n >= bigWrite) && c.hasRefs() {
		c.appendOut(p)
		p = nil
		c.flush()
		if c.state >= stDone {
			return 0, c.errOr(ErrClosed)
		}
	} else if c.state == stOpen && !c.blocked && (c.e.depth == 0 || n >= bigWrite) {
		pend := c.out[c.outPos:]
		var w int
		var err error
		if len(pend) == 0 {
			w, err = sock.Write(c.fd, p)
		} else {
			w, err = sock.Writev(c.fd, pend, p)
		}
		if writeTrace != nil {
			writeTrace(w)
		}
		if err != nil && !sock.IsAgain(err) {
			c.fail(os.NewSyscallError("write", err))
			return 0, c.err
		}
		if w < len(pend)+len(p) {
			c.blocked = true
		}
		if w >= len(pend) {
			c.outPos = len(c.out)
			p = p[w-len(pend):]
		} else {
			c.outPos += w
		}
		if len(p) > 0 {
			c.appendOut(p)
		}
		c.drained() // reset the buffer, end a backpressure pause
		return c.queued(n)
	}
	if len(p) > 0 {
		c.appendOut(p)
	}
	return c.queued(n)
}

// queued finishes a write of n bytes: it applies the output limits and
// gets the queued output written when the current callback returns.
func (c *Conn[S]) queued(n int) (int, error) {
	pend := c.pending()
	if m := c.sh.cfg.maxOutput; m > 0 && pend > m {
		c.fail(ErrOutputTooLarge)
		return n, ErrOutputTooLarge
	}
	if pend > c.sh.cfg.high {
		c.bpPaused = true
	}
	if c.busy || c.e.depth > 0 {
		if pend > 0 && !c.blocked && c.state == stOpen {
			c.e.markDirty(c)
		}
	} else {
		c.sync()
	}
	return n, nil
}

// WriteRef queues p for the peer by reference, without copying it: the
// connection keeps p until its last byte is written, and the caller must
// not modify p's bytes until then. release, if not nil, is called exactly
// once, on the loop goroutine, when the connection no longer refers to p:
// once p is written, or when it is dropped (a close, an Abort, a failure, or
// an error from WriteRef itself); it may be called before WriteRef returns,
// or from inside another method of this connection, so it should only do
// bookkeeping (drop a reference count, say) and must not call methods of
// this connection. A p shorter than a few KiB may be copied instead (and
// released at once).
//
// Apart from that, WriteRef is [Conn.Write]: the same order with the other
// writes, the same limits (p counts in [Conn.Buffered], HighWater and
// MaxOutput) and the same errors. It lets a server send a large value from
// where it lives, with no copy in the connection. Loop goroutine only.
func (c *Conn[S]) WriteRef(p []byte, release func()) (int, error) {
	if (c.state != stOpen && c.state != stDialing) || c.wrShut || c.closeReq || len(p) < refMin {
		n, err := c.Write(p)
		if release != nil {
			release()
		}
		return n, err
	}
	c.appendRef(p, release)
	if c.state == stOpen && !c.blocked && (c.e.depth == 0 || len(p) >= bigWrite) {
		c.flush()
		if c.state >= stDone {
			return 0, c.errOr(ErrClosed)
		}
	}
	return c.queued(len(p))
}

// errOr returns the connection's close reason, or err if it has none.
func (c *Conn[S]) errOr(err error) error {
	if c.err != nil {
		return c.err
	}
	return err
}

// WriteString is [Conn.Write] for a string; it does not copy s beyond what
// Write buffers. Loop goroutine only.
func (c *Conn[S]) WriteString(s string) (int, error) {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// flush writes the queued output with one system call.
func (c *Conn[S]) flush() {
	if c.blocked || c.state == stDialing || c.state >= stDone {
		return
	}
	want := c.pending()
	if want == 0 {
		c.drained()
		return
	}
	var n int
	var short bool
	var err error
	if c.hasRefs() {
		n, short, err = c.writeQueued()
	} else {
		n, err = sock.Write(c.fd, c.out[c.outPos:])
		c.outPos += n
		short = n < want
	}
	if writeTrace != nil {
		writeTrace(n)
	}
	if err != nil && !sock.IsAgain(err) {
		c.fail(os.NewSyscallError("write", err))
		return
	}
	c.blocked = short
	c.drained()
}

// drained acts on output that shrank: reset the buffer, resume reading
// below the low-water mark, finish a half-close or a graceful close.
func (c *Conn[S]) drained() {
	if c.outPos == len(c.out) && !c.hasRefs() {
		c.resetOut()
	}
	pend := c.pending()
	if c.waitLow && pend <= c.sh.cfg.low {
		c.waitLow = false
		c.scheduleOffer()
	}
	if c.bpPaused && pend <= c.sh.cfg.low {
		c.bpPaused = false
		if len(c.in) > 0 && c.readable() {
			c.raise() // offer the kept input again
		}
		if c.sh.h.OnDrain != nil && c.state == stOpen {
			c.drainDue = true
		}
	}
	if c.drainDue && pend <= c.sh.cfg.low {
		c.raise()
	}
	if pend > 0 {
		return
	}
	if c.wrShut && !c.wrDone && c.state == stOpen {
		c.wrDone = true
		if !c.isSock {
			// A descriptor open for writing only: its half-close is
			// its close.
			c.finish(nil)
			return
		}
		if err := sock.ShutdownWrite(c.fd); err != nil {
			c.fail(err)
			return
		}
		if c.eof {
			c.finish(nil)
			return
		}
	}
	if c.state == stClosing {
		c.linger()
	}
}

// linger ends a graceful close whose output is flushed. Closing a socket
// with unread input makes the kernel reset the connection, and the reset
// can make the peer drop replies it has not read yet; so unless the peer
// has finished sending, the writing side is shut down (the peer reads EOF)
// and input is read and dropped until the peer's EOF, for at most
// Config.CloseTimeout (default 5 s), before the descriptor is closed.
func (c *Conn[S]) linger() {
	if c.eof || !c.isSock {
		c.finish(nil)
		return
	}
	if !c.wrDone {
		c.wrDone = true
		if err := sock.ShutdownWrite(c.fd); err != nil {
			c.finish(nil) // the peer is gone already
			return
		}
	}
	c.state = stLinger
	if !c.timer.IsZero() {
		c.e.l.Remove(c.timer)
	}
	d := c.sh.cfg.closeTimeout
	if d <= 0 {
		d = defaultLinger
	}
	c.timer, _ = c.e.l.AddTimer(d, func(s *S, _ time.Time) calloop.TimerAction {
		c.timer = calloop.Token{}
		if c.state == stLinger {
			c.enter()
			defer c.leave(s)
			c.finish(nil)
		}
		return calloop.Drop()
	})
	if !c.busy {
		c.sync()
	}
}

// discard reads and drops input while lingering, until EOF or an error.
func (c *Conn[S]) discard() {
	buf := c.e.readBuf(c.sh.cfg.readSize)
	for range 16 {
		n, err := sock.Read(c.fd, buf)
		if n > 0 {
			continue
		}
		if err == nil || !sock.IsAgain(err) {
			c.finish(nil) // EOF, or a reset after our end
		}
		return
	}
}

// Close closes the connection gracefully: it stops reading, flushes the
// buffered output, shuts down the writing side (the peer reads EOF), then
// drops input until the peer's EOF, and closes the descriptor and calls
// OnClose(nil) (or OnClose with the error that interrupted the flush).
// Waiting for the peer's EOF keeps the kernel from resetting the
// connection over unread input, which could lose replies the peer has not
// read yet; [Config.CloseTimeout] bounds both the flush and that wait
// (default for the wait: 5 s). Closing a connection whose dial is in
// progress (or one from [Wrap] before its OnOpen) abandons it if nothing
// was written; with output queued, the output is sent once the connection
// is established, which is then closed gracefully without OnOpen, and if
// the dial fails OnClose gets the dial's error. Close is idempotent while
// the close is in progress and returns [ErrClosed] after. Loop goroutine
// only.
func (c *Conn[S]) Close() error {
	switch c.state {
	case stDialing:
		if c.closeReq {
			return nil
		}
		if c.pending() == 0 {
			c.finish(nil) // nothing to send: abandon the dial
			return nil
		}
		c.closeReq = true
		return nil
	case stOpen:
		c.closeGracefully()
		return nil
	case stClosing, stLinger:
		return nil
	}
	return ErrClosed
}

func (c *Conn[S]) closeGracefully() {
	c.state = stClosing
	c.in = nil
	if c.pending() == 0 {
		c.linger()
		return
	}
	c.armCloseTimer()
	c.kick()
}

// armCloseTimer bounds the flush of a graceful close, or the wait for a
// producer to finish after the peer's EOF, by Config.CloseTimeout.
func (c *Conn[S]) armCloseTimer() {
	if d := c.sh.cfg.closeTimeout; d > 0 && c.timer.IsZero() {
		c.timer, _ = c.e.l.AddTimer(d, func(s *S, _ time.Time) calloop.TimerAction {
			c.timer = calloop.Token{}
			if c.state == stClosing || c.state == stOpen && c.closeAfterDrain {
				c.enter()
				defer c.leave(s)
				c.fail(&net.OpError{Op: "close", Net: c.sh.network, Addr: c.raddr, Err: os.ErrDeadlineExceeded})
			}
			return calloop.Drop()
		})
	}
}

// kick gets queued output written: now, or when the current callback
// returns.
func (c *Conn[S]) kick() {
	if c.busy || c.e.depth > 0 {
		if !c.blocked {
			c.e.markDirty(c)
		}
		return
	}
	c.flush()
	c.settle()
}

// CloseWrite half-closes the connection: the buffered output is flushed,
// then the writing side is shut down (the peer reads EOF); reading
// continues until the peer closes its side, which then closes the
// connection (OnClose(nil)). Later writes fail with [ErrClosed]. Loop
// goroutine only.
func (c *Conn[S]) CloseWrite() error {
	if (c.state != stOpen && c.state != stDialing) || c.closeReq {
		return ErrClosed
	}
	if c.wrShut {
		return nil
	}
	if c.noHalf {
		return errNoHalfClose
	}
	c.wrShut = true
	if c.state == stOpen {
		if c.pending() == 0 {
			c.drained()
			if !c.busy {
				c.settle()
			}
		} else {
			c.kick()
		}
	}
	return nil
}

// Abort closes the connection at once, dropping buffered output and
// unconsumed input; OnClose(nil) follows (when the current callback of the
// connection returns, or in the next loop iteration). It returns
// [ErrClosed] if the connection is already closed. Loop goroutine only.
func (c *Conn[S]) Abort() error {
	if c.state >= stDone {
		return ErrClosed
	}
	c.finish(nil)
	return nil
}

// PauseReading stops reading from the peer until [Conn.ResumeReading];
// the peer's data waits in the kernel (and TCP flow control eventually
// stops the peer). It is independent of the pause that backpressure
// applies by itself. Loop goroutine only.
func (c *Conn[S]) PauseReading() {
	if c.userPaused {
		return
	}
	c.userPaused = true
	if !c.busy {
		c.sync()
	}
}

// ResumeReading resumes reading after [Conn.PauseReading]. Input kept from
// earlier OnData calls is offered again in the next loop iteration even if
// no new data arrives. Loop goroutine only.
func (c *Conn[S]) ResumeReading() {
	if !c.userPaused {
		return
	}
	c.userPaused = false
	if len(c.in) > 0 && c.readable() {
		c.raise()
	}
	if !c.busy {
		c.sync()
	}
}

// TakeInput, called during OnData, hands the bytes of OnData's in over to
// the handler: it returns a slice with the same contents as in that the
// handler may keep, and modify, after OnData returns; the connection will
// neither reuse nor change its bytes. The input OnData does not consume is
// copied out of it when OnData returns (so the handler should not modify
// those bytes before then). When in is the connection's own buffer, as it
// always is for input that arrived over several reads (any message longer
// than [Config.ReadSize]), TakeInput returns in itself, without a copy;
// otherwise in is in a buffer shared by the connections of the loop and
// TakeInput returns a copy. A handler that keeps large messages thus keeps
// them without copying, typically as sub-slices of the result (which pin
// the whole buffer: use it for messages that fill most of it). Called
// outside OnData it returns nil. Loop goroutine only.
func (c *Conn[S]) TakeInput() []byte {
	if !c.inData {
		return nil
	}
	if !c.taken && !c.inKept {
		c.curIn = append([]byte(nil), c.curIn...)
		c.inKept = true // the copy is the handler's: later calls return it
	}
	c.taken = true
	return c.curIn
}

// ReserveInput, called during OnData by a handler that has seen the
// header of a message of n bytes in all (counting the bytes of in that the
// message starts with), makes room for the whole message at once: the
// input kept when OnData returns goes into a buffer of n bytes, which the
// following reads fill directly, instead of a buffer grown (and copied) step
// by step. With [Conn.TakeInput] this receives a large message with no
// copy beyond the first read. The reservation holds until the next OnData
// call, which calls ReserveInput again while the message is incomplete.
// n is capped at [Config.MaxInput]; the buffer is allocated at once, so
// bound n by what the peer may send. Without input kept, or outside
// OnData, it does nothing. Loop goroutine only.
func (c *Conn[S]) ReserveInput(n int) {
	if c.inData {
		c.reserve = min(n, c.sh.cfg.maxInput)
	}
}

// OfferAgain asks for the input that OnData leaves unconsumed to be
// offered again without waiting for new data from the peer: once the
// buffered output has drained to [Config.LowWater] (reading from the peer
// pauses until then), in a later loop iteration, never from inside the
// current callback. It is for a handler that stops before the end of its
// input for another reason than an incomplete message, typically because
// it has written enough replies for now; see [Handler.OnData] for the
// whole rule.
//
// Called during OnData it applies to the input that call leaves; called
// elsewhere, to the input kept at the time. One call asks for one offer (a
// handler that stops early again calls it again). It does nothing when no
// input is kept or the connection is not open; while reading is paused by
// [Conn.PauseReading] the offer waits for [Conn.ResumeReading]. Loop
// goroutine only.
func (c *Conn[S]) OfferAgain() {
	if c.inData {
		c.again = true
		return
	}
	c.scheduleOffer()
}

// scheduleOffer offers the kept input in the next iteration if the output
// is at LowWater, or pauses reading until it is.
func (c *Conn[S]) scheduleOffer() {
	if len(c.in) == 0 || c.state != stOpen || c.eof {
		return
	}
	if c.pending() > c.sh.cfg.low {
		c.waitLow = true
		if !c.busy {
			c.sync()
		}
		return
	}
	c.offerDue = true
	c.raise()
}

// fail closes the connection with err (unless it is already closing for
// another reason), dropping its buffers.
func (c *Conn[S]) fail(err error) {
	if c.state >= stDone {
		return
	}
	c.finish(err)
}

// finish marks the connection closed for the user; the descriptor is
// closed and OnClose called as soon as a callback with *S is at hand.
func (c *Conn[S]) finish(err error) {
	c.state, c.err = stDone, err
	c.in = nil
	c.dropOut()
	if !c.busy {
		c.raise()
	}
}

// raise asks the loop for a subTask event.
func (c *Conn[S]) raise() {
	if !c.raised && c.reg != nil {
		c.raised = true
		c.reg.Ready(subTask, 0)
	}
}

// settle brings the loop registration up to date outside Process.
func (c *Conn[S]) settle() {
	if c.state == stDone {
		c.raise()
		return
	}
	c.sync()
}

// sync makes the registered interest match the connection's state.
func (c *Conn[S]) sync() {
	if c.state >= stDone || c.fd < 0 {
		return
	}
	var want calloop.Events
	switch c.state {
	case stDialing:
		if !c.wrapped {
			want = calloop.Writable
		}
	case stLinger:
		want = calloop.Readable
	default:
		if c.readable() {
			want |= calloop.Readable
		}
		if c.blocked && c.pending() > 0 {
			want |= calloop.Writable
		}
	}
	if c.parked {
		if want == 0 {
			return
		}
		if err := c.reg.AddFD(c.fd, 0, want, calloop.Level); err != nil {
			c.fail(err)
			return
		}
		c.parked, c.registered, c.interest = false, true, want
		return
	}
	if want != c.interest && c.registered {
		if err := c.reg.ModifyFD(c.fd, 0, want, calloop.Level); err != nil {
			c.fail(err)
			return
		}
		c.interest = want
	}
}

// enter and leave bracket the callbacks of a connection. leave writes the
// output the callback queued, then finishes a close or updates the
// registration.
func (c *Conn[S]) enter() {
	c.busy = true
	c.e.depth++
}

func (c *Conn[S]) leave(s *S) {
	c.e.depth--
	if c.dirty {
		c.dirty = false
		c.flush()
	}
	c.busy = false
	if c.state == stDone {
		c.finalize(s)
		return
	}
	c.sync()
}

// finalize closes the descriptor and calls OnClose.
func (c *Conn[S]) finalize(s *S) {
	c.state = stClosed
	if !c.timer.IsZero() {
		c.e.l.Remove(c.timer)
		c.timer = calloop.Token{}
	}
	c.removing = true
	c.e.l.Remove(c.tok)
	if c.fd >= 0 {
		sock.Close(c.fd)
		c.fd = -1
	}
	c.in = nil
	c.dropOut()
	defer c.e.release()
	if fn := c.sh.h.OnClose; fn != nil {
		fn(s, c, c.err)
	}
}

// connSource is a Conn as the loop sees it: the calloop.Source methods live
// on this type so that they are not part of Conn's API.
type connSource[S any] Conn[S]

func (c *Conn[S]) source() *connSource[S] { return (*connSource[S])(c) }

func (cs *connSource[S]) Register(r *calloop.Registrar) error {
	c := (*Conn[S])(cs)
	c.reg = r
	if c.fd < 0 || c.state >= stDone {
		return nil
	}
	if err := r.AddFD(c.fd, 0, c.interest, calloop.Level); err != nil {
		return err
	}
	c.registered = true
	return nil
}

// Unregister is called when the source is removed: by finalize, or by the
// loop's Close, which closes the descriptor here (without OnClose).
func (cs *connSource[S]) Unregister(r *calloop.Registrar) error {
	c := (*Conn[S])(cs)
	if c.registered {
		c.registered = false
		r.DeleteFD(c.fd)
	}
	if !c.removing && c.state != stClosed {
		c.state = stClosed
		if c.fd >= 0 {
			sock.Close(c.fd)
			c.fd = -1
		}
		c.in = nil
		c.dropOut()
		c.e.release()
	}
	return nil
}

// Process handles the connection's events and its own synthetic ones.
func (cs *connSource[S]) Process(s *S, sub uint16, ev calloop.Events) (calloop.Action, error) {
	c := (*Conn[S])(cs)
	if sub == subTask {
		c.raised = false
		c.offerDue = false
	}
	if c.state == stClosed {
		return calloop.Continue, nil
	}
	c.enter()
	defer c.leave(s)
	switch c.state {
	case stDialing:
		if sub == subTask || ev&(calloop.Writable|calloop.Error|calloop.Hangup) != 0 {
			c.connected(s)
		}
		return calloop.Continue, nil
	case stLinger:
		if ev&(calloop.Readable|calloop.Error|calloop.Hangup) != 0 {
			c.discard()
		}
		return calloop.Continue, nil
	case stDone:
		return calloop.Continue, nil
	}
	if c.drainDue && c.pending() <= c.sh.cfg.low {
		c.drainDue = false
		c.sh.h.OnDrain(s, c)
		if c.closeAfterDrain && c.state == stOpen && !c.bpPaused && !c.drainDue {
			// The peer has finished sending and the producer has
			// stopped short of HighWater: its response is complete.
			c.closeGracefully()
		}
		if c.state != stOpen {
			return calloop.Continue, nil
		}
	}
	if ev&(calloop.Writable|calloop.Error|calloop.Hangup) != 0 && c.pending() > 0 {
		c.blocked = false
		c.flush()
	}
	if sub == subTask && len(c.in) > 0 && c.readable() {
		c.deliver(s, nil)
	}
	if c.readable() {
		if ev&(calloop.Readable|calloop.Error|calloop.Hangup) != 0 {
			c.read(s)
		}
	} else if ev&(calloop.Error|calloop.Hangup) != 0 && c.state < stDone && c.pending() == 0 {
		// Nothing to read or write, and level-triggered hang-ups repeat:
		// report an error, or stop watching until reading resumes.
		if !c.isSock {
			if c.eof {
				// Open for writing only, and the reader is gone with
				// nothing lost: a close by the peer.
				c.finish(nil)
			} else if c.registered {
				c.reg.DeleteFD(c.fd)
				c.registered, c.parked, c.interest = false, true, 0
			}
		} else if err := sock.SocketError(c.fd, "read"); err != nil {
			c.fail(err)
		} else if c.registered {
			c.reg.DeleteFD(c.fd)
			c.registered, c.parked, c.interest = false, true, 0
		}
	}
	return calloop.Continue, nil
}

// connected completes a dial.
func (c *Conn[S]) connected(s *S) {
	if c.isSock {
		if err := sock.SocketError(c.fd, "connect"); err != nil {
			c.fail(&net.OpError{Op: "dial", Net: c.sh.network, Addr: c.raddr, Err: err})
			return
		}
	}
	if !c.timer.IsZero() {
		c.e.l.Remove(c.timer)
		c.timer = calloop.Token{}
	}
	c.state = stOpen
	if c.closeReq {
		// Closed while dialing, with output queued: send it, then close
		// (the user is done: no OnOpen).
		c.closeGracefully()
		return
	}
	if c.pending() > 0 {
		c.flush()
	} else {
		c.drained() // a CloseWrite before the connection completed
	}
	if fn := c.sh.h.OnOpen; fn != nil && c.state == stOpen {
		fn(s, c)
	}
}

// read reads and delivers input until the socket is drained, the budget
// is spent or reading stops.
func (c *Conn[S]) read(s *S) {
	size := c.sh.cfg.readSize
	budget := c.sh.cfg.readBudget
	for c.readable() && !c.offerDue {
		// Input kept with room to spare (ReserveInput) is read into at
		// once, saving a copy.
		buf, direct := c.e.readBuf(size), false
		if spare := cap(c.in) - len(c.in); len(c.in) > 0 && (spare >= size || c.inReserved && spare > 0) {
			buf, direct = c.in[len(c.in):cap(c.in)], true
			buf = buf[:min(len(buf), max(budget, size))]
		}
		n, err := sock.Read(c.fd, buf)
		if n > 0 {
			if direct {
				c.in = c.in[:len(c.in)+n]
				c.deliver(s, nil)
			} else {
				c.deliver(s, buf[:n])
			}
			budget -= n
			if n < len(buf) || budget <= 0 {
				return
			}
			continue
		}
		switch {
		case err == nil, !c.isSock && sock.IsEIO(err):
			// A terminal's master side reads EIO once the other side is
			// closed: its end of input.
			c.atEOF(s)
		case sock.IsAgain(err):
		default:
			c.fail(os.NewSyscallError("read", err))
		}
		return
	}
}

// deliver offers the kept input followed by data to OnData and keeps what
// it does not consume.
func (c *Conn[S]) deliver(s *S, data []byte) {
	in := data
	kept := len(c.in) > 0
	if kept {
		c.in = append(c.in, data...)
		in = c.in
	}
	if len(in) == 0 {
		return
	}
	c.inData, c.curIn, c.inKept = true, in, kept
	k := c.sh.h.OnData(s, c, in)
	c.inData, c.curIn = false, nil
	k = min(max(k, 0), len(in))
	if c.state != stOpen {
		c.in, c.again, c.taken, c.reserve = nil, false, false, 0
		return
	}
	c.inReserved = false
	if c.taken {
		// The handler owns the buffer now: keep a copy of the rest.
		c.taken = false
		c.in = nil
		kept = false
	}
	switch {
	case !kept:
		if k < len(in) {
			c.in = append(c.in[:0], in[k:]...)
		}
	case k == len(in):
		if cap(c.in) > keepBuf {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case k > 0:
		c.in = c.in[:copy(c.in, c.in[k:])]
	}
	if len(c.in) > c.sh.cfg.maxInput {
		c.fail(ErrInputTooLarge)
		return
	}
	if c.reserve > 0 {
		if c.reserve > cap(c.in) && len(c.in) > 0 {
			b := make([]byte, len(c.in), c.reserve)
			copy(b, c.in)
			c.in = b
		}
		c.inReserved = len(c.in) > 0 && cap(c.in) >= c.reserve
		c.reserve = 0
	}
	if c.again {
		c.again = false
		c.scheduleOffer()
	}
}

// atEOF handles the end of the peer's output.
func (c *Conn[S]) atEOF(s *S) {
	c.eof = true
	if len(c.in) > 0 {
		c.deliver(s, nil) // the final offer
		if c.state != stOpen {
			return
		}
	}
	c.in = nil
	switch {
	case c.wrShut:
		if c.wrDone {
			c.finish(nil)
		} else {
			c.closeGracefully()
		}
	case c.sh.h.OnReadClosed != nil:
		c.sh.h.OnReadClosed(s, c)
	case c.sh.h.OnDrain != nil && (c.bpPaused || c.drainDue):
		// A producer waits for OnDrain to write the rest of its
		// response: let it finish before closing.
		c.closeAfterDrain = true
		c.armCloseTimer()
	default:
		c.closeGracefully()
	}
}

// ReadClosed reports whether the peer has finished sending (the input
// reached EOF; always true for a wrapped descriptor open for writing
// only). During OnData it marks the final offer: in then holds the last
// input, and what OnData leaves unconsumed is dropped. Loop goroutine
// only.
func (c *Conn[S]) ReadClosed() bool { return c.eof }

var (
	errNoOnData    = errors.New("stream: Handler.OnData is nil")
	errNoHalfClose = fmt.Errorf("stream: CloseWrite: a descriptor that is not a socket and is open for reading and writing cannot be half-closed: %w", errors.ErrUnsupported)
)

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix")
// without blocking, and returns the connection at once; h.OnOpen is called
// when the connection is established, or h.OnClose with the error if it
// fails or does not complete within timeout (zero: no timeout other than
// the system's). Both are called in a later loop iteration, never from
// Dial. Data written before the connection completes is queued.
//
// Dial returns an error only for an invalid network, address or Config
// ([ErrConfig]), a missing h.OnData or a closed loop. A host name in
// address is resolved before Dial returns, which blocks: pass an IP
// address to stay non-blocking. A Unix socket whose listener's backlog is
// full refuses at once: OnClose gets an error wrapping EAGAIN in the next
// iteration, whatever the timeout (net.Dial fails the same way). Dial must
// be called on the loop goroutine (from a callback, or by the loop's owner
// between dispatches).
func Dial[S any](l *calloop.Loop[S], network, address string, timeout time.Duration, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	ncfg, err := cfg.norm()
	if err != nil {
		return nil, err
	}
	addr, err := resolve(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	sh := &shared[S]{h: h, cfg: ncfg, network: network}
	fd, inProgress, err := sock.Connect(network, addr)
	c := newConn(e, sh, fd, addr, stDialing)
	if err != nil {
		c.state, c.err = stDone, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	e.acquire()
	tok, err := l.AddSource(c.source())
	if err != nil {
		if fd >= 0 {
			sock.Close(fd)
		}
		e.release()
		return nil, err
	}
	c.tok = tok
	switch {
	case c.state == stDone, !inProgress:
		c.raise()
	case timeout > 0:
		c.timer, _ = l.AddTimer(timeout, func(s *S, _ time.Time) calloop.TimerAction {
			c.timer = calloop.Token{}
			if c.state == stDialing {
				c.enter()
				defer c.leave(s)
				c.fail(&net.OpError{Op: "dial", Net: network, Addr: addr, Err: os.ErrDeadlineExceeded})
			}
			return calloop.Drop()
		})
	}
	return c, nil
}
