package stream

// The deadlines of a connection. A connection has at most one timer, a
// child of its source (adopted with calloop's Registrar.Adopt), so that the
// removal of the connection's source removes it, and a Disable of the
// source silences it. The timer watches every deadline of the connection:
//
//	deadline  applies                                        set from
//	--------  ---------------------------------------------  -------------------------
//	dial      stDialing                                      Dial's timeout (phaseAt)
//	close     stClosing, or stOpen with closeAfterDrain      CloseTimeout (phaseAt)
//	linger    stLinger                                       CloseTimeout or 5 s (phaseAt)
//	idle      stOpen                                         actAt + IdleTimeout
//	read      stOpen and reading wanted                      rdAt + ReadTimeout
//	write     stOpen or stClosing, output refused            wrAt + WriteTimeout
//
// It is armed at the earliest of them. Activity only records the time
// (actAt, rdAt, wrAt: a field store, no timer operation); when the timer
// fires it closes the connection if a deadline has passed, and otherwise
// re-arms itself at the earliest deadline, which activity has pushed back.
// A change that brings a deadline forward (a phase starts, the socket
// refuses output, reading resumes) moves the timer earlier if needed: at
// most one timer operation per such change, never one per read or write.

import (
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

// timerTrace, when set (by tests), is called at every creation or move of
// a connection's timer.
var timerTrace func()

// Deadline kinds.
const (
	dlNone = iota
	dlPhase
	dlIdle
	dlRead
	dlWrite
)

// startTimers starts the timeouts of a connection that has just opened.
func (c *Conn[S]) startTimers() {
	if !c.sh.cfg.timed {
		return
	}
	now := c.e.l.Now()
	c.actAt, c.rdAt, c.rdOn = now, now, c.readable()
	if at, k := c.deadline(); k != dlNone {
		c.armBy(at)
	}
}

// setPhase sets the deadline of the current phase (dial, close, linger) to
// d from now.
func (c *Conn[S]) setPhase(d time.Duration) {
	c.phaseAt = c.e.l.Now().Add(d)
	c.armBy(c.phaseAt)
}

// wrote records a write of n bytes; short means the socket refused the
// rest. Called only when a timeout is configured.
func (c *Conn[S]) wrote(n int, short bool) {
	if n == 0 && !short {
		return
	}
	now := c.e.l.Now()
	if n > 0 {
		c.actAt = now
	}
	if short {
		// Progress, or the start of a wait: the write deadline is WriteTimeout
		// from now.
		c.wrAt = now
		if d := c.sh.cfg.writeTimeout; d > 0 && c.state != stDialing {
			c.armBy(now.Add(d))
		}
	}
}

// watchReading notes a change of whether the connection reads: the read
// timeout counts from the moment reading is wanted again.
func (c *Conn[S]) watchReading() {
	r := c.readable()
	if r && !c.rdOn {
		c.rdAt = c.e.l.Now()
		c.armBy(c.rdAt.Add(c.sh.cfg.readTimeout))
	}
	c.rdOn = r
}

// deadline returns the earliest deadline that applies now, and its kind
// (dlNone: none).
func (c *Conn[S]) deadline() (time.Time, int) {
	var at time.Time
	kind := dlNone
	consider := func(t time.Time, k int) {
		if kind == dlNone || t.Before(at) {
			at, kind = t, k
		}
	}
	cfg := &c.sh.cfg
	switch c.state {
	case stDialing, stLinger:
		if !c.phaseAt.IsZero() {
			consider(c.phaseAt, dlPhase)
		}
	case stOpen, stClosing:
		if !c.phaseAt.IsZero() && (c.state == stClosing || c.closeAfterDrain) {
			consider(c.phaseAt, dlPhase)
		}
		if cfg.writeTimeout > 0 && c.blocked && c.pending() > 0 {
			consider(c.wrAt.Add(cfg.writeTimeout), dlWrite)
		}
		if c.state != stOpen {
			break
		}
		if cfg.idleTimeout > 0 {
			consider(c.actAt.Add(cfg.idleTimeout), dlIdle)
		}
		if cfg.readTimeout > 0 && c.readable() {
			consider(c.rdAt.Add(cfg.readTimeout), dlRead)
		}
	}
	return at, kind
}

// armBy makes the timer fire at t at the latest (it may be armed earlier:
// it then re-arms itself when it fires).
func (c *Conn[S]) armBy(t time.Time) {
	if c.state >= stDone || c.reg == nil {
		return
	}
	l := c.e.l
	if !c.tm.IsZero() && !t.Before(c.tmAt) {
		return
	}
	if timerTrace != nil {
		timerTrace()
	}
	if !c.tm.IsZero() {
		if l.ResetTimerAt(c.tm, t) == nil {
			c.tmAt = t
			return
		}
		c.tm = calloop.Token{} // gone (the loop is closing)
	}
	if c.tmFn == nil {
		c.tmFn = c.onTimer
	}
	tok, err := l.AddTimerAt(t, c.tmFn)
	if err == nil {
		if err = c.reg.Adopt(tok); err != nil {
			l.Remove(tok)
		}
	}
	if err != nil {
		c.fail(err)
		return
	}
	c.tm, c.tmAt = tok, t
}

// onTimer is the callback of the connection's timer.
func (c *Conn[S]) onTimer(s *S, _ time.Time) calloop.TimerAction {
	if c.state < stDone {
		now := c.e.l.Now()
		if c.sh.cfg.readTimeout > 0 && c.state == stOpen {
			c.watchReading() // a resume not seen yet restarts the count
		}
		if at, k := c.deadline(); k != dlNone && !now.Before(at) {
			c.enter()
			if k != dlWrite || !c.retryWrite() {
				c.expire(k)
			}
			c.leave(s) // may remove the source, and this timer with it
		}
	}
	if c.state >= stDone || c.tm.IsZero() {
		c.tm = calloop.Token{}
		return calloop.Drop()
	}
	at, k := c.deadline()
	if k == dlNone {
		c.tm = calloop.Token{}
		return calloop.Drop()
	}
	c.tmAt = at
	return calloop.At(at)
}

// retryWrite tries to write output that waited WriteTimeout for
// writability, and reports whether the socket took some (or failed). A
// peer that reads slowly frees room in the socket's buffer long before the
// system reports it writable (which it does once half the buffer is free):
// that is progress, and WriteTimeout is for a peer that makes none.
func (c *Conn[S]) retryWrite() bool {
	before, at := c.pending(), c.wrAt
	c.blocked = false
	c.flush()
	if c.state >= stDone || c.pending() < before {
		return true
	}
	c.wrAt = at // refused again: still no progress
	return false
}

// expire closes the connection for the deadline of kind k, which has
// passed.
func (c *Conn[S]) expire(k int) {
	op, err := "", os.ErrDeadlineExceeded
	switch k {
	case dlPhase:
		switch c.state {
		case stDialing:
			op = "dial"
		case stLinger:
			c.finish(nil) // the peer did not finish sending: close anyway
			return
		default:
			op = "close"
		}
	case dlIdle:
		op, err = "idle", ErrIdleTimeout
	case dlRead:
		op, err = "read", ErrReadTimeout
	case dlWrite:
		op, err = "write", ErrWriteTimeout
	}
	c.fail(&net.OpError{Op: op, Net: c.sh.network, Addr: c.raddr, Err: err})
}
