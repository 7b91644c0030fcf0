package stream_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// fullBacklog returns the address of a TCP listener that never accepts and
// whose backlog is full: a new connection attempt gets no answer.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue until a connection attempt times out.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return addr
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if i > 100 {
			t.Fatal("the backlog does not fill")
		}
	}
}

// A dial that gets no answer ends with a timeout error after the timeout.
func TestDialTimeout(t *testing.T) {
	addr := fullBacklog(t)
	var st dialState
	var begin time.Time
	var took time.Duration
	h := dialHandler()
	h.OnClose = func(s *dialState, _ *stream.Conn[dialState], err error) {
		took = time.Since(begin)
		s.closed++
		s.err = err
	}
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		begin = time.Now()
		if _, err := stream.Dial(l, "tcp", addr, 100*time.Millisecond, stream.Config{}, h); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	e.do(func(s *dialState) {
		var ne net.Error
		if !errors.Is(s.err, os.ErrDeadlineExceeded) || !errors.As(s.err, &ne) || !ne.Timeout() {
			t.Errorf("OnClose error %v, want a timeout", s.err)
		}
		if took < 100*time.Millisecond {
			t.Errorf("timed out after %v, before the timeout", took)
		}
		if s.opened != 0 {
			t.Error("OnOpen called")
		}
	})
}

// Closing a connection whose dial is in progress abandons it: OnClose(nil)
// and no OnOpen.
func TestDialClose(t *testing.T) {
	addr := fullBacklog(t)
	var st dialState
	e := start(t, &st, nil)
	e.do(func(s *dialState) {
		c, err := stream.Dial(e.l, "tcp", addr, time.Minute, stream.Config{}, dialHandler())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	e.do(func(s *dialState) {
		if s.err != nil || s.opened != 0 {
			t.Errorf("err %v, opened %d", s.err, s.opened)
		}
	})
}

// An address that does not answer is given up after AttemptTimeout, and
// the next one is tried.
func TestDialHostAttemptTimeout(t *testing.T) {
	hole := fullBacklog(t) // 127.0.0.1:port, never answers
	_, port, _ := net.SplitHostPort(hole)
	nl, err := net.Listen("tcp", "127.0.0.2:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	var st dialState
	var c *stream.Conn[dialState]
	begin := time.Now()
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		dc := stream.DialConfig{Timeout: 20 * time.Second, AttemptTimeout: 150 * time.Millisecond, Lookup: lookupOf("127.0.0.1", "127.0.0.2")}
		c, err = stream.DialWith(l, "tcp", "hole.test:"+port, dc, stream.Config{}, dialHandler())
		if err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("open", func(s *dialState) bool { return s.opened == 1 || s.closed == 1 })
	took := time.Since(begin)
	e.do(func(s *dialState) {
		if s.opened != 1 {
			t.Fatalf("closed: %v", s.err)
		}
		if got := c.RemoteAddr().String(); got != "127.0.0.2:"+port {
			t.Errorf("RemoteAddr %s", got)
		}
	})
	if took < 150*time.Millisecond {
		t.Errorf("opened after %v, before the attempt timeout", took)
	}
}
