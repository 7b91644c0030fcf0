package stream

import (
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// acceptTrace, when set (by tests), sees the result of every accept call.
var acceptTrace func(err error)

const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 100 * time.Millisecond
)

// Listener accepts connections on a loop. It is a source of the loop: each
// accepted connection becomes a [Conn] with the listener's [Handler] and
// [Config], and its OnOpen is called on the loop goroutine.
//
// A listener accepts at most Config.AcceptBudget connections per loop
// iteration. When the process or the system runs out of descriptors
// (EMFILE, ENFILE) it stops accepting for a while (10 ms, doubling up to
// 100 ms while the shortage lasts) instead of spinning; pending peers wait
// in the kernel's backlog meanwhile.
//
// Its methods must be called on the loop goroutine, except Addr, which may
// be called from any goroutine.
type Listener[S any] struct {
	e        *engine[S]
	sh       *shared[S]
	reg      *calloop.Registrar
	tok      calloop.Token
	timer    calloop.Token
	fd       int
	addr     net.Addr
	path     string // unix socket file to remove on Close
	backoff  time.Duration
	paused   bool
	closed   bool
	removing bool

	conns    *Conn[S] // open connections accepted here (a list through lnNext)
	nconns   int
	shutdown bool                  // Shutdown called
	done     func(s *S, err error) // Shutdown's callback, until called
	doneErr  error
	stimer   calloop.Token // Shutdown's deadline
}

