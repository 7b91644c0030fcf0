package stream

import (
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
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
