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
