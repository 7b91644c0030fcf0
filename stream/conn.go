package stream

import (
	"errors"
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
	// the peer sends more, which the peer may never do.
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
	// input reached EOF) while this side may still write. If it is nil the
	// connection is closed gracefully at EOF (buffered output is flushed
	// first, then OnClose(nil)); if set, the connection stays open for
	// writing until the handler calls Close, CloseWrite or Abort.
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
	drainDue   bool // OnDrain to call
	again      bool // OfferAgain called during OnData
	waitLow    bool // OfferAgain: not reading until output is at LowWater, then offer
	offerDue   bool // OfferAgain: kept input to offer in the next iteration
	inData     bool // inside OnData

	in     []byte // unconsumed input
	out    []byte // output; out[outPos:] not yet written
	outPos int
	err    error // the close reason for OnClose

	raddr, laddr net.Addr
	ctx          any
}

func newConn[S any](e *engine[S], sh *shared[S], fd int, raddr net.Addr, st connState) *Conn[S] {
	c := &Conn[S]{e: e, sh: sh, fd: fd, raddr: raddr, state: st, id: lastID.Add(1)}
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
	if c.laddr == nil && c.fd >= 0 && c.state != stDialing && c.state < stClosed {
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
func (c *Conn[S]) Buffered() int { return len(c.out) - c.outPos }

func (c *Conn[S]) pending() int { return len(c.out) - c.outPos }

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
	if (c.state != stOpen && c.state != stDialing) || c.wrShut {
		return 0, ErrClosed
	}
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if c.state == stOpen && !c.blocked && (c.e.depth == 0 || n >= bigWrite) {
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
		c.drained() // reset the buffer, end a backpressure pause
	}
	if len(p) > 0 {
		c.appendOut(p)
	}
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

// WriteString is [Conn.Write] for a string; it does not copy s beyond what
// Write buffers. Loop goroutine only.
func (c *Conn[S]) WriteString(s string) (int, error) {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (c *Conn[S]) appendOut(p []byte) {
	if c.outPos > 0 && len(c.out)+len(p) > cap(c.out) {
		n := copy(c.out, c.out[c.outPos:])
		c.out, c.outPos = c.out[:n], 0
	}
	c.out = append(c.out, p...)
}

// resetOut empties the drained output buffer, keeping it if small.
func (c *Conn[S]) resetOut() {
	if cap(c.out) > keepBuf {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	c.outPos = 0
}

// flush writes the queued output with one system call.
func (c *Conn[S]) flush() {
	if c.blocked || c.state == stDialing || c.state >= stDone {
		return
	}
	p := c.out[c.outPos:]
	if len(p) == 0 {
		c.drained()
		return
	}
	n, err := sock.Write(c.fd, p)
	if writeTrace != nil {
		writeTrace(n)
	}
	c.outPos += n
	if err != nil && !sock.IsAgain(err) {
		c.fail(os.NewSyscallError("write", err))
		return
	}
	if n < len(p) {
		c.blocked = true
	}
	c.drained()
}

// drained acts on output that shrank: reset the buffer, resume reading
// below the low-water mark, finish a half-close or a graceful close.
func (c *Conn[S]) drained() {
	if c.outPos == len(c.out) {
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
			c.raise()
		}
	}
	if pend > 0 {
		return
	}
	if c.wrShut && !c.wrDone && c.state == stOpen {
		c.wrDone = true
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
	if c.eof {
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
// progress abandons the dial. Close is idempotent while the close is in
// progress and returns [ErrClosed] after. Loop goroutine only.
func (c *Conn[S]) Close() error {
	switch c.state {
	case stDialing:
		c.finish(nil)
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
	if d := c.sh.cfg.closeTimeout; d > 0 && c.timer.IsZero() {
		c.timer, _ = c.e.l.AddTimer(d, func(s *S, _ time.Time) calloop.TimerAction {
			c.timer = calloop.Token{}
			if c.state == stClosing {
				c.enter()
				defer c.leave(s)
				c.fail(&net.OpError{Op: "close", Net: c.sh.network, Addr: c.raddr, Err: os.ErrDeadlineExceeded})
			}
			return calloop.Drop()
		})
	}
	c.kick()
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
	if c.state != stOpen && c.state != stDialing {
		return ErrClosed
	}
	if c.wrShut {
		return nil
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
	c.in, c.out, c.outPos = nil, nil, 0
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
		want = calloop.Writable
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
	c.in, c.out = nil, nil
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
		c.in, c.out = nil, nil
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
	if c.drainDue {
		c.drainDue = false
		if c.state == stOpen {
			c.sh.h.OnDrain(s, c)
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
		if err := sock.SocketError(c.fd, "read"); err != nil {
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
	if err := sock.SocketError(c.fd, "connect"); err != nil {
		c.fail(&net.OpError{Op: "dial", Net: c.sh.network, Addr: c.raddr, Err: err})
		return
	}
	if !c.timer.IsZero() {
		c.e.l.Remove(c.timer)
		c.timer = calloop.Token{}
	}
	c.state = stOpen
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
		buf := c.e.readBuf(size)
		n, err := sock.Read(c.fd, buf)
		if n > 0 {
			c.deliver(s, buf[:n])
			budget -= n
			if n < size || budget <= 0 {
				return
			}
			continue
		}
		switch {
		case err == nil:
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
	c.inData = true
	k := c.sh.h.OnData(s, c, in)
	c.inData = false
	k = min(max(k, 0), len(in))
	if c.state != stOpen {
		c.in, c.again = nil, false
		return
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
	if c.again {
		c.again = false
		c.scheduleOffer()
	}
}

// atEOF handles the end of the peer's output.
func (c *Conn[S]) atEOF(s *S) {
	c.eof = true
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
	default:
		c.closeGracefully()
	}
}

var errNoOnData = errors.New("stream: Handler.OnData is nil")

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix")
// without blocking, and returns the connection at once; h.OnOpen is called
// when the connection is established, or h.OnClose with the error if it
// fails or does not complete within timeout (zero: no timeout other than
// the system's). Both are called in a later loop iteration, never from
// Dial. Data written before the connection completes is queued.
//
// Dial returns an error only for an invalid network or address, a missing
// h.OnData or a closed loop. A host name in address is resolved before Dial
// returns, which blocks: pass an IP address to stay non-blocking. Dial must
// be called on the loop goroutine (from a callback, or by the loop's owner
// between dispatches).
func Dial[S any](l *calloop.Loop[S], network, address string, timeout time.Duration, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	addr, err := resolve(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	sh := &shared[S]{h: h, cfg: cfg.norm(), network: network}
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
