//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
	"go.uber.org/goleak"
)

// Closing everything (connections by either side, dials, listeners, then
// the loop with connections still open) leaves no descriptor and no
// goroutine behind. OnClose is not called for connections closed by the
// loop's Close.
func TestNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	before := openFDs(t)
	func() {
		var st echoState
		l, err := calloop.New[echoState]()
		if err != nil {
			t.Fatal(err)
		}
		ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		uln, err := stream.Listen(l, "unix", sockPath(t), stream.Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		// Stream clients on the same loop: 20 over TCP, 20 over Unix.
		var dials []*stream.Conn[echoState]
		sink := echoHandler()
		sink.OnData = func(s *echoState, _ *stream.Conn[echoState], in []byte) int {
			s.got += len(in)
			return len(in)
		}
		for i := range 40 {
			a := ln.Addr()
			if i%2 == 1 {
				a = uln.Addr()
			}
			c, err := stream.Dial(l, a.Network(), a.String(), time.Second, stream.Config{}, sink)
			if err != nil {
				t.Fatal(err)
			}
			c.WriteString("hello")
			dials = append(dials, c)
		}
		for st.opened < 80 || st.got < 40*5 {
			if err := l.Dispatch(-1, &st); err != nil {
				t.Fatal(err)
			}
		}
		// Half of the dialled connections close; their peers follow.
		for _, c := range dials[:20] {
			c.Close()
		}
		for st.closed < 40 {
			if err := l.Dispatch(-1, &st); err != nil {
				t.Fatal(err)
			}
		}
		if len(st.errs) > 0 {
			t.Fatal(st.errs)
		}
		ln.Close()
		// The loop's Close closes the rest: 40 connections and a listener.
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if st.closed != 40 {
			t.Errorf("OnClose called %d times, want 40", st.closed)
		}
	}()
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}

// A listener and connections of a loop that is closed while a peer is
// connected: the peer sees the connection closed.
func TestLoopCloseClosesConnections(t *testing.T) {
	var st echoState
	l, err := calloop.New[echoState]()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for st.opened < 1 {
		l.Dispatch(-1, &st)
	}
	l.Close()
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read %d, %v; want EOF", n, err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts")
	}
}
