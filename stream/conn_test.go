//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type lineState struct {
	lines  []string
	calls  int
	closed int
	err    error
}

// A line protocol consumes only whole lines; the rest of a line waits for
// its end, whatever the read boundaries.
func TestPartialConsumption(t *testing.T) {
	var st lineState
	var ln *stream.Listener[lineState]
	e := start(t, &st, func(l *calloop.Loop[lineState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{ReadSize: 7}, stream.Handler[lineState]{
			OnData: func(s *lineState, c *stream.Conn[lineState], in []byte) int {
				s.calls++
				n := 0
				for {
					i := bytes.IndexByte(in[n:], '\n')
					if i < 0 {
						return n
					}
					line := string(in[n : n+i])
					s.lines = append(s.lines, line)
					fmt.Fprintf(c, "%d:%s\n", len(line), line)
					n += i + 1
				}
			},
			OnClose: func(s *lineState, c *stream.Conn[lineState], err error) { s.closed++; s.err = err },
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
	r := rand.New(rand.NewPCG(3, 4))
	var want []string
	var all []byte
	for i := range 300 {
		line := strconv.Itoa(i) + "-" + string(bytes.Repeat([]byte{'a' + byte(i%26)}, r.IntN(200)))
		want = append(want, line)
		all = append(all, line...)
		all = append(all, '\n')
	}
	go func() {
		// Cut the stream at random places, with small writes.
		for off := 0; off < len(all); {
			n := min(1+r.IntN(50), len(all)-off)
			c.Write(all[off : off+n])
			off += n
		}
	}()
	br := bufio.NewReader(c)
	for i, w := range want {
		got, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if exp := fmt.Sprintf("%d:%s\n", len(w), w); got != exp {
			t.Fatalf("reply %d: got %q, want %q", i, got, exp)
		}
	}
	c.Close()
	e.waitFor("close", func(s *lineState) bool { return s.closed == 1 })
	e.do(func(s *lineState) {
		if s.err != nil {
			t.Error(s.err)
		}
		if len(s.lines) != len(want) {
			t.Errorf("%d lines, want %d", len(s.lines), len(want))
		}
		t.Logf("%d OnData calls for %d bytes", s.calls, len(all))
		ln.Close()
	})
}

type closeState struct {
	got      []byte
	eof      bool
	closed   int
	err      error
	conn     *stream.Conn[closeState]
	writeErr error
}

func closeListener(t *testing.T, network string, h stream.Handler[closeState]) (*env[closeState], *stream.Listener[closeState]) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = sockPath(t)
	}
	var st closeState
	var ln *stream.Listener[closeState]
	e := start(t, &st, func(l *calloop.Loop[closeState]) {
		var err error
		ln, err = stream.Listen(l, network, addr, stream.Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
	})
	return e, ln
}

func halfCloser(c net.Conn) interface{ CloseWrite() error } {
	return c.(interface{ CloseWrite() error })
}

// The peer half-closes: the server sees all its data, replies, and closes
// when done (graceful close at EOF); the peer reads the whole reply.
func TestHalfClosePeer(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			e, ln := closeListener(t, network, stream.Handler[closeState]{
				OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
					s.got = append(s.got, in...)
					return len(in)
				},
				OnReadClosed: func(s *closeState, c *stream.Conn[closeState]) {
					s.eof = true
					// The reply, after the request is complete.
					sum := sha256.Sum256(s.got)
					c.Write(bytes.Repeat(sum[:], 10000))
					c.Close()
				},
				OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err },
			})
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := pattern(3<<20, 5)
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			if err := halfCloser(c).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(req)
			if !bytes.Equal(reply, bytes.Repeat(sum[:], 10000)) {
				t.Fatalf("reply of %d bytes is wrong", len(reply))
			}
			e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
			e.do(func(s *closeState) {
				if !s.eof || s.err != nil {
					t.Errorf("eof %v, err %v", s.eof, s.err)
				}
				ln.Close()
			})
		})
	}
}

// Without OnReadClosed, EOF closes gracefully: the replies to everything
// received are flushed first.
func TestEOFFlushes(t *testing.T) {
	e, ln := closeListener(t, "tcp", stream.Handler[closeState]{
		OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
			c.Write(bytes.Repeat(in, 100))
			return len(in)
		},
		OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err },
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := pattern(100<<10, 9)
	c.Write(req)
	halfCloser(c).CloseWrite()
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != 100*int64(len(req)) {
		t.Fatalf("read %d bytes (%v), want %d", n, err, 100*len(req))
	}
	e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
	e.do(func(s *closeState) {
		if s.err != nil {
			t.Error(s.err)
		}
		ln.Close()
	})
}

