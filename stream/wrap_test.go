//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type wrapState struct {
	got     []byte
	opened  int
	closes  map[string][]error
	readEOF int
}

func (s *wrapState) closed(name string, err error) {
	if s.closes == nil {
		s.closes = map[string][]error{}
	}
	s.closes[name] = append(s.closes[name], err)
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return p[0], p[1]
}

// A pipe's two ends wrapped on one loop: 4 MiB go through (the pipe holds
// far less, so the writer waits for writability), CloseWrite closes the
// writing end, the reader sees EOF, and both close cleanly.
func TestWrapPipe(t *testing.T) {
	data := pattern(4<<20, 3)
	r, w := pipe(t)
	var st wrapState
	e := start(t, &st, func(l *calloop.Loop[wrapState]) {
		_, err := stream.Wrap(l, r, stream.Config{}, stream.Handler[wrapState]{
			OnOpen: func(s *wrapState, c *stream.Conn[wrapState]) {
				s.opened++
				if c.RemoteAddr() != nil || c.LocalAddr() != nil {
					t.Errorf("addresses of a pipe: %v %v", c.RemoteAddr(), c.LocalAddr())
				}
				if _, err := c.Write([]byte("x")); !errors.Is(err, stream.ErrClosed) {
					t.Errorf("Write on a read end: %v, want ErrClosed", err)
				}
			},
			OnData: func(s *wrapState, c *stream.Conn[wrapState], in []byte) int {
				s.got = append(s.got, in...)
				return len(in)
			},
			OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) { s.closed("r", err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Wrap(l, w, stream.Config{}, stream.Handler[wrapState]{
			OnOpen: func(s *wrapState, c *stream.Conn[wrapState]) {
				s.opened++
				if _, err := c.Write(data); err != nil {
					t.Error(err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Error(err)
				}
			},
			OnData:  func(s *wrapState, c *stream.Conn[wrapState], in []byte) int { return len(in) },
			OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) { s.closed("w", err) },
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("both closed", func(s *wrapState) bool { return len(s.closes["r"]) > 0 && len(s.closes["w"]) > 0 })
	e.do(func(s *wrapState) {
		if s.opened != 2 {
			t.Errorf("%d OnOpen calls", s.opened)
		}
		if !bytes.Equal(s.got, data) {
			t.Errorf("read %d bytes, want %d (or different content)", len(s.got), len(data))
		}
		for _, name := range []string{"r", "w"} {
			if errs := s.closes[name]; len(errs) != 1 || errs[0] != nil {
				t.Errorf("%s: OnClose %v, want one nil", name, errs)
			}
		}
	})
}

// One end of a socketpair: a socket, so it half-closes with shutdown and
// its peer address is known.
func TestWrapSocketpair(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	var st wrapState
	e := start(t, &st, func(l *calloop.Loop[wrapState]) {
		_, err := stream.Wrap(l, fds[0], stream.Config{}, stream.Handler[wrapState]{
			OnOpen: func(s *wrapState, c *stream.Conn[wrapState]) {
				if _, ok := c.RemoteAddr().(*net.UnixAddr); !ok {
					t.Errorf("RemoteAddr %T, want *net.UnixAddr", c.RemoteAddr())
				}
			},
			OnData: func(s *wrapState, c *stream.Conn[wrapState], in []byte) int {
				c.Write(in)
				c.CloseWrite()
				return len(in)
			},
			OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) { s.closed("c", err) },
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := peer.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if n, err := peer.Read(buf); n != 0 || err == nil {
		t.Fatalf("after CloseWrite: read %q, %v; want EOF", buf[:n], err)
	}
	unix.Shutdown(fds[1], unix.SHUT_WR)
	e.waitFor("close", func(s *wrapState) bool { return len(s.closes["c"]) > 0 })
	e.do(func(s *wrapState) {
		if errs := s.closes["c"]; len(errs) != 1 || errs[0] != nil {
			t.Errorf("OnClose %v, want one nil", errs)
		}
	})
}

// The writing end of a pipe whose reader goes away: with nothing pending
// the connection closes cleanly; with output pending it closes with the
// write's error (EPIPE).
func TestWrapPipeReaderGone(t *testing.T) {
	for _, pending := range []bool{false, true} {
		r, w := pipe(t)
		var st wrapState
		var conn *stream.Conn[wrapState]
		e := start(t, &st, func(l *calloop.Loop[wrapState]) {
			var err error
			conn, err = stream.Wrap(l, w, stream.Config{}, stream.Handler[wrapState]{
				OnOpen: func(s *wrapState, c *stream.Conn[wrapState]) { s.opened++ },
				OnData: func(s *wrapState, c *stream.Conn[wrapState], in []byte) int { return len(in) },
				OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) {
					s.closed("w", err)
				},
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		e.waitFor("open", func(s *wrapState) bool { return s.opened == 1 })
		if pending {
			e.do(func(s *wrapState) {
				conn.Write(make([]byte, 1<<20))
				if conn.Buffered() == 0 {
					t.Error("a pipe took 1 MiB at once")
				}
			})
		}
		unix.Close(r)
		e.waitFor("close", func(s *wrapState) bool { return len(s.closes["w"]) > 0 })
		e.do(func(s *wrapState) {
			errs := s.closes["w"]
			switch {
			case len(errs) != 1:
				t.Errorf("pending %v: OnClose %v, want one call", pending, errs)
			case pending && !errors.Is(errs[0], syscall.EPIPE):
				t.Errorf("pending: OnClose %v, want EPIPE", errs[0])
			case !pending && errs[0] != nil:
				t.Errorf("nothing pending: OnClose %v, want nil", errs[0])
			}
		})
		e.stop()
	}
}

// Descriptors Wrap refuses, each left open for the caller.
func TestWrapErrors(t *testing.T) {
	l, err := calloop.New[wrapState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := stream.Handler[wrapState]{OnData: func(*wrapState, *stream.Conn[wrapState], []byte) int { return 0 }}

	if _, err := stream.Wrap(l, -1, stream.Config{}, h); err == nil {
		t.Error("Wrap(-1) succeeded")
	}
	r, w := pipe(t)
	unix.Close(r)
	unix.Close(w)
	if _, err := stream.Wrap(l, r, stream.Config{}, h); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Wrap of a closed descriptor: %v, want EBADF", err)
	}
	if _, err := stream.Wrap(l, 0, stream.Config{}, stream.Handler[wrapState]{}); err == nil {
		t.Error("Wrap without OnData succeeded")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, _ := ln.(*net.TCPListener).File()
	defer lf.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	uf, _ := udp.(*net.UDPConn).File()
	defer uf.Close()
	unconnected, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(unconnected)
	reg, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for name, fd := range map[string]int{
		"listening socket":   int(lf.Fd()),
		"datagram socket":    int(uf.Fd()),
		"unconnected socket": unconnected,
		"regular file":       int(reg.Fd()),
	} {
		if c, err := stream.Wrap(l, fd, stream.Config{}, h); err == nil {
			t.Errorf("Wrap of a %s succeeded", name)
			c.Abort()
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("%s: descriptor closed by a failed Wrap: %v", name, err)
		}
	}
}

// A FIFO opened for reading and writing reads back what it writes, and
// cannot be half-closed.
func TestWrapFIFOReadWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st wrapState
	e := start(t, &st, func(l *calloop.Loop[wrapState]) {
		_, err := stream.Wrap(l, fd, stream.Config{}, stream.Handler[wrapState]{
			OnOpen: func(s *wrapState, c *stream.Conn[wrapState]) {
				if err := c.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
					t.Errorf("CloseWrite: %v, want ErrUnsupported", err)
				}
				c.Write([]byte("loop"))
			},
			OnData: func(s *wrapState, c *stream.Conn[wrapState], in []byte) int {
				s.got = append(s.got, in...)
				if len(s.got) == 4 {
					c.Close()
				}
				return len(in)
			},
			OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) { s.closed("f", err) },
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("close", func(s *wrapState) bool { return len(s.closes["f"]) > 0 })
	e.do(func(s *wrapState) {
		if string(s.got) != "loop" || s.closes["f"][0] != nil {
			t.Errorf("got %q, OnClose %v", s.got, s.closes["f"])
		}
	})
}

// A terminal's master side: what the other side writes is read, and the
// other side's close (EIO on the master) is the end of input.
func TestWrapPty(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer tty.Close()
	fd, err := unix.Dup(int(master.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	var st wrapState
	e := start(t, &st, func(l *calloop.Loop[wrapState]) {
		_, err := stream.Wrap(l, fd, stream.Config{}, stream.Handler[wrapState]{
			OnData: func(s *wrapState, c *stream.Conn[wrapState], in []byte) int {
				s.got = append(s.got, in...)
				return len(in)
			},
			OnReadClosed: func(s *wrapState, c *stream.Conn[wrapState]) {
				s.readEOF++
				c.Close()
			},
			OnClose: func(s *wrapState, c *stream.Conn[wrapState], err error) { s.closed("m", err) },
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if _, err := tty.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("data", func(s *wrapState) bool { return len(s.got) >= 5 })
	tty.Close()
	e.waitFor("close", func(s *wrapState) bool { return len(s.closes["m"]) > 0 })
	e.do(func(s *wrapState) {
		if string(s.got) != "hello" || s.readEOF != 1 || s.closes["m"][0] != nil {
			t.Errorf("got %q, %d OnReadClosed, OnClose %v", s.got, s.readEOF, s.closes["m"])
		}
	})
}
