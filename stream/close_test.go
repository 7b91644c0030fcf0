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

// CloseTimeout bounds a graceful close whose peer does not read.
func TestCloseTimeout(t *testing.T) {
	var st closeState
	var ln *stream.Listener[closeState]
	var closedAt, closeCalled time.Time
	e := start(t, &st, func(l *calloop.Loop[closeState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{CloseTimeout: 100 * time.Millisecond}, stream.Handler[closeState]{
			OnOpen: func(s *closeState, c *stream.Conn[closeState]) {
				c.Write(make([]byte, 16<<20))
				closeCalled = time.Now()
				c.Close()
			},
			OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int { return len(in) },
			OnClose: func(s *closeState, c *stream.Conn[closeState], err error) {
				s.closed++
				s.err = err
				closedAt = time.Now()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
	e.do(func(s *closeState) {
		if !errors.Is(s.err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose error %v, want a timeout", s.err)
		}
		if d := closedAt.Sub(closeCalled); d < 100*time.Millisecond {
			t.Errorf("closed after %v, before the timeout", d)
		}
		ln.Close()
	})
}

// Writes, Close and Abort from outside the connection's callbacks (a
// timer, another connection's callback): direct writes, and OnClose in a
// later iteration, never nested in the caller.
func TestOutsideCallbacks(t *testing.T) {
	type state struct {
		conns   []*stream.Conn[state]
		events  []string
		closing bool
	}
	var st state
	var ln *stream.Listener[state]
	e := start(t, &st, func(l *calloop.Loop[state]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[state]{
			OnOpen: func(s *state, c *stream.Conn[state]) { s.conns = append(s.conns, c) },
			OnData: func(s *state, c *stream.Conn[state], in []byte) int {
				if string(in) == "close the other" {
					other := s.conns[0]
					s.closing = true
					other.Close() // from this connection's callback
					s.closing = false
					s.events = append(s.events, "closed other")
				}
				return len(in)
			},
			OnClose: func(s *state, c *stream.Conn[state], err error) {
				if s.closing {
					t.Error("OnClose nested in another callback")
				}
				s.events = append(s.events, "onclose")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	e.waitFor("accept a", func(s *state) bool { return len(s.conns) == 1 })
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e.waitFor("accept b", func(s *state) bool { return len(s.conns) == 2 })

	// A write from outside any callback goes to the socket at once.
	e.do(func(s *state) {
		if n, err := s.conns[0].WriteString("direct"); n != 6 || err != nil {
			t.Errorf("Write: %d, %v", n, err)
		}
		if got := s.conns[0].Buffered(); got != 0 {
			t.Errorf("Buffered after a direct write: %d", got)
		}
	})
	buf := make([]byte, 6)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "direct" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// b's callback closes a.
	b.Write([]byte("close the other"))
	if n, err := a.Read(buf); err != io.EOF {
		t.Fatalf("a read %d, %v; want EOF", n, err)
	}
	a.Close()
	e.waitFor("a closed", func(s *state) bool { return len(s.events) == 2 })
	// A timer aborts b.
	e.do(func(s *state) {
		e.l.AddTimer(0, func(s *state, _ time.Time) calloop.TimerAction {
			s.closing = true
			s.conns[1].Abort()
			s.closing = false
			return calloop.Drop()
		})
	})
	if n, err := b.Read(buf); err != io.EOF {
		t.Fatalf("b read %d, %v; want EOF", n, err)
	}
	e.waitFor("b closed", func(s *state) bool { return len(s.events) == 3 })
	e.do(func(s *state) {
		want := []string{"closed other", "onclose", "onclose"}
		for i := range want {
			if s.events[i] != want[i] {
				t.Errorf("events %q, want %q", s.events, want)
				break
			}
		}
		ln.Close()
	})
}

// A connection that stopped reading and whose peer hangs up completely
// (both directions shut) is not reported again and again: the loop sleeps.
// Resuming reads the end of input and closes the connection.
func TestHangupWhilePaused(t *testing.T) {
	type state struct {
		conn   *stream.Conn[state]
		closed int
		err    error
	}
	var st state
	l, err := calloop.New[state]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[state]{
		OnOpen: func(s *state, c *stream.Conn[state]) {
			s.conn = c
			c.PauseReading()
			c.CloseWrite()
		},
		OnData:  func(s *state, c *stream.Conn[state], in []byte) int { return len(in) },
		OnClose: func(s *state, c *stream.Conn[state], err error) { s.closed++; s.err = err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for st.conn == nil {
		l.Dispatch(-1, &st)
	}
	// The peer reads our EOF and closes: both directions are shut.
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer read %d, %v", n, err)
	}
	c.Close()
	for range 5 {
		l.Dispatch(10*time.Millisecond, &st) // let the hang-up arrive
	}
	begin := time.Now()
	l.Dispatch(100*time.Millisecond, &st)
	if d := time.Since(begin); d < 90*time.Millisecond {
		t.Errorf("Dispatch returned after %v: the hang-up is reported again and again", d)
	}
	st.conn.ResumeReading()
	for st.closed == 0 {
		l.Dispatch(-1, &st)
	}
	if st.err != nil {
		t.Errorf("OnClose error %v", st.err)
	}
}

// A graceful close with input not yet read does not reset the connection:
// the peer reads every reply, then EOF.
func TestCloseWithUnreadInput(t *testing.T) {
	reply := pattern(1<<20, 17)
	e, ln := closeListener(t, "tcp", stream.Handler[closeState]{
		OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
			// The first request gets a large reply and a close; the rest of
			// the input stays unread.
			c.Write(reply)
			c.Close()
			return 1
		},
		OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err },
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(make([]byte, 100<<10))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	if len(got) != len(reply) {
		t.Fatalf("read %d bytes, want %d", len(got), len(reply))
	}
	c.Close()
	e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
	e.do(func(s *closeState) {
		if s.err != nil {
			t.Error(s.err)
		}
		ln.Close()
	})
}

// After a graceful close the connection waits for the peer's EOF, at most
// CloseTimeout: a peer that keeps its end open does not hold it longer.
func TestLingerTimeout(t *testing.T) {
	var closedAt, closeCalled time.Time
	var st closeState
	var ln *stream.Listener[closeState]
	e := start(t, &st, func(l *calloop.Loop[closeState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{CloseTimeout: 100 * time.Millisecond}, stream.Handler[closeState]{
			OnOpen: func(s *closeState, c *stream.Conn[closeState]) {
				c.WriteString("bye")
				closeCalled = time.Now()
				c.Close()
			},
			OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
				t.Error("OnData after Close")
				return len(in)
			},
			OnClose: func(s *closeState, c *stream.Conn[closeState], err error) {
				s.closed++
				s.err = err
				closedAt = time.Now()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c) // "bye", then EOF: the server shut down its side
	if err != nil || string(got) != "bye" {
		t.Fatalf("read %q, %v", got, err)
	}
	c.Write([]byte("ignored")) // dropped by the lingering server
	e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
	e.do(func(s *closeState) {
		if s.err != nil {
			t.Error(s.err)
		}
		if d := closedAt.Sub(closeCalled); d < 100*time.Millisecond {
			t.Errorf("closed after %v, before CloseTimeout", d)
		}
		ln.Close()
	})
}
