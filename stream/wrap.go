package stream

import (
	"fmt"
	"net"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// Wrap makes a connection of an open descriptor: a connected stream socket
// (TCP or Unix, from a socketpair, inherited, or connected elsewhere), one
// end of a pipe or FIFO, a terminal's master side (a pty), a character
// device the loop's poller accepts (a regular file is refused). The
// descriptor is made non-blocking; the connection owns it and closes it
// when it is closed. If Wrap fails it returns an error and leaves the
// descriptor open, owned by the caller. An *os.File closes its descriptor
// when it is garbage collected: pass a duplicate (syscall.Dup) and close the
// file, or use a descriptor that no *os.File owns. O_NONBLOCK belongs to
// the open file, so it applies to every duplicate of the descriptor, in
// this process and in others that share it (a child's inherited stdio):
// give a child its own end of a pipe, not the one wrapped here.
//
// h.OnOpen is called in a later loop iteration, never from Wrap; data
// written before then is queued. Everything else is as for an accepted
// connection, with these differences for a descriptor that is not a socket:
//   - It reads and writes as its access mode allows. A descriptor open for
//     writing only never reads: [Conn.CloseWrite] and [Conn.Close] flush the
//     output and close it (the reader reads EOF), and a reader that goes
//     away closes the connection (with nil if no output was pending, else
//     with the write's error, EPIPE). A descriptor open for reading only
//     has its writing side closed from the start: Write fails with
//     [ErrClosed], and the end of input closes the connection.
//   - One open for reading and writing (a pty) cannot be half-closed:
//     CloseWrite fails with an error wrapping errors.ErrUnsupported. A
//     terminal's master side reading EIO (the other side closed) is its end
//     of input.
//   - Close does not linger for the peer's end of input (that protects
//     sockets from a reset): the descriptor is closed once the output is
//     flushed.
//   - [Conn.RemoteAddr] and [Conn.LocalAddr] are nil.
//
// Socket options are left as they are (a wrapped TCP socket gets no
// TCP_NODELAY from Wrap). A socket must be a connected stream socket: a
// listening, datagram or unconnected socket is an error. Wrap must be
// called on the loop goroutine (from a callback, or by the loop's owner
// between dispatches).
func Wrap[S any](l *calloop.Loop[S], fd int, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	ncfg, err := cfg.norm()
	if err != nil {
		return nil, err
	}
	if fd < 0 {
		return nil, fmt.Errorf("stream: Wrap: invalid descriptor %d", fd)
	}
	isSock, rd, wr, err := sock.Describe(fd)
	if err != nil {
		return nil, fmt.Errorf("stream: Wrap: descriptor %d: %w", fd, err)
	}
	network := "fd"
	var raddr net.Addr
	if isSock {
		raddr = sock.PeerAddr(fd)
		network = raddr.Network()
	}
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	if err := sock.SetNonblock(fd); err != nil {
		e.acquire()
		e.release()
		return nil, fmt.Errorf("stream: Wrap: descriptor %d: %w", fd, err)
	}
	c := newConn(e, &shared[S]{h: h, cfg: ncfg, network: network}, fd, raddr, stDialing)
	c.wrapped, c.isSock, c.interest = true, isSock, 0
	c.eof = !rd
	if !wr {
		c.wr = wrShut // no writing side
	}
	c.noHalf = !isSock && rd && wr
	e.acquire()
	tok, err := l.AddSource(c.source())
	if err != nil {
		c.fd = -1 // the caller's again
		e.release()
		return nil, fmt.Errorf("stream: Wrap: descriptor %d: %w", fd, err)
	}
	c.tok = tok
	c.raise()
	return c, nil
}
