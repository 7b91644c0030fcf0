//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type shutState struct {
	opened  int
	closes  []error
	done    []error
	order   []string
	inShut  bool
	ln      *stream.Listener[shutState]
	hoarder *stream.Conn[shutState]
}

func shutListen(t *testing.T) *env[shutState] {
	var st shutState
	return start(t, &st, func(l *calloop.Loop[shutState]) {
		var err error
		st.ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[shutState]{
			OnOpen: func(s *shutState, c *stream.Conn[shutState]) { s.opened++ },
			OnData: func(s *shutState, c *stream.Conn[shutState], in []byte) int {
				if string(in) == "hoard" {
					s.hoarder = c
					c.Write(make([]byte, 32<<20)) // more than the peer's buffers take
				} else {
					c.Write(in)
				}
				return len(in)
			},
			OnClose: func(s *shutState, c *stream.Conn[shutState], err error) {
				s.closes = append(s.closes, err)
				s.order = append(s.order, "close")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func shutdown(e *env[shutState], timeout time.Duration) {
	e.do(func(s *shutState) {
		s.inShut = true
		err := s.ln.Shutdown(timeout, func(s *shutState, err error) {
			if s.inShut {
				e.t.Error("done called from inside Shutdown")
			}
			s.done = append(s.done, err)
			s.order = append(s.order, "done")
		})
		s.inShut = false
		if err != nil {
			e.t.Error(err)
		}
		if err := s.ln.Shutdown(timeout, nil); !errors.Is(err, stream.ErrClosed) {
			e.t.Errorf("second Shutdown: %v, want ErrClosed", err)
		}
	})
}

// Shutdown closes every connection gracefully (each peer gets its replies,
// then EOF), stops accepting, and calls done after the last OnClose.
func TestShutdownGraceful(t *testing.T) {
	e := shutListen(t)
	var addr string
	e.do(func(s *shutState) { addr = s.ln.Addr().String() })
	var peers []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peers = append(peers, c)
	}
	e.waitFor("opens", func(s *shutState) bool { return s.opened == 3 })
	for _, c := range peers {
		c.Write([]byte("ping"))
	}
	shutdown(e, 5*time.Second)
	for i, c := range peers {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || (len(got) != 0 && string(got) != "ping") {
			t.Errorf("peer %d: got %q, %v", i, got, err)
		}
		c.Close()
	}
	e.waitFor("done", func(s *shutState) bool { return len(s.done) == 1 })
	e.do(func(s *shutState) {
		if len(s.closes) != 3 || s.order[len(s.order)-1] != "done" || s.done[0] != nil {
			t.Errorf("closes %v, order %v, done %v", s.closes, s.order, s.done)
		}
		for _, err := range s.closes {
			if err != nil {
				t.Errorf("OnClose %v", err)
			}
		}
	})
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after Shutdown")
	}
}

// A connection whose peer does not read cannot flush: at the timeout it is
// closed with an error, and done reports the deadline.
func TestShutdownTimeout(t *testing.T) {
	e := shutListen(t)
	var addr string
	e.do(func(s *shutState) { addr = s.ln.Addr().String() })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hoard"))
	e.waitFor("hoarder", func(s *shutState) bool { return s.hoarder != nil && s.hoarder.Buffered() > 0 })
	shutdown(e, 100*time.Millisecond)
	e.waitFor("done", func(s *shutState) bool { return len(s.done) == 1 })
	e.do(func(s *shutState) {
		if len(s.closes) != 1 || !errors.Is(s.closes[0], os.ErrDeadlineExceeded) {
			t.Errorf("OnClose %v, want one ErrDeadlineExceeded", s.closes)
		}
		if !errors.Is(s.done[0], os.ErrDeadlineExceeded) {
			t.Errorf("done %v, want ErrDeadlineExceeded", s.done[0])
		}
	})
}

// With no connection open, done still comes, in a later callback.
func TestShutdownIdle(t *testing.T) {
	e := shutListen(t)
	shutdown(e, 0)
	e.waitFor("done", func(s *shutState) bool { return len(s.done) == 1 })
	e.do(func(s *shutState) {
		if s.done[0] != nil {
			t.Errorf("done %v", s.done[0])
		}
	})
}