// Listen listens on address for network ("tcp", "tcp4", "tcp6" or "unix")
// and accepts connections on loop l with handler h (h.OnData is required)
// and cfg. A TCP address with an empty or zero port picks a free port (see
// [Listener.Addr]); "tcp" with no host listens on both IPv4 and IPv6 where
// the system allows it. A Unix socket file that already exists is an
// error; [Listener.Close] removes the file. Listen must be called on the
// loop goroutine (from a callback, or by the loop's owner between
// dispatches).
func Listen[S any](l *calloop.Loop[S], network, address string, cfg Config, h Handler[S]) (*Listener[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	addr, err := resolve(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := cfg.norm()
	if err != nil {
		return nil, err
	}
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	fd, err := sock.Listen(network, addr, c.backlog, c.reusePort)
	if err != nil {
		e.acquire()
		e.release()
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	ln := &Listener[S]{e: e, sh: &shared[S]{h: h, cfg: c, network: network}, fd: fd}
	ln.addr = sock.LocalAddr(fd)
	if ln.addr == nil {
		ln.addr = addr
	}
	if ua, ok := addr.(*net.UnixAddr); ok {
		ln.path = ua.Name
	}
	e.acquire()
	tok, err := l.AddSource((*listenerSource[S])(ln))
	if err != nil {
		ln.closeFD()
		e.release()
		return nil, err
	}
	ln.tok = tok
	return ln, nil
}

// Addr returns the address the listener is bound to, with the actual port
// when port 0 was asked for. Safe from any goroutine.
func (ln *Listener[S]) Addr() net.Addr { return ln.addr }

// Close stops accepting and closes the listening socket (and removes the
// file of a Unix socket); connections already accepted stay open. A second
// Close returns [ErrClosed]. Loop goroutine only.
func (ln *Listener[S]) Close() error {
	if ln.closed {
		return ErrClosed
	}
	ln.closed = true
	if !ln.timer.IsZero() {
		ln.e.l.Remove(ln.timer)
		ln.timer = calloop.Token{}
	}
	ln.removing = true
	ln.e.l.Remove(ln.tok)
	ln.closeFD()
	ln.e.release()
	return nil
}

func (ln *Listener[S]) closeFD() {
	sock.Close(ln.fd)
	ln.fd = -1
	if ln.path != "" {
		sock.Unlink(ln.path)
	}
}

// listenerSource is a Listener as the loop sees it: the calloop.Source
// methods live on this type so that they are not part of Listener's API.
type listenerSource[S any] Listener[S]

func (ls *listenerSource[S]) Register(r *calloop.Registrar) error {
	ln := (*Listener[S])(ls)
	ln.reg = r
	return r.AddFD(ln.fd, 0, calloop.Readable, calloop.Level)
}

// Unregister is called when the source is removed: by Close, or by the
// loop's Close, which closes the listener here.
func (ls *listenerSource[S]) Unregister(r *calloop.Registrar) error {
	ln := (*Listener[S])(ls)
	if ln.fd >= 0 {
		r.DeleteFD(ln.fd)
	}
	if !ln.removing && !ln.closed {
		ln.closed = true
		ln.closeFD()
		ln.e.release()
	}
	return nil
}

// Process accepts pending connections, at most AcceptBudget of them.
func (ls *listenerSource[S]) Process(s *S, _ uint16, _ calloop.Events) (calloop.Action, error) {
	ln := (*Listener[S])(ls)
	if ln.closed || ln.paused {
		return calloop.Continue, nil
	}
	for i := 0; i < ln.sh.cfg.acceptBudget && !ln.closed; i++ {
		fd, raddr, err := sock.Accept(ln.fd)
		if acceptTrace != nil {
			acceptTrace(err)
		}
		if err != nil {
			switch {
			case sock.IsAgain(err):
				ln.backoff = 0
			case sock.IsAcceptRetry(err):
				continue
			default:
				// Out of descriptors (or an unexpected failure): retrying at
				// once would spin on the same error.
				ln.pause()
			}
			return calloop.Continue, nil
		}
		ln.backoff = 0
		ln.accepted(s, fd, raddr)
	}
	return calloop.Continue, nil
}

func (ln *Listener[S]) accepted(s *S, fd int, raddr net.Addr) {
	c := newConn(ln.e, ln.sh, fd, raddr, stOpen)
	ln.e.acquire()
	tok, err := ln.e.l.AddSource(c.source())
	if err != nil {
		sock.Close(fd)
		ln.e.release()
		return
	}
	c.tok = tok
	c.ln, c.lnNext = ln, ln.conns
	if ln.conns != nil {
		ln.conns.lnPrev = c
	}
	ln.conns = c
	ln.nconns++
	c.startTimers()
	c.enter()
	defer c.leave(s)
	if fn := ln.sh.h.OnOpen; fn != nil {
		fn(s, c)
	}
}

// unlink removes c from the listener's list of open connections.
func (ln *Listener[S]) unlink(c *Conn[S]) {
	if c.lnPrev != nil {
		c.lnPrev.lnNext = c.lnNext
	} else if ln.conns == c {
		ln.conns = c.lnNext
	} else {
		return // not in the list
	}
	if c.lnNext != nil {
		c.lnNext.lnPrev = c.lnPrev
	}
	c.lnPrev, c.lnNext = nil, nil
	ln.nconns--
}

// forget unlinks a closed connection and finishes a shutdown after the
// last one.
func (ln *Listener[S]) forget(s *S, c *Conn[S]) {
	ln.unlink(c)
	if ln.shutdown && ln.nconns == 0 {
		ln.finishShutdown(s)
	}
}

// Shutdown shuts the listener down gracefully: it stops accepting and
// closes the listening socket at once (as [Listener.Close] does), then
// closes every connection it accepted that is still open with
// [Conn.Close] (each flushes its output; its OnClose follows as usual).
// When the last of them has closed, done (if not nil) is called with nil,
// in a later callback, never from Shutdown, even when no connection is
// open. If timeout is positive and connections are still open when it
// passes, they are closed at once, dropping their output (their OnClose
// gets an error wrapping os.ErrDeadlineExceeded), and done gets an error
// wrapping os.ErrDeadlineExceeded. done is not called if the loop is
// closed first. Shutdown returns [ErrClosed] if the listener is already
// closed or shut down. Loop goroutine only.
func (ln *Listener[S]) Shutdown(timeout time.Duration, done func(s *S, err error)) error {
	if ln.closed {
		return ErrClosed
	}
	ln.Close()
	ln.shutdown, ln.done = true, done
	for c := ln.conns; c != nil; c = c.lnNext {
		c.Close()
	}
	l := ln.e.l
	if ln.nconns == 0 {
		// Nothing to wait for: done in the next iteration.
		ln.stimer, _ = l.AddTimer(0, func(s *S, _ time.Time) calloop.TimerAction {
			ln.stimer = calloop.Token{}
			ln.finishShutdown(s)
			return calloop.Drop()
		})
		return nil
	}
	if timeout > 0 {
		ln.stimer, _ = l.AddTimer(timeout, func(s *S, _ time.Time) calloop.TimerAction {
			ln.stimer = calloop.Token{}
			ln.doneErr = &net.OpError{Op: "shutdown", Net: ln.sh.network, Addr: ln.addr, Err: os.ErrDeadlineExceeded}
			for c := ln.conns; c != nil; c = c.lnNext {
				if c.state < stDone {
					c.fail(&net.OpError{Op: "close", Net: ln.sh.network, Addr: c.raddr, Err: os.ErrDeadlineExceeded})
				}
			}
			return calloop.Drop()
		})
	}
	return nil
}

// finishShutdown calls Shutdown's done, once.
func (ln *Listener[S]) finishShutdown(s *S) {
	if !ln.stimer.IsZero() {
		ln.e.l.Remove(ln.stimer)
		ln.stimer = calloop.Token{}
	}
	if fn := ln.done; fn != nil {
		ln.done = nil
		fn(s, ln.doneErr)
	}
}

// pause stops accepting for the back-off delay.
func (ln *Listener[S]) pause() {
	ln.backoff = min(max(2*ln.backoff, minBackoff), maxBackoff)
	ln.paused = true
	ln.reg.ModifyFD(ln.fd, 0, 0, calloop.Level)
	ln.timer, _ = ln.e.l.AddTimer(ln.backoff, func(*S, time.Time) calloop.TimerAction {
		ln.timer = calloop.Token{}
		if !ln.closed {
			ln.paused = false
			ln.reg.ModifyFD(ln.fd, 0, calloop.Readable, calloop.Level)
		}
		return calloop.Drop()
	})
	if !ln.timer.IsZero() {
		// A child of the listener's source: removed with it.
		ln.reg.Adopt(ln.timer)
	}
}
