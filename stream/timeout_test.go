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

type toState struct {
	conn    *stream.Conn[toState]
	l       *calloop.Loop[toState]
	opened  time.Time
	last    time.Time // the last input read (loop clock)
	resumed time.Time
	closed  time.Time
	err     error
	nclosed int
	timers  []calloop.Token // the connection's timer, as seen in callbacks
}

func (s *toState) noteTimer() {
	if tm := s.conn.TimerToken(); !tm.IsZero() && (len(s.timers) == 0 || s.timers[len(s.timers)-1] != tm) {
		s.timers = append(s.timers, tm)
	}
}

// toServer listens with cfg; OnData consumes everything and records the
// time; open, if not nil, runs in OnOpen.
func toServer(t *testing.T, cfg stream.Config, open func(s *toState, c *stream.Conn[toState])) (*env[toState], *stream.Listener[toState]) {
	t.Helper()
	var st toState
	var ln *stream.Listener[toState]
	e := start(t, &st, func(l *calloop.Loop[toState]) {
		st.l = l
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", cfg, stream.Handler[toState]{
			OnOpen: func(s *toState, c *stream.Conn[toState]) {
				s.conn, s.opened, s.last = c, l.Now(), l.Now()
				if open != nil {
					open(s, c)
				}
				s.noteTimer()
			},
			OnData: func(s *toState, c *stream.Conn[toState], in []byte) int {
				s.last = l.Now()
				s.noteTimer()
				return len(in)
			},
			OnClose: func(s *toState, c *stream.Conn[toState], err error) {
				s.closed, s.err = l.Now(), err
				s.nclosed++
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { e.do(func(*toState) { ln.Close() }) })
	return e, ln
}

// checkTimeout checks that err is the *net.OpError of a timeout wrapping
// want.
func checkTimeout(t *testing.T, err, want error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, want) || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("OnClose(%v), want a timeout wrapping %v", err, want)
	}
}

// ReadTimeout closes a connection that gets no input for that long, and
// not earlier: while the peer sends, it stays open.
func TestReadTimeout(t *testing.T) {
	const rt = 100 * time.Millisecond
	e, ln := toServer(t, stream.Config{ReadTimeout: rt}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var maxGap time.Duration
	prev := time.Now()
	for start := time.Now(); time.Since(start) < 3*rt; {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatalf("the connection was closed while the peer sent: %v", err)
		}
		time.Sleep(rt / 10) // the peer's pace
		maxGap = max(maxGap, time.Since(prev))
		prev = time.Now()
	}
	e.do(func(s *toState) {
		if s.nclosed > 0 && maxGap < rt {
			t.Fatalf("closed while the peer sent (largest gap %v): %v", maxGap, s.err)
		}
	})
	e.waitFor("read timeout", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		checkTimeout(t, s.err, stream.ErrReadTimeout)
		if errors.Is(s.err, stream.ErrIdleTimeout) || errors.Is(s.err, stream.ErrWriteTimeout) {
			t.Errorf("the read timeout matches another sentinel: %v", s.err)
		}
		if gap := s.closed.Sub(s.last); gap < rt {
			t.Errorf("closed %v after the last input, ReadTimeout %v", gap, rt)
		}
	})
	// The peer sees the close.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("peer: %v", err)
	}
}

