//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type bpState struct {
	read, maxBuffered int
	conn              *stream.Conn[bpState]
	closed            int
	err               error
}

// amplifier replies amp bytes per byte received and records the largest
// output buffer seen.
func amplifier(amp int) stream.Handler[bpState] {
	var reply []byte
	return stream.Handler[bpState]{
		OnOpen: func(s *bpState, c *stream.Conn[bpState]) { s.conn = c },
		OnData: func(s *bpState, c *stream.Conn[bpState], in []byte) int {
			s.read += len(in)
			if len(reply) < amp*len(in) {
				reply = bytes.Repeat([]byte("r"), amp*len(in))
			}
			c.Write(reply[:amp*len(in)])
			s.maxBuffered = max(s.maxBuffered, c.Buffered())
			return len(in)
		},
		OnClose: func(s *bpState, c *stream.Conn[bpState], err error) {
			s.closed++
			s.err = err
		},
	}
}

// A peer that sends requests and does not read the replies: the server
// stops reading from it once its output passes HighWater, so the output
// stays bounded by HighWater plus one OnData call's worth of replies,
// whereas the replies to everything sent would need 128 MiB. When the
// peer finally reads, everything is answered.
func TestPeerNeverReadsHighWater(t *testing.T) {
	const amp, readSize, high, total = 16, 4096, 256 << 10, 8 << 20
	var st bpState
	var ln *stream.Listener[bpState]
	e := start(t, &st, func(l *calloop.Loop[bpState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{ReadSize: readSize, HighWater: high}, amplifier(amp))
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, total))
		werr <- err
	}()
	// The server's output passes HighWater, and reading pauses.
	e.waitFor("output above HighWater", func(s *bpState) bool { return s.maxBuffered > high })
	e.do(func(s *bpState) {
		t.Logf("server read %d of %d, buffered %d", s.read, total, s.conn.Buffered())
	})
	// Now read the replies: reading resumes, and everything sent is
	// consumed and answered.
	var got int64
	buf := make([]byte, 1<<16)
	for got < total*amp {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			t.Fatalf("read %d: %v", got, err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	e.do(func(s *bpState) {
		if s.read != total {
			t.Errorf("server read %d, want %d", s.read, total)
		}
		if s.maxBuffered > high+amp*readSize {
			t.Errorf("output reached %d bytes, bound %d", s.maxBuffered, high+amp*readSize)
		}
		if s.closed != 0 {
			t.Errorf("closed: %v", s.err)
		}
		ln.Close()
	})
}

// MaxOutput closes a connection whose peer does not read.
func TestPeerNeverReadsMaxOutput(t *testing.T) {
	var st bpState
	var ln *stream.Listener[bpState]
	e := start(t, &st, func(l *calloop.Loop[bpState]) {
		var err error
		// HighWater above MaxOutput: only the limit acts.
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{HighWater: 64 << 20, MaxOutput: 1 << 20}, amplifier(64))
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err != nil {
			break // reset by the server
		}
		var closed bool
		e.do(func(s *bpState) { closed = s.closed > 0 })
		if closed {
			break
		}
	}
	e.waitFor("close", func(s *bpState) bool { return s.closed == 1 })
	e.do(func(s *bpState) {
		if !errors.Is(s.err, stream.ErrOutputTooLarge) {
			t.Errorf("OnClose error %v, want ErrOutputTooLarge", s.err)
		}
		if s.maxBuffered > 1<<20 {
			t.Errorf("buffered %d > MaxOutput", s.maxBuffered)
		}
		if _, err := s.conn.Write([]byte("x")); !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Write after close: %v, want ErrClosed", err)
		}
		ln.Close()
	})
}

