//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// pattern returns n pseudo-random bytes.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// A 64 MiB echo through a net.Conn peer: both directions at once, exact
// byte count and checksum.
func TestLargeEcho(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			const size = 64 << 20
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = sockPath(t)
			}
			var st echoState
			var ln *stream.Listener[echoState]
			e := start(t, &st, func(l *calloop.Loop[echoState]) {
				var err error
				ln, err = stream.Listen(l, network, addr, stream.Config{}, echoHandler())
				if err != nil {
					t.Fatal(err)
				}
			})
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			data := pattern(size, 7)
			werr := make(chan error, 1)
			go func() {
				// Uneven chunks, to cut messages anywhere.
				r := rand.New(rand.NewPCG(1, 2))
				for off := 0; off < len(data); {
					n := min(1+r.IntN(300<<10), len(data)-off)
					if _, err := c.Write(data[off : off+n]); err != nil {
						werr <- err
						return
					}
					off += n
				}
				werr <- nil
			}()
			h := sha256.New()
			n, err := io.CopyN(h, c, size)
			if err != nil {
				t.Fatalf("read %d: %v", n, err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if got, want := h.Sum(nil), sha256.Sum256(data); string(got) != string(want[:]) {
				t.Fatal("checksum mismatch")
			}
			c.Close()
			e.waitFor("close", func(s *echoState) bool { return s.closed == 1 })
			e.do(func(s *echoState) {
				if len(s.errs) > 0 {
					t.Error(s.errs)
				}
				ln.Close()
			})
		})
	}
}

// transferState is the state of a loop where a stream client sends a large
// payload to a stream server, which sends another back: both ends on the
// same loop.
type transferState struct {
	srvGot, cliGot   int
	srvSent, cliSent int
	closed           int
	errs             []error
}

// Both directions between a Dial'ed stream.Conn and an accepted one, 64 MiB
// each way, written in 256 KiB pieces while less than 512 KiB is buffered
// (an application driving its own backpressure with Buffered). Each side
// stays below HighWater: above it, each would stop reading while the other
// waits for it to read, and the two would deadlock.
func TestLargeStreamToStream(t *testing.T) {
	const size = 64 << 20
	up, down := pattern(size, 1), pattern(size, 2)
	srvH, cliH := sha256.New(), sha256.New()

	// pump writes the next piece of payload while little is buffered.
	pump := func(c *stream.Conn[transferState], payload []byte, sent *int) {
		for *sent < len(payload) && c.Buffered() < 512<<10 {
			n := min(256<<10, len(payload)-*sent)
			if _, err := c.Write(payload[*sent : *sent+n]); err != nil {
				return
			}
			*sent += n
		}
		if *sent == len(payload) {
			c.CloseWrite()
		}
	}
	// A timer keeps pumping while the output drains (there is no "drained"
	// callback: the pump runs again on input and every millisecond).
	var st transferState
	var ln *stream.Listener[transferState]
	var cli *stream.Conn[transferState]
	var srv *stream.Conn[transferState]
	e := start(t, &st, func(l *calloop.Loop[transferState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[transferState]{
			OnOpen: func(s *transferState, c *stream.Conn[transferState]) {
				srv = c
				pump(c, down, &s.srvSent)
			},
			OnData: func(s *transferState, c *stream.Conn[transferState], in []byte) int {
				srvH.Write(in)
				s.srvGot += len(in)
				pump(c, down, &s.srvSent)
				return len(in)
			},
			// Both sides keep sending after the other's EOF.
			OnReadClosed: func(*transferState, *stream.Conn[transferState]) {},
			OnClose: func(s *transferState, c *stream.Conn[transferState], err error) {
				s.closed++
				if err != nil {
					s.errs = append(s.errs, err)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		cli, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[transferState]{
			OnOpen: func(s *transferState, c *stream.Conn[transferState]) { pump(c, up, &s.cliSent) },
			OnData: func(s *transferState, c *stream.Conn[transferState], in []byte) int {
				cliH.Write(in)
				s.cliGot += len(in)
				pump(c, up, &s.cliSent)
				return len(in)
			},
			// Both sides keep sending after the other's EOF.
			OnReadClosed: func(*transferState, *stream.Conn[transferState]) {},
			OnClose: func(s *transferState, c *stream.Conn[transferState], err error) {
				s.closed++
				if err != nil {
					s.errs = append(s.errs, err)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		l.AddTimer(time.Millisecond, func(s *transferState, _ time.Time) calloop.TimerAction {
			if s.closed == 2 {
				return calloop.Drop()
			}
			if srv != nil {
				pump(srv, down, &s.srvSent)
			}
			pump(cli, up, &s.cliSent)
			return calloop.Again(time.Millisecond)
		})
	})
	e.waitFor("both closed", func(s *transferState) bool { return s.closed == 2 })
	e.do(func(s *transferState) {
		if len(s.errs) > 0 {
			t.Fatal(s.errs)
		}
		if s.srvGot != size || s.cliGot != size {
			t.Fatalf("server got %d, client got %d, want %d", s.srvGot, s.cliGot, size)
		}
		ln.Close()
	})
	if got, want := srvH.Sum(nil), sha256.Sum256(up); string(got) != string(want[:]) {
		t.Error("upstream checksum mismatch")
	}
	if got, want := cliH.Sum(nil), sha256.Sum256(down); string(got) != string(want[:]) {
		t.Error("downstream checksum mismatch")
	}
}