// Output is not input: a server that keeps writing to a peer that reads
// but sends nothing closes it at ReadTimeout (IdleTimeout would not).
func TestReadTimeoutIgnoresOutput(t *testing.T) {
	const rt = 80 * time.Millisecond
	var tick calloop.Token
	e, ln := toServer(t, stream.Config{ReadTimeout: rt, IdleTimeout: time.Hour}, func(s *toState, c *stream.Conn[toState]) {
		tick, _ = s.l.AddTimer(0, func(s *toState, _ time.Time) calloop.TimerAction {
			if _, err := c.Write([]byte("tick\n")); err != nil {
				return calloop.Drop()
			}
			return calloop.Again(rt / 8)
		})
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.Copy(io.Discard, c)
	e.waitFor("read timeout", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		s.l.Remove(tick)
		checkTimeout(t, s.err, stream.ErrReadTimeout)
		if d := s.closed.Sub(s.opened); d < rt {
			t.Errorf("closed %v after opening, ReadTimeout %v", d, rt)
		}
	})
}

// While reading is paused, the read timeout does not count: it starts
// again when reading resumes.
func TestReadTimeoutPaused(t *testing.T) {
	const rt, pause = 60 * time.Millisecond, 200 * time.Millisecond
	e, ln := toServer(t, stream.Config{ReadTimeout: rt}, func(s *toState, c *stream.Conn[toState]) {
		c.PauseReading()
		s.l.AddTimer(pause, func(s *toState, _ time.Time) calloop.TimerAction {
			s.resumed = s.l.Now()
			c.ResumeReading()
			return calloop.Drop()
		})
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.waitFor("read timeout", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		checkTimeout(t, s.err, stream.ErrReadTimeout)
		if s.resumed.IsZero() {
			t.Fatalf("closed %v after opening, while reading was paused", s.closed.Sub(s.opened))
		}
		if d := s.closed.Sub(s.resumed); d < rt {
			t.Errorf("closed %v after reading resumed, ReadTimeout %v", d, rt)
		}
	})
}

// WriteTimeout closes a connection whose peer does not read, once its
// output has made no progress for that long.
func TestWriteTimeout(t *testing.T) {
	const wt = 80 * time.Millisecond
	var blockedAt time.Time
	e, ln := toServer(t, stream.Config{WriteTimeout: wt, HighWater: 64 << 20}, func(s *toState, c *stream.Conn[toState]) {
		big := make([]byte, 1<<20)
		for range 32 { // far more than the socket buffers take
			c.Write(big)
		}
		blockedAt = s.l.Now()
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.waitFor("write timeout", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		checkTimeout(t, s.err, stream.ErrWriteTimeout)
		if d := s.closed.Sub(blockedAt); d < wt {
			t.Errorf("closed %v after the output stalled, WriteTimeout %v", d, wt)
		}
	})
}

// A peer that reads slowly but steadily makes progress: WriteTimeout does
// not close it, even when the whole transfer takes many times WriteTimeout.
func TestWriteTimeoutProgress(t *testing.T) {
	const wt = 100 * time.Millisecond
	const total = 4 << 20
	e, ln := toServer(t, stream.Config{WriteTimeout: wt, HighWater: 64 << 20}, func(s *toState, c *stream.Conn[toState]) {
		c.Write(make([]byte, total))
		c.Close()
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	got := 0
	start := time.Now()
	for {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			t.Logf("peer: %v after %v", err, time.Since(start))
			break
		}
		if time.Since(start) < 5*wt {
			time.Sleep(wt / 10) // slow, but never stalled for WriteTimeout
		}
	}
	if got != total {
		e.do(func(s *toState) { t.Logf("server: %v", s.err) })
		t.Fatalf("read %d of %d", got, total)
	}
	e.waitFor("close", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		if s.err != nil {
			t.Fatalf("OnClose(%v), want nil", s.err)
		}
	})
}

// IdleTimeout's error wraps ErrIdleTimeout.
func TestIdleTimeoutSentinel(t *testing.T) {
	e, ln := toServer(t, stream.Config{IdleTimeout: 30 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.waitFor("idle timeout", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) { checkTimeout(t, s.err, stream.ErrIdleTimeout) })
}

// The connection's timeouts share one timer, a child of the connection's
// source: it is created once, moved only when a deadline comes forward
// (never per read or write), and removed with the connection.
func TestOneTimerPerConn(t *testing.T) {
	moves := 0
	stream.SetTimerTrace(func() { moves++ })
	defer stream.SetTimerTrace(nil)
	e, ln := toServer(t, stream.Config{IdleTimeout: time.Hour, ReadTimeout: time.Hour, WriteTimeout: time.Hour}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 500
	for i := range n {
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // separate reads
		}
	}
	var tm calloop.Token
	e.waitFor("input", func(s *toState) bool { return s.conn != nil && s.last.After(s.opened) })
	e.do(func(s *toState) {
		if len(s.timers) != 1 {
			t.Fatalf("the connection used timers %v, want one", s.timers)
		}
		tm = s.timers[0]
		p, ok, err := s.l.Parent(tm)
		if err != nil || !ok || p != s.conn.Token() {
			t.Fatalf("Parent(timer) = %v %v %v, want the connection's token %v", p, ok, err, s.conn.Token())
		}
		if moves != 1 {
			t.Fatalf("%d timer operations for one connection's reads, want 1 (its creation)", moves)
		}
	})
	c.Close()
	e.waitFor("close", func(s *toState) bool { return s.nclosed == 1 })
	e.do(func(s *toState) {
		if err := s.l.Remove(tm); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("the timer outlived its connection: Remove = %v", err)
		}
	})
}

// Without timeouts, an open connection has no timer at all.
func TestNoTimerWithoutTimeouts(t *testing.T) {
	e, ln := toServer(t, stream.Config{}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	e.waitFor("input", func(s *toState) bool { return s.conn != nil && s.last.After(s.opened) })
	e.do(func(s *toState) {
		if tm := s.conn.TimerToken(); !tm.IsZero() {
			t.Fatalf("timer %v without timeouts", tm)
		}
	})
}
