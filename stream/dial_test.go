//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type dialState struct {
	opened, closed int
	err            error
	got            []byte
	events         []string
	local          net.Addr
}

func dialHandler() stream.Handler[dialState] {
	return stream.Handler[dialState]{
		OnOpen: func(s *dialState, c *stream.Conn[dialState]) {
			s.opened++
			s.events = append(s.events, "open")
			s.local = c.LocalAddr()
		},
		OnData: func(s *dialState, c *stream.Conn[dialState], in []byte) int {
			s.got = append(s.got, in...)
			return len(in)
		},
		OnClose: func(s *dialState, c *stream.Conn[dialState], err error) {
			s.closed++
			s.err = err
			s.events = append(s.events, "close")
		},
	}
}

// Dial to a listener: data written before the connection completes is
// sent once it does, OnOpen comes first, and the addresses are right.
func TestDialSuccess(t *testing.T) {
	for _, network := range []string{"tcp", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			switch network {
			case "unix":
				addr = sockPath(t)
			case "tcp6":
				addr = "[::1]:0"
			}
			nl, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err) // IPv6 loopback is expected on the test machines
			}
			defer nl.Close()
			var st dialState
			var c *stream.Conn[dialState]
			e := start(t, &st, func(l *calloop.Loop[dialState]) {
				var err error
				c, err = stream.Dial(l, network, nl.Addr().String(), 5*time.Second, stream.Config{}, dialHandler())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.WriteString("queued before connect"); err != nil {
					t.Fatal(err)
				}
			})
			peer, err := nl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			buf := make([]byte, 21)
			if _, err := peer.Read(buf); err != nil || string(buf) != "queued before connect" {
				t.Fatalf("peer read %q, %v", buf, err)
			}
			peer.Write([]byte("reply"))
			e.waitFor("reply", func(s *dialState) bool { return string(s.got) == "reply" })
			e.do(func(s *dialState) {
				if s.opened != 1 {
					t.Errorf("opened %d", s.opened)
				}
				if c.RemoteAddr().String() != nl.Addr().String() {
					t.Errorf("RemoteAddr %v, want %v", c.RemoteAddr(), nl.Addr())
				}
				if network != "unix" && s.local.String() != peer.RemoteAddr().String() {
					t.Errorf("LocalAddr %v, want %v", s.local, peer.RemoteAddr())
				}
				c.Close()
			})
			e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
			e.do(func(s *dialState) {
				if s.err != nil || len(s.events) != 2 {
					t.Errorf("events %v, err %v", s.events, s.err)
				}
			})
		})
	}
}

// A refused dial reaches OnClose with the error, and OnOpen is not called.
func TestDialRefused(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := nl.Addr().String()
	nl.Close() // nothing listens there now
	path := sockPath(t)

	var st dialState
	var st2 dialState
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		if _, err := stream.Dial(l, "tcp", addr, 5*time.Second, stream.Config{}, dialHandler()); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	e.do(func(s *dialState) {
		var op *net.OpError
		if !errors.Is(s.err, syscall.ECONNREFUSED) || !errors.As(s.err, &op) || op.Op != "dial" {
			t.Errorf("OnClose error %v, want a dial error for ECONNREFUSED", s.err)
		}
		if s.opened != 0 {
			t.Error("OnOpen called")
		}
		// A Unix socket that does not exist fails at once, but is reported
		// the same way, in a later iteration.
		h := dialHandler()
		h.OnClose = func(_ *dialState, _ *stream.Conn[dialState], err error) { st2.closed++; st2.err = err }
		c, err := stream.Dial(e.l, "unix", path, 0, stream.Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
		if st2.closed != 0 {
			t.Error("OnClose called from inside Dial")
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Write on a failed dial: %v", err)
		}
	})
	e.waitFor("unix close", func(s *dialState) bool { return st2.closed == 1 })
	e.do(func(s *dialState) {
		if !errors.Is(st2.err, syscall.ENOENT) {
			t.Errorf("unix dial error %v, want ENOENT", st2.err)
		}
	})
}

// Dial's own errors: invalid network, address or handler.
func TestDialErrors(t *testing.T) {
	l, err := calloop.New[dialState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := stream.Dial(l, "udp", "127.0.0.1:1", 0, stream.Config{}, dialHandler()); err == nil {
		t.Error("udp accepted")
	}
	if _, err := stream.Dial(l, "tcp", "127.0.0.1:notaport", 0, stream.Config{}, dialHandler()); err == nil {
		t.Error("bad port accepted")
	}
	if _, err := stream.Dial(l, "tcp", "127.0.0.1:1", 0, stream.Config{}, stream.Handler[dialState]{}); err == nil {
		t.Error("nil OnData accepted")
	}
	if _, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[dialState]{}); err == nil {
		t.Error("Listen: nil OnData accepted")
	}
}
