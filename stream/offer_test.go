//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type offerState struct {
	conn     *stream.Conn[offerState]
	calls    int
	buffered []int // Buffered() at the start of each OnData call
	lines    int
}

// oneLine handles one line per OnData call, replies reply(line) to it,
// and asks for the rest to be offered again.
func oneLine(reply func(line []byte) []byte) stream.Handler[offerState] {
	return stream.Handler[offerState]{
		OnOpen: func(s *offerState, c *stream.Conn[offerState]) { s.conn = c },
		OnData: func(s *offerState, c *stream.Conn[offerState], in []byte) int {
			s.calls++
			s.buffered = append(s.buffered, c.Buffered())
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				return 0
			}
			s.lines++
			c.Write(reply(in[:i+1]))
			c.OfferAgain()
			return i + 1
		},
	}
}

func listenOffer(t *testing.T, cfg stream.Config, h stream.Handler[offerState]) (*env[offerState], *stream.Listener[offerState]) {
	var st offerState
	var ln *stream.Listener[offerState]
	e := start(t, &st, func(l *calloop.Loop[offerState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", cfg, h)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		e.do(func(s *offerState) {
			ln.Close()
			if s.conn != nil {
				s.conn.Abort()
			}
		})
	})
	return e, ln
}

// A handler that takes one line per call and calls OfferAgain sees every
// line of one write, without the peer sending anything more.
func TestOfferAgain(t *testing.T) {
	e, ln := listenOffer(t, stream.Config{}, oneLine(func(line []byte) []byte { return line }))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var req strings.Builder
	for i := range 100 {
		req.WriteString(strings.Repeat("x", i) + "\n")
	}
	if _, err := c.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, req.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != req.String() {
		t.Fatalf("got %q", got)
	}
	e.do(func(s *offerState) {
		if s.lines != 100 {
			t.Errorf("%d lines handled, want 100", s.lines)
		}
	})
}

// With output above LowWater, OfferAgain waits: the kept input is offered
// again only once the output has drained to LowWater, and the peer's
// reading of the replies is what makes every line answered.
func TestOfferAgainWaitsForLowWater(t *testing.T) {
	const low, big, lines = 64 << 10, 1 << 20, 8
	reply := bytes.Repeat([]byte("r"), big)
	// HighWater far above one reply: backpressure never pauses by itself.
	e, ln := listenOffer(t, stream.Config{HighWater: 64 << 20, LowWater: low},
		oneLine(func([]byte) []byte { return reply }))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Repeat("l\n", lines))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 1<<16)
	if _, err := io.CopyN(io.Discard, r, lines*big); err != nil {
		t.Fatal(err)
	}
	e.do(func(s *offerState) {
		if s.lines != lines {
			t.Errorf("%d lines handled, want %d", s.lines, lines)
		}
		for i, b := range s.buffered {
			if b > low {
				t.Errorf("OnData call %d with %d bytes buffered, above LowWater %d", i, b, low)
			}
		}
	})
}

// OfferAgain outside OnData offers the input kept at the time; while
// reading is paused the offer waits for ResumeReading.
func TestOfferAgainOutsideOnData(t *testing.T) {
	h := stream.Handler[offerState]{
		OnOpen: func(s *offerState, c *stream.Conn[offerState]) { s.conn = c },
		OnData: func(s *offerState, c *stream.Conn[offerState], in []byte) int {
			s.calls++
			if s.calls == 1 {
				return 0 // keep everything, ask for nothing
			}
			c.Write(in)
			return len(in)
		},
	}
	e, ln := listenOffer(t, stream.Config{}, h)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("first call", func(s *offerState) bool { return s.calls == 1 })
	e.do(func(s *offerState) { s.conn.OfferAgain() })
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}

	// Kept input while paused: the offer waits for ResumeReading.
	e.do(func(s *offerState) { s.calls = 0 })
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("first call", func(s *offerState) bool { return s.calls == 1 })
	e.do(func(s *offerState) {
		s.conn.PauseReading()
		s.conn.OfferAgain()
	})
	// Two loop iterations later the offer still waits.
	e.do(func(*offerState) {})
	e.do(func(s *offerState) {
		if s.calls != 1 {
			t.Errorf("offered while paused: %d calls", s.calls)
		}
		s.conn.ResumeReading()
	})
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "again" {
		t.Fatalf("got %q, %v", got, err)
	}
}
