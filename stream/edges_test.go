//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

// Regression tests for promises that broke at the edges, with hostile or
// unusual peers.

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type edgeState struct {
	got    []byte
	lines  []string
	finals []bool
	closes []error
	drains []int // Buffered() at each OnDrain
	opened int
	conn   *stream.Conn[edgeState]
	sent   int
}

func (s *edgeState) onClose(_ *edgeState, _ *stream.Conn[edgeState], err error) {
	s.closes = append(s.closes, err)
}

func edgeListen(t *testing.T, e *env[edgeState], network string, cfg stream.Config, h stream.Handler[edgeState]) *stream.Listener[edgeState] {
	var ln *stream.Listener[edgeState]
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = sockPath(t)
	}
	e.do(func(*edgeState) {
		var err error
		ln, err = stream.Listen(e.l, network, addr, cfg, h)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { e.do(func(*edgeState) { ln.Close() }) })
	return ln
}

// Issue 16 item 1: data written to a dialing connection, then Close before
// the connect completes, reaches the server; the close is clean.
func TestDialWriteCloseFlushes(t *testing.T) {
	srv := start(t, &edgeState{}, nil)
	ln := edgeListen(t, srv, "tcp", stream.Config{}, stream.Handler[edgeState]{
		OnData: func(s *edgeState, c *stream.Conn[edgeState], in []byte) int {
			s.got = append(s.got, in...)
			return len(in)
		},
		OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
	})
	cli := start(t, &edgeState{}, nil)
	cli.do(func(*edgeState) {
		c, err := stream.Dial(cli.l, "tcp", ln.Addr().String(), 5*time.Second, stream.Config{}, stream.Handler[edgeState]{
			OnOpen:  func(s *edgeState, c *stream.Conn[edgeState]) { s.opened++ },
			OnData:  func(s *edgeState, c *stream.Conn[edgeState], in []byte) int { return len(in) },
			OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("req"))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("more")); !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
	})
	srv.waitFor("server close", func(s *edgeState) bool { return len(s.closes) == 1 })
	cli.waitFor("client close", func(s *edgeState) bool { return len(s.closes) == 1 })
	srv.do(func(s *edgeState) {
		if string(s.got) != "req" || s.closes[0] != nil {
			t.Errorf("server got %q, OnClose %v", s.got, s.closes[0])
		}
	})
	cli.do(func(s *edgeState) {
		if s.closes[0] != nil {
			t.Errorf("client OnClose %v, want nil", s.closes[0])
		}
	})
}

