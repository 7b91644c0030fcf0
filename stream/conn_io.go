package stream

// The I/O of a connection: writing and flushing its output, reading and
// delivering its input, and the steps of its close.

import (
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop/internal/sock"
)

// writeTrace, when set (by tests), sees the result of every write call.
var writeTrace func(n int)

// readable reports whether the connection wants input now.
func (c *Conn[S]) readable() bool {
	return c.state == stOpen && c.pause == 0 && !c.eof
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
		c.pause |= pauseBackpressure
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

// errOr returns the connection's close reason, or err if it has none.
func (c *Conn[S]) errOr(err error) error {
	if c.err != nil {
		return c.err
	}
	return err
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
	if c.sh.cfg.timed {
		c.wrote(n, short)
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
	if c.pause&pauseOffer != 0 && pend <= c.sh.cfg.low {
		c.pause &^= pauseOffer
		c.scheduleOffer()
	}
	if c.pause&pauseBackpressure != 0 && pend <= c.sh.cfg.low {
		c.pause &^= pauseBackpressure
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
	if c.wr == wrShutting && c.state == stOpen {
		c.wr = wrShut
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
	if c.wr != wrShut {
		c.wr = wrShut
		if err := sock.ShutdownWrite(c.fd); err != nil {
			c.finish(nil) // the peer is gone already
			return
		}
	}
	c.state = stLinger
	d := c.sh.cfg.closeTimeout
	if d <= 0 {
		d = defaultLinger
	}
	c.phaseAt = time.Time{}
	c.setPhase(d)
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

func (c *Conn[S]) closeGracefully() {
	if c.tl != nil {
		c.tl.closeNotify()
	}
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
	if d := c.sh.cfg.closeTimeout; d > 0 && c.phaseAt.IsZero() {
		c.setPhase(d)
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

// scheduleOffer offers the kept input in the next iteration if the output
// is at LowWater, or pauses reading until it is.
func (c *Conn[S]) scheduleOffer() {
	if len(c.in) == 0 || c.state != stOpen || c.eof {
		return
	}
	if c.pending() > c.sh.cfg.low {
		c.pause |= pauseOffer
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

// connected completes a dial.
func (c *Conn[S]) connected(s *S) {
	if c.isSock {
		if err := sock.SocketError(c.fd, "connect"); err != nil {
			c.fail(&net.OpError{Op: "dial", Net: c.sh.network, Addr: c.raddr, Err: err})
			return
		}
	}
	c.state = stOpen
	c.phaseAt = time.Time{} // the dial's deadline
	if c.closeReq {
		// Closed while dialing, with output queued: send it, then close
		// (the user is done: no OnOpen).
		c.closeGracefully()
		return
	}
	c.startTimers()
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
		if spare := cap(c.in) - len(c.in); len(c.in) > 0 && c.tl == nil && (spare >= size || c.inReserved && spare > 0) {
			buf, direct = c.in[len(c.in):cap(c.in)], true
			buf = buf[:min(len(buf), max(budget, size))]
		}
		n, err := sock.Read(c.fd, buf)
		if n > 0 {
			if c.sh.cfg.timed {
				now := c.e.l.Now()
				c.actAt, c.rdAt = now, now
			}
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
	if c.tl != nil && data != nil && !c.tl.plain {
		c.tl.input(s, data) // TLS: data is ciphertext
		return
	}
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
	if c.tl != nil && !c.tl.atEOF(s) {
		return
	}
	c.eof = true
	if len(c.in) > 0 {
		c.deliver(s, nil) // the final offer
		if c.state != stOpen {
			return
		}
	}
	c.in = nil
	switch {
	case c.wr != wrOpen:
		if c.wr == wrShut {
			c.finish(nil)
		} else {
			c.closeGracefully()
		}
	case c.sh.h.OnReadClosed != nil:
		c.sh.h.OnReadClosed(s, c)
	case c.sh.h.OnDrain != nil && (c.pause&pauseBackpressure != 0 || c.drainDue):
		// A producer waits for OnDrain to write the rest of its
		// response: let it finish before closing.
		c.closeAfterDrain = true
		c.armCloseTimer()
	default:
		c.closeGracefully()
	}
}