// The server half-closes: the peer reads EOF after all the data, the
// server keeps reading what the peer sends afterwards, and the peer's
// close ends the connection cleanly.
func TestHalfCloseServer(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			data := pattern(5<<20, 11)
			e, ln := closeListener(t, network, stream.Handler[closeState]{
				OnOpen: func(s *closeState, c *stream.Conn[closeState]) {
					s.conn = c
					c.Write(data)
					if err := c.CloseWrite(); err != nil {
						t.Error(err)
					}
					_, s.writeErr = c.Write([]byte("late"))
				},
				OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
					s.got = append(s.got, in...)
					return len(in)
				},
				OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err },
			})
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, want %d", len(got), len(data))
			}
			// The server still reads.
			c.Write([]byte("after the server's EOF"))
			e.waitFor("data after half-close", func(s *closeState) bool { return len(s.got) == 22 })
			c.Close()
			e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
			e.do(func(s *closeState) {
				if string(s.got) != "after the server's EOF" || s.err != nil {
					t.Errorf("got %q, err %v", s.got, s.err)
				}
				if !errors.Is(s.writeErr, stream.ErrClosed) {
					t.Errorf("Write after CloseWrite: %v", s.writeErr)
				}
				ln.Close()
			})
		})
	}
}

// Close flushes everything buffered before closing; the peer reads it all,
// then EOF.
func TestGracefulCloseFlushes(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			data := pattern(16<<20, 13)
			e, ln := closeListener(t, network, stream.Handler[closeState]{
				OnOpen: func(s *closeState, c *stream.Conn[closeState]) {
					// Many small writes, then a big one, then Close.
					for i := 0; i < 1<<20; i += 1024 {
						c.Write(data[i : i+1024])
					}
					c.Write(data[1<<20:])
					c.Close()
					if err := c.Close(); err != nil {
						t.Errorf("second Close while closing: %v", err)
					}
					_, s.writeErr = c.Write([]byte("x"))
				},
				OnData:  func(s *closeState, c *stream.Conn[closeState], in []byte) int { return len(in) },
				OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err; s.conn = c },
			})
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h := sha256.New()
			n, err := io.Copy(h, c)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("read %d (%v), want %d", n, err, len(data))
			}
			if sum := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), sum[:]) {
				t.Fatal("checksum mismatch")
			}
			c.Close() // the server waits for this EOF before closing its end
			e.waitFor("close", func(s *closeState) bool { return s.closed == 1 })
			e.do(func(s *closeState) {
				if s.err != nil {
					t.Error(s.err)
				}
				if !errors.Is(s.writeErr, stream.ErrClosed) {
					t.Errorf("Write after Close: %v", s.writeErr)
				}
				if err := s.conn.Close(); !errors.Is(err, stream.ErrClosed) {
					t.Errorf("Close after close: %v", err)
				}
				if err := s.conn.Abort(); !errors.Is(err, stream.ErrClosed) {
					t.Errorf("Abort after close: %v", err)
				}
				ln.Close()
			})
		})
	}
}

// A peer reset reaches OnClose as an error, once, whether the server was
// reading or writing.
func TestPeerReset(t *testing.T) {
	for _, writing := range []bool{false, true} {
		t.Run(fmt.Sprintf("writing=%v", writing), func(t *testing.T) {
			big := make([]byte, 8<<20)
			e, ln := closeListener(t, "tcp", stream.Handler[closeState]{
				OnOpen: func(s *closeState, c *stream.Conn[closeState]) { s.conn = c },
				OnData: func(s *closeState, c *stream.Conn[closeState], in []byte) int {
					if writing {
						c.Write(big) // more than the socket takes: the rest waits
					}
					s.got = append(s.got, in...)
					return len(in)
				},
				OnClose: func(s *closeState, c *stream.Conn[closeState], err error) { s.closed++; s.err = err },
			})
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("hello"))
			e.waitFor("data", func(s *closeState) bool { return len(s.got) == 5 })
			c.(*net.TCPConn).SetLinger(0)
			c.Close() // RST
			e.waitFor("close", func(s *closeState) bool { return s.closed > 0 })
			e.do(func(s *closeState) {
				if s.closed != 1 {
					t.Errorf("OnClose called %d times", s.closed)
				}
				if !errors.Is(s.err, syscall.ECONNRESET) && !errors.Is(s.err, syscall.EPIPE) {
					t.Errorf("OnClose error %v, want a reset", s.err)
				}
				if _, err := s.conn.Write([]byte("x")); !errors.Is(err, stream.ErrClosed) {
					t.Errorf("Write after reset: %v", err)
				}
				ln.Close()
			})
		})
	}
}

// A thousand concurrent clients, each exchanging several messages.
func TestManyConnections(t *testing.T) {
	const n = 1000
	var st echoState
	var ln *stream.Listener[echoState]
	e := start(t, &st, func(l *calloop.Loop[echoState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
	})
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	e.waitFor("all accepted", func(s *echoState) bool { return s.opened == n })
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				msg := []byte(fmt.Sprintf("conn %d message %d", i, j))
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("conn %d: got %q, %v", i, got, err)
					return
				}
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.waitFor("all closed", func(s *echoState) bool { return s.closed == n })
	e.do(func(s *echoState) {
		if len(s.errs) > 0 {
			t.Error(s.errs[0])
		}
		ln.Close()
	})
}
