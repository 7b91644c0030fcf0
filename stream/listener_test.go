//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Close stops accepting and removes a Unix socket's file; accepted
// connections keep working.
func TestListenerClose(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
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
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			e.waitFor("accepted", func(s *echoState) bool { return s.opened == 1 })
			e.do(func(*echoState) {
				if err := ln.Close(); err != nil {
					t.Fatal(err)
				}
				if err := ln.Close(); !errors.Is(err, stream.ErrClosed) {
					t.Errorf("second Close: %v", err)
				}
			})
			if network == "unix" {
				if _, err := os.Stat(addr); !os.IsNotExist(err) {
					t.Errorf("socket file still there: %v", err)
				}
			}
			if c2, err := net.Dial(network, ln.Addr().String()); err == nil {
				c2.Close()
				t.Error("dial after Close succeeded")
			}
			c.Write([]byte("still here"))
			buf := make([]byte, 10)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
				t.Fatalf("echo after listener Close: %q, %v", buf, err)
			}
		})
	}
}

// Listen's errors: an address in use, an existing socket file.
func TestListenErrors(t *testing.T) {
	l, err := calloop.New[echoState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Listen(l, "tcp", ln.Addr().String(), stream.Config{}, echoHandler()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen: %v, want EADDRINUSE", err)
	}
	path := sockPath(t)
	os.WriteFile(path, nil, 0o600)
	if _, err := stream.Listen(l, "unix", path, stream.Config{}, echoHandler()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on an existing file: %v, want EADDRINUSE", err)
	}
	ln.Close()
}

// ReusePort lets several loops listen on one port; each accepts with its
// own state.
func TestReusePort(t *testing.T) {
	const loops = 3
	states := make([]echoState, loops)
	envs := make([]*env[echoState], loops)
	lns := make([]*stream.Listener[echoState], loops)
	addr := "127.0.0.1:0"
	for i := range loops {
		envs[i] = start(t, &states[i], func(l *calloop.Loop[echoState]) {
			var err error
			lns[i], err = stream.Listen(l, "tcp", addr, stream.Config{ReusePort: true}, echoHandler())
			if err != nil {
				t.Fatal(err)
			}
			addr = lns[i].Addr().String()
		})
	}
	const n = 60
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	total := 0
	for i, e := range envs {
		e.waitFor("closes", func(s *echoState) bool { return s.closed == s.opened })
		e.do(func(s *echoState) {
			total += s.opened
			t.Logf("loop %d accepted %d", i, s.opened)
			lns[i].Close()
		})
	}
	if total != n {
		t.Errorf("accepted %d, want %d", total, n)
	}
}
