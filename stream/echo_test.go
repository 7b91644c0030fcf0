//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type echoState struct {
	opened, closed int
	got            int
	errs           []error
}

func echoHandler() stream.Handler[echoState] {
	return stream.Handler[echoState]{
		OnOpen: func(s *echoState, c *stream.Conn[echoState]) { s.opened++ },
		OnData: func(s *echoState, c *stream.Conn[echoState], in []byte) int {
			c.Write(in)
			return len(in)
		},
		OnClose: func(s *echoState, c *stream.Conn[echoState], err error) {
			s.closed++
			if err != nil {
				s.errs = append(s.errs, err)
			}
		},
	}
}

func TestEcho(t *testing.T) {
	for _, network := range []string{"tcp", "tcp4", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = sockPath(t)
			}
			var st echoState
			var ln *stream.Listener[echoState]
			e := start(t, &st, func(l *calloop.Loop[echoState]) {
				var err error
				ln, err = stream.Listen(l, network, addr, stream.Config{}, echoHandler())
				if err != nil {
					t.Fatal(err)
				}
			})
			c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				msg := bytes.Repeat([]byte{byte(i)}, i+1)
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo %d: got %q", i, got)
				}
			}
			c.Close()
			e.waitFor("close", func(s *echoState) bool { return s.closed == 1 })
			e.do(func(s *echoState) {
				if s.opened != 1 || len(s.errs) != 0 {
					t.Errorf("opened %d, errs %v", s.opened, s.errs)
				}
				if err := ln.Close(); err != nil {
					t.Error(err)
				}
			})
		})
	}
}

// "tcp" with no host listens on IPv4 and IPv6 at once where the system
// allows it (else on IPv4 only).
func TestListenAnyHost(t *testing.T) {
	var st echoState
	var ln *stream.Listener[echoState]
	e := start(t, &st, func(l *calloop.Loop[echoState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", ":0", stream.Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	hosts := []string{"127.0.0.1"}
	if ln.Addr().(*net.TCPAddr).IP.To4() == nil {
		hosts = append(hosts, "::1")
	}
	for _, h := range hosts {
		c, err := net.Dial("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Errorf("%s: echo %q, %v", h, buf, err)
		}
		c.Close()
	}
	e.waitFor("closes", func(s *echoState) bool { return s.closed == len(hosts) })
	e.do(func(*echoState) { ln.Close() })
}

// Pipelined replies: many Writes during one OnData leave in one write
// system call; so do Writes to another connection made in that callback
// (flushed before the loop sleeps).
func TestWritesCoalesce(t *testing.T) {
	var writes []int
	stream.SetWriteTrace(func(n int) { writes = append(writes, n) })
	defer stream.SetWriteTrace(nil)
	type state struct {
		conns []*stream.Conn[state]
		calls int
	}
	var st state
	var ln *stream.Listener[state]
	e := start(t, &st, func(l *calloop.Loop[state]) {
		var err error
		ln, err = stream.Listen(l, "unix", sockPath(t), stream.Config{}, stream.Handler[state]{
			OnOpen: func(s *state, c *stream.Conn[state]) { s.conns = append(s.conns, c) },
			OnData: func(s *state, c *stream.Conn[state], in []byte) int {
				s.calls++
				for range 100 {
					c.WriteString("+OK\r\n")
					if len(s.conns) == 2 && c == s.conns[0] {
						s.conns[1].WriteString("+PUB\r\n")
					}
				}
				return len(in)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	a, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	e.waitFor("a", func(s *state) bool { return len(s.conns) == 1 })
	b, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e.waitFor("b", func(s *state) bool { return len(s.conns) == 2 })
	e.do(func(*state) { writes = nil })
	a.Write([]byte("x"))
	buf := make([]byte, 500)
	if _, err := io.ReadFull(a, buf); err != nil {
		t.Fatal(err)
	}
	buf = make([]byte, 600)
	if _, err := io.ReadFull(b, buf); err != nil {
		t.Fatal(err)
	}
	e.do(func(s *state) {
		if s.calls != 1 || len(writes) != 2 || writes[0]+writes[1] != 1100 {
			t.Errorf("%d OnData calls, write calls %v; want 1 call and 2 writes (500 and 600 bytes)", s.calls, writes)
		}
		ln.Close()
	})
}
