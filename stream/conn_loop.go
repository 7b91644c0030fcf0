package stream

// A connection as a source of the loop: its registration, its events and
// the brackets around its callbacks.

import (
	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// subTask is the sub-token of the synthetic events a connection raises for
// itself: a close to finish, input to offer again, a dial that completed at
// once.
const subTask = 1

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
	if c.sh.cfg.readTimeout > 0 {
		c.watchReading()
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
	if c.fdReg == regParked {
		if want == 0 {
			return
		}
		if err := c.reg.AddFD(c.fd, 0, want, calloop.Level); err != nil {
			c.fail(err)
			return
		}
		c.fdReg, c.interest = regActive, want
		return
	}
	if want != c.interest && c.fdReg == regActive {
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
	c.removing = true
	c.tm = calloop.Token{} // a child: removed with the source
	c.e.l.Remove(c.tok)
	if c.fd >= 0 {
		sock.Close(c.fd)
		c.fd = -1
	}
	c.in = nil
	c.dropOut()
	defer c.e.release()
	if ln := c.ln; ln != nil {
		defer ln.forget(s, c)
	}
	defer c.vals.drop() // after OnClose, even if it panics
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
	c.fdReg = regActive
	return nil
}

// Unregister is called when the source is removed: by finalize, or by the
// loop's Close, which closes the descriptor here (without OnClose).
func (cs *connSource[S]) Unregister(r *calloop.Registrar) error {
	c := (*Conn[S])(cs)
	if c.fdReg == regActive {
		c.fdReg = regNone
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
		c.vals.drop()
		c.e.release()
		if c.ln != nil {
			c.ln.unlink(c)
		}
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
		if c.closeAfterDrain && c.state == stOpen && c.pause&pauseBackpressure == 0 && !c.drainDue {
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
			} else if c.fdReg == regActive {
				c.reg.DeleteFD(c.fd)
				c.fdReg, c.interest = regParked, 0
			}
		} else if err := sock.SocketError(c.fd, "read"); err != nil {
			c.fail(err)
		} else if c.fdReg == regActive {
			c.reg.DeleteFD(c.fd)
			c.fdReg, c.interest = regParked, 0
		}
	}
	return calloop.Continue, nil
}