// Issue 16 item 1: the same against a port nobody listens on: the loss is
// reported (OnClose gets the dial's error, not nil).
func TestDialWriteCloseRefusedReports(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cli := start(t, &edgeState{}, nil)
	cli.do(func(*edgeState) {
		c, err := stream.Dial(cli.l, "tcp", addr, 5*time.Second, stream.Config{}, stream.Handler[edgeState]{
			OnData:  func(s *edgeState, c *stream.Conn[edgeState], in []byte) int { return len(in) },
			OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("req"))
		c.Close()
	})
	cli.waitFor("close", func(s *edgeState) bool { return len(s.closes) == 1 })
	cli.do(func(s *edgeState) {
		if s.closes[0] == nil {
			t.Error("data written before a refused connection was lost without an error")
		}
	})
}

// Issue 16 item 2: a 16 MiB Write on top of 1 MiB of queued output, with
// a peer that does not read: OnDrain is not called while the output is
// above LowWater, and it is called once the peer has read enough.
func TestOnDrainNotAboveLowWater(t *testing.T) {
	const high = 1 << 20
	chunk := make([]byte, 16<<10)
	e := start(t, &edgeState{}, nil)
	ln := edgeListen(t, e, "tcp", stream.Config{HighWater: high}, stream.Handler[edgeState]{
		OnOpen: func(s *edgeState, c *stream.Conn[edgeState]) {
			// Queued output past HighWater, then a large write, which
			// goes to the socket at once (after what is queued).
			for c.Buffered() <= high {
				c.Write(chunk)
				s.sent += len(chunk)
			}
			c.Write(make([]byte, 16<<20))
			s.sent += 16 << 20
			s.conn = c
		},
		OnData: func(s *edgeState, c *stream.Conn[edgeState], in []byte) int { return len(in) },
		OnDrain: func(s *edgeState, c *stream.Conn[edgeState]) {
			s.drains = append(s.drains, c.Buffered())
		},
		OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.waitFor("open", func(s *edgeState) bool { return s.conn != nil })
	total := 0
	e.do(func(s *edgeState) { total = s.sent })
	// Let a few iterations pass, then check.
	for range 3 {
		e.do(func(*edgeState) {})
	}
	e.do(func(s *edgeState) {
		for _, b := range s.drains {
			if b > high/4 {
				t.Errorf("OnDrain with %d bytes buffered (LowWater %d)", b, high/4)
			}
		}
	})
	if _, err := io.CopyN(io.Discard, c, int64(total)); err != nil {
		t.Fatal(err)
	}
	e.waitFor("OnDrain", func(s *edgeState) bool { return len(s.drains) > 0 })
	e.do(func(s *edgeState) {
		for _, b := range s.drains {
			if b > high/4 {
				t.Errorf("OnDrain with %d bytes buffered (LowWater %d)", b, high/4)
			}
		}
	})
}

// Issue 16 item 3: a producer answering a request from a peer that then
// shuts down its writing side (and keeps reading) finishes its response:
// the peer gets all of it, and the close is clean.
func TestHalfClosedPeerGetsWholeResponse(t *testing.T) {
	const total, high = 20 << 20, 1 << 20
	data := pattern(total, 16)
	produce := func(s *edgeState, c *stream.Conn[edgeState]) {
		for s.sent < total && c.Buffered() <= high {
			n := min(256<<10, total-s.sent)
			if _, err := c.Write(data[s.sent : s.sent+n]); err != nil {
				t.Error(err)
				return
			}
			s.sent += n
		}
		if s.sent == total {
			c.Close()
		}
	}
	e := start(t, &edgeState{}, nil)
	ln := edgeListen(t, e, "tcp", stream.Config{HighWater: high}, stream.Handler[edgeState]{
		OnData: func(s *edgeState, c *stream.Conn[edgeState], in []byte) int {
			if s.sent == 0 {
				produce(s, c)
			}
			return len(in)
		},
		OnDrain: produce,
		OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("got %d bytes of %d (or different content)", len(got), total)
	}
	e.waitFor("close", func(s *edgeState) bool { return len(s.closes) == 1 })
	e.do(func(s *edgeState) {
		if s.closes[0] != nil {
			t.Errorf("OnClose %v", s.closes[0])
		}
	})
}

// Issue 16 item 4: input left at EOF is offered once more, marked final
// (ReadClosed), before the connection closes: a line protocol gets its
// last, unterminated line.
func TestFinalOfferAtEOF(t *testing.T) {
	for _, withReadClosed := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "OnReadClosed"}[withReadClosed], func(t *testing.T) {
			finalOffer(t, withReadClosed)
		})
	}
}

func finalOffer(t *testing.T, withReadClosed bool) {
	e := start(t, &edgeState{}, nil)
	h := stream.Handler[edgeState]{
		OnData: func(s *edgeState, c *stream.Conn[edgeState], in []byte) int {
			n := 0
			for {
				i := bytes.IndexByte(in[n:], '\n')
				if i < 0 {
					break
				}
				s.lines = append(s.lines, string(in[n:n+i]))
				s.finals = append(s.finals, c.ReadClosed())
				n += i + 1
			}
			if c.ReadClosed() && n < len(in) {
				s.lines = append(s.lines, string(in[n:]))
				s.finals = append(s.finals, true)
				n = len(in)
			}
			return n
		},
		OnClose: func(s *edgeState, c *stream.Conn[edgeState], err error) { s.onClose(s, c, err) },
	}
	if withReadClosed {
		h.OnReadClosed = func(s *edgeState, c *stream.Conn[edgeState]) { c.Close() }
	}
	ln := edgeListen(t, e, "unix", stream.Config{}, h)
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("a\nb"))
	c.(*net.UnixConn).CloseWrite()
	e.waitFor("close", func(s *edgeState) bool { return len(s.closes) == 1 })
	c.Close()
	e.do(func(s *edgeState) {
		if len(s.lines) != 2 || s.lines[0] != "a" || s.lines[1] != "b" || !s.finals[1] {
			t.Errorf("lines %q, final %v", s.lines, s.finals)
		}
	})
}

// Issue 16 item 5: Listen on a closed loop leaves no Unix socket file, so
// a retry on the same path works.
func TestListenClosedLoopNoSocketFile(t *testing.T) {
	path := sockPath(t)
	l, err := calloop.New[edgeState]()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	h := stream.Handler[edgeState]{OnData: func(*edgeState, *stream.Conn[edgeState], []byte) int { return 0 }}
	if _, err := stream.Listen(l, "unix", path, stream.Config{}, h); err == nil {
		t.Fatal("Listen on a closed loop succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
	l2, err := calloop.New[edgeState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ln, err := stream.Listen(l2, "unix", path, stream.Config{}, h)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	ln.Close()
}

// Issue 16 item 6: contradictory or negative settings are errors.
func TestConfigErrors(t *testing.T) {
	l, err := calloop.New[edgeState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := stream.Handler[edgeState]{OnData: func(*edgeState, *stream.Conn[edgeState], []byte) int { return 0 }}
	before := openFDs(t)
	for _, cfg := range []stream.Config{
		{HighWater: 100, LowWater: 100},
		{HighWater: 100, LowWater: 200},
		{LowWater: 2 << 20}, // above the default HighWater
		{ReadSize: -1}, {ReadBudget: -1}, {MaxInput: -1}, {HighWater: -1},
		{LowWater: -1}, {MaxOutput: -1}, {Backlog: -1}, {AcceptBudget: -1},
		{CloseTimeout: -time.Second}, {ReadSize: math.MaxInt}, {MaxInput: math.MinInt},
		{IdleTimeout: -1}, {ReadTimeout: -1}, {WriteTimeout: -1}, {ReadTimeout: math.MinInt64},
	} {
		if ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", cfg, h); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("Listen with %+v: %v, want ErrConfig", cfg, err)
			if err == nil {
				ln.Close()
			}
		}
		if c, err := stream.Dial(l, "tcp", "127.0.0.1:1", 0, cfg, h); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("Dial with %+v: %v, want ErrConfig", cfg, err)
			if err == nil {
				c.Abort()
			}
		}
	}
	// Extreme but valid values work.
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{Backlog: math.MaxInt, HighWater: math.MaxInt, MaxInput: math.MaxInt, CloseTimeout: math.MaxInt64}, h)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if after := openFDs(t); after != before {
		t.Errorf("descriptors: %d before, %d after", before, after)
	}
}
