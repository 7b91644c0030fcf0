//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type idleState struct {
	last    time.Time     // the server's last activity seen
	maxGap  time.Duration // the longest gap between two activities
	closed  time.Time
	err     error
	nclosed int
}

// IdleTimeout closes a connection only after that long without activity:
// while the peer sends, a close may only follow a gap of at least
// IdleTimeout (a stalled test machine); once it stops, the connection is
// closed with ErrDeadlineExceeded, never earlier than IdleTimeout after
// the last activity.
func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	var st idleState
	var ln *stream.Listener[idleState]
	var l *calloop.Loop[idleState]
	e := start(t, &st, func(lp *calloop.Loop[idleState]) {
		l = lp
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{IdleTimeout: idle}, stream.Handler[idleState]{
			// Times are the loop's clock (read once per iteration), the
			// clock of its timers.
			OnOpen: func(s *idleState, c *stream.Conn[idleState]) { s.last = l.Now() },
			OnData: func(s *idleState, c *stream.Conn[idleState], in []byte) int {
				now := l.Now()
				s.maxGap = max(s.maxGap, now.Sub(s.last))
				s.last = now
				return len(in)
			},
			OnClose: func(s *idleState, c *stream.Conn[idleState], err error) {
				s.closed, s.err = l.Now(), err
				s.nclosed++
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	defer e.do(func(*idleState) { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); time.Since(start) < 4*idle; {
		if _, err := c.Write([]byte{1}); err != nil {
			break
		}
		time.Sleep(idle / 10) // the peer's pace, not a wait for the server
	}
	e.do(func(s *idleState) {
		if s.nclosed > 0 && s.maxGap < idle {
			t.Errorf("closed while active (largest gap %v, IdleTimeout %v): %v", s.maxGap, idle, s.err)
		}
	})
	e.waitFor("idle close", func(s *idleState) bool { return s.nclosed == 1 })
	e.do(func(s *idleState) {
		if !errors.Is(s.err, os.ErrDeadlineExceeded) {
			t.Errorf("OnClose %v, want ErrDeadlineExceeded", s.err)
		}
		if gap := s.closed.Sub(s.last); gap < idle {
			t.Errorf("closed %v after the last activity, IdleTimeout %v", gap, idle)
		}
	})
}
