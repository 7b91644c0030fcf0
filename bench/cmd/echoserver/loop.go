package main

import (
	"context"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/calloop-go/calloop"
	"golang.org/x/sys/unix"
)

// serveLoop is the echo server on one calloop loop with raw non-blocking
// sockets: the listener and every connection are level-triggered fd sources.
// A connection's readable callback reads into the loop's one buffer and
// writes the bytes straight back; what the socket does not take is kept and
// the connection switches to write interest until it is flushed (no reading
// meanwhile: backpressure).
func serveLoop(addr string, ready func()) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	lfd, err := listenTCP(ap)
	if err != nil {
		return err
	}
	defer unix.Close(lfd)

	type conn struct {
		fd      int
		tok     calloop.Token
		pending []byte // unsent echo
	}
	type server struct {
		buf []byte
	}

	l, err := calloop.New[server](loopOptions...)
	if err != nil {
		return err
	}
	defer l.Close()

	closeConn := func(c *conn) calloop.Action {
		unix.Close(c.fd)
		return calloop.Remove
	}
	onConn := func(c *conn) func(s *server, ev calloop.Events) calloop.Action {
		return func(s *server, ev calloop.Events) calloop.Action {
			if len(c.pending) > 0 {
				if ev&calloop.Writable == 0 {
					return calloop.Continue
				}
				k, err := sockWrite(c.fd, c.pending)
				if err == unix.EAGAIN {
					return calloop.Continue
				}
				if err != nil {
					return closeConn(c)
				}
				c.pending = c.pending[k:]
				if len(c.pending) == 0 {
					c.pending = nil
					if err := l.ModifyFD(c.tok, calloop.Readable, calloop.Level); err != nil {
						l.Fail(err)
						return closeConn(c)
					}
				}
				return calloop.Continue
			}
			if ev&calloop.Readable == 0 {
				return calloop.Continue
			}
			k, err := sockRead(c.fd, s.buf)
			if err == unix.EAGAIN {
				return calloop.Continue
			}
			if err != nil || k == 0 {
				return closeConn(c)
			}
			data := s.buf[:k]
			w, err := sockWrite(c.fd, data)
			if err == unix.EAGAIN {
				w, err = 0, nil
			}
			if err != nil {
				return closeConn(c)
			}
			if w < k {
				c.pending = append([]byte(nil), data[w:]...)
				if err := l.ModifyFD(c.tok, calloop.Writable, calloop.Level); err != nil {
					l.Fail(err)
					return closeConn(c)
				}
			}
			return calloop.Continue
		}
	}

	if _, err := l.AddFD(lfd, calloop.Readable, calloop.Level, func(s *server, _ calloop.Events) calloop.Action {
		for range 64 { // accept budget per event
			nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err == unix.EAGAIN || err == unix.ECONNABORTED || err == unix.EINTR {
				return calloop.Continue
			}
			if err != nil {
				l.Fail(fmt.Errorf("accept: %w", err))
				return calloop.Continue
			}
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			c := &conn{fd: nfd}
			tok, err := l.AddFD(nfd, calloop.Readable, calloop.Level, onConn(c))
			if err != nil {
				unix.Close(nfd)
				continue
			}
			c.tok = tok
		}
		return calloop.Continue
	}); err != nil {
		return err
	}

	ready()
	return l.Run(context.Background(), &server{buf: make([]byte, 64<<10)})
}

// sockRead and sockWrite are the go server's read(2) and write(2): unix.Read
// and unix.Write as a user would call them, or with -rawio (diagnostics) raw
// system calls that bypass the scheduler's entersyscall/exitsyscall.
var (
	sockRead  = unix.Read
	sockWrite = unix.Write
)

func rawRead(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// listenTCP opens a non-blocking TCP listener on ap with SO_REUSEADDR.
func listenTCP(ap netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %v: %w", ap, err)
	}
	if err := unix.Listen(fd, 1024); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen: %w", err)
	}
	return fd, nil
}