// MaxInput closes a connection whose handler keeps everything.
func TestMaxInput(t *testing.T) {
	var st bpState
	var ln *stream.Listener[bpState]
	e := start(t, &st, func(l *calloop.Loop[bpState]) {
		var err error
		ln, err = stream.Listen(l, "unix", sockPath(t), stream.Config{MaxInput: 100 << 10}, stream.Handler[bpState]{
			OnData: func(s *bpState, c *stream.Conn[bpState], in []byte) int {
				s.maxBuffered = max(s.maxBuffered, len(in))
				return 0
			},
			OnClose: func(s *bpState, c *stream.Conn[bpState], err error) { s.closed++; s.err = err },
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(make([]byte, 1<<20)) // fails when the server closes
	e.waitFor("close", func(s *bpState) bool { return s.closed == 1 })
	e.do(func(s *bpState) {
		if !errors.Is(s.err, stream.ErrInputTooLarge) {
			t.Errorf("OnClose error %v, want ErrInputTooLarge", s.err)
		}
		ln.Close()
	})
}

// PauseReading stops input; ResumeReading offers the kept input again even
// when nothing new arrives.
func TestPauseResume(t *testing.T) {
	type state struct {
		calls []string
		conn  *stream.Conn[state]
	}
	var st state
	var ln *stream.Listener[state]
	e := start(t, &st, func(l *calloop.Loop[state]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[state]{
			OnOpen: func(s *state, c *stream.Conn[state]) { s.conn = c },
			OnData: func(s *state, c *stream.Conn[state], in []byte) int {
				s.calls = append(s.calls, string(in))
				i := bytes.IndexByte(in, '\n')
				if i < 0 {
					return 0
				}
				// One line per call, then pause: the rest is kept.
				c.Write(in[:i+1])
				c.PauseReading()
				return i + 1
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
	c.Write([]byte("one\ntwo\nthree\n"))
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "one\n" {
		t.Fatalf("got %q", buf[:n])
	}
	for _, want := range []string{"two\n", "three\n"} {
		e.do(func(s *state) { s.conn.ResumeReading() })
		n, _ := c.Read(buf)
		if string(buf[:n]) != want {
			t.Fatalf("got %q, want %q", buf[:n], want)
		}
	}
	e.do(func(s *state) {
		want := []string{"one\ntwo\nthree\n", "two\nthree\n", "three\n"}
		if len(s.calls) != len(want) {
			t.Fatalf("calls %q, want %q", s.calls, want)
		}
		for i := range want {
			if s.calls[i] != want[i] {
				t.Fatalf("calls %q, want %q", s.calls, want)
			}
		}
		ln.Close()
		s.conn.Abort()
	})
}

// A producer driven by OnDrain: it writes until its output passes
// HighWater, then waits for OnDrain to write more; the peer reads
// everything, in order.
func TestOnDrainProducer(t *testing.T) {
	const total, high = 16 << 20, 1 << 20
	data := pattern(total, 21)
	type state struct {
		sent, drains, closed int
		err                  error
	}
	produce := func(s *state, c *stream.Conn[state]) {
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
	var st state
	var ln *stream.Listener[state]
	e := start(t, &st, func(l *calloop.Loop[state]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{HighWater: high}, stream.Handler[state]{
			OnOpen: produce,
			OnData: func(s *state, c *stream.Conn[state], in []byte) int { return len(in) },
			OnDrain: func(s *state, c *stream.Conn[state]) {
				s.drains++
				if c.Buffered() > high/4 {
					t.Errorf("OnDrain with %d bytes buffered", c.Buffered())
				}
				produce(s, c)
			},
			OnClose: func(s *state, c *stream.Conn[state], err error) { s.closed++; s.err = err },
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
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d (or different content)", len(got), total)
	}
	c.Close()
	e.waitFor("close", func(s *state) bool { return s.closed == 1 })
	e.do(func(s *state) {
		t.Logf("%d OnDrain calls", s.drains)
		if s.drains == 0 || s.err != nil {
			t.Errorf("%d OnDrain calls, err %v", s.drains, s.err)
		}
		ln.Close()
	})
}
