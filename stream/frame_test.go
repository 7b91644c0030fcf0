//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type frState struct {
	frames      []string
	closed      int
	err         error
	maxBuffered int
}

// frServer listens with Framed(f); each frame is recorded and answered by
// reply (if not nil).
func frServer(t *testing.T, f stream.Framing, cfg stream.Config, reply func(c *stream.Conn[frState], frame []byte)) (*env[frState], *stream.Listener[frState]) {
	t.Helper()
	var st frState
	var ln *stream.Listener[frState]
	e := start(t, &st, func(l *calloop.Loop[frState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", cfg, stream.Framed(f,
			func(s *frState, c *stream.Conn[frState], frame []byte) {
				s.frames = append(s.frames, string(frame))
				if reply != nil {
					reply(c, frame)
					s.maxBuffered = max(s.maxBuffered, c.Buffered())
				}
			},
			stream.Handler[frState]{
				OnClose: func(s *frState, c *stream.Conn[frState], err error) {
					s.closed++
					s.err = err
				},
			}))
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { e.do(func(*frState) { ln.Close() }) })
	return e, ln
}

func TestFramedLines(t *testing.T) {
	e, ln := frServer(t, stream.Lines(16), stream.Config{}, func(c *stream.Conn[frState], frame []byte) {
		c.Write(frame)
		c.Write([]byte("|"))
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	c.Write([]byte("hello\r\nwor"))
	e.waitFor("first line", func(s *frState) bool { return len(s.frames) == 1 })
	c.Write([]byte("ld\n\n"))
	// A line of max bytes, a byte at a time, then its "\r\n" in two.
	for _, b := range strings.Repeat("x", 16) + "\r\n" {
		c.Write([]byte{byte(b)})
	}
	e.waitFor("a line of max bytes", func(s *frState) bool { return len(s.frames) == 4 || s.closed > 0 })
	// A line of max+1 bytes, a byte at a time: refused at its last byte.
	for range 17 {
		c.Write([]byte("y"))
	}
	e.waitFor("close", func(s *frState) bool { return s.closed == 1 })
	x16 := strings.Repeat("x", 16)
	e.do(func(s *frState) {
		if !errors.Is(s.err, stream.ErrFrameTooLarge) {
			t.Errorf("OnClose(%v), want ErrFrameTooLarge", s.err)
		}
		if got := strings.Join(s.frames, ","); got != "hello,world,,"+x16 {
			t.Errorf("frames %q", s.frames)
		}
	})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c) // the refusal may reset the connection
	if want := "hello|world||" + x16 + "|"; !bytes.HasPrefix([]byte(want), got) {
		t.Fatalf("peer read %q, want %q", got, want)
	}
}

// A long line arriving a byte at a time and a frame split at every byte
// give the same frames as in one piece.
func TestFramedSplit(t *testing.T) {
	for _, tc := range []struct {
		f    stream.Framing
		data []byte
		want []string
	}{
		{stream.Lines(0), []byte(strings.Repeat("y", 3000) + "\r\nend\n"), []string{strings.Repeat("y", 3000), "end"}},
		{stream.Uint32Frames(0), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0), 3), []string{""}},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			e, ln := frServer(t, tc.f, stream.Config{}, nil)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetNoDelay(true)
			data := tc.data
			if tc.f.String() == stream.Uint32Frames(0).String() {
				data = append(data, "abc"...)
				tc.want = append(tc.want, "abc")
			}
			for i := range data {
				if _, err := c.Write(data[i : i+1]); err != nil {
					t.Fatal(err)
				}
			}
			e.waitFor("frames", func(s *frState) bool { return len(s.frames) == len(tc.want) })
			e.do(func(s *frState) {
				for i := range tc.want {
					if s.frames[i] != tc.want[i] {
						t.Fatalf("frame %d: %.20q..., want %.20q...", i, s.frames[i], tc.want[i])
					}
				}
				if s.closed != 0 {
					t.Fatalf("closed: %v", s.err)
				}
			})
		})
	}
}

// A frame cut short by the peer's end of input closes the connection with
// io.ErrUnexpectedEOF, after the complete frames.
func TestFramedCutAtEOF(t *testing.T) {
	e, ln := frServer(t, stream.Uint16Frames(100), stream.Config{}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("\x00\x02ok\x00\x05abc"))
	c.(*net.TCPConn).CloseWrite()
	defer c.Close()
	e.waitFor("close", func(s *frState) bool { return s.closed == 1 })
	e.do(func(s *frState) {
		if !errors.Is(s.err, io.ErrUnexpectedEOF) || len(s.frames) != 1 || s.frames[0] != "ok" {
			t.Fatalf("frames %q, OnClose(%v), want [ok] and io.ErrUnexpectedEOF", s.frames, s.err)
		}
	})
}

// A length prefix above the limit is refused as soon as it arrives,
// without waiting for (or buffering) the frame.
func TestFramedOversizePrefix(t *testing.T) {
	e, ln := frServer(t, stream.Uint32Frames(1000), stream.Config{}, nil)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(binary.BigEndian.AppendUint32(nil, 1001))
	e.waitFor("close", func(s *frState) bool { return s.closed == 1 })
	e.do(func(s *frState) {
		if !errors.Is(s.err, stream.ErrFrameTooLarge) {
			t.Fatalf("OnClose(%v), want ErrFrameTooLarge", s.err)
		}
	})
}

// Pipelined frames from a peer that does not read the replies: the
// frames wait once the output passes HighWater, so the output stays
// within HighWater and one reply; when the peer reads, every frame is
// answered.
func TestFramedBackpressure(t *testing.T) {
	const high, replySize, n = 128 << 10, 64 << 10, 200
	reply := bytes.Repeat([]byte("r"), replySize)
	e, ln := frServer(t, stream.Uint16Frames(0), stream.Config{HighWater: high}, func(c *stream.Conn[frState], frame []byte) {
		c.Write(reply)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var reqs []byte
	for range n {
		reqs = append(reqs, 0, 1, 'q')
	}
	if _, err := c.Write(reqs); err != nil {
		t.Fatal(err)
	}
	e.waitFor("output above HighWater", func(s *frState) bool { return s.maxBuffered > high })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, n*replySize)); err != nil {
		t.Fatal(err)
	}
	e.do(func(s *frState) {
		if len(s.frames) != n {
			t.Fatalf("%d frames, want %d", len(s.frames), n)
		}
		if s.maxBuffered > high+replySize {
			t.Fatalf("output reached %d, above HighWater %d plus one reply", s.maxBuffered, high)
		}
	})
}

func TestFramedNilOnFrame(t *testing.T) {
	l, err := calloop.New[frState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := stream.Framed[frState](stream.Lines(0), nil, stream.Handler[frState]{
		OnData: func(*frState, *stream.Conn[frState], []byte) int { return 0 },
	})
	if h.OnData != nil {
		t.Fatal("a nil onFrame kept an OnData")
	}
	if _, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, h); err == nil {
		t.Fatal("Listen accepted a Handler without OnData")
	}
}
