//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type refState struct {
	conn     *stream.Conn[refState]
	released map[int]int // release calls per WriteRef
	closed   int
	err      error
	msgs     [][]byte
	caps     []int
}

func (s *refState) release(i int) func() {
	return func() {
		if s.released == nil {
			s.released = map[int]int{}
		}
		s.released[i]++
	}
}

func listenRef(t *testing.T, cfg stream.Config, h stream.Handler[refState]) (*env[refState], net.Conn) {
	if h.OnOpen == nil {
		h.OnOpen = func(s *refState, c *stream.Conn[refState]) { s.conn = c }
	}
	if h.OnData == nil {
		h.OnData = func(s *refState, c *stream.Conn[refState], in []byte) int { return len(in) }
	}
	h.OnClose = func(s *refState, c *stream.Conn[refState], err error) { s.closed++; s.err = err }
	var st refState
	var ln *stream.Listener[refState]
	e := start(t, &st, func(l *calloop.Loop[refState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", cfg, h)
		if err != nil {
			t.Fatal(err)
		}
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		e.do(func(s *refState) {
			ln.Close()
			if s.conn != nil {
				s.conn.Abort()
			}
		})
	})
	e.waitFor("open", func(s *refState) bool { return s.conn != nil })
	return e, c
}

// WriteRef keeps a reference, not a copy: a change to the slice after
// WriteRef and before it is written reaches the peer, and release is
// called once, after the last byte was written.
func TestWriteRefByReference(t *testing.T) {
	const size = 8 << 20
	e, c := listenRef(t, stream.Config{}, stream.Handler[refState]{})
	p := pattern(size, 7)
	want := bytes.Clone(p)
	want[size-1] ^= 0xff
	e.do(func(s *refState) {
		if n, err := s.conn.WriteRef(p, s.release(0)); n != size || err != nil {
			t.Errorf("WriteRef: %d, %v", n, err)
		}
		if s.conn.Buffered() == 0 || s.released[0] != 0 {
			t.Fatalf("8 MiB taken at once (buffered %d, released %d)", s.conn.Buffered(), s.released[0])
		}
		p[size-1] ^= 0xff // not written yet: the peer must see this
	})
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer did not get the slice as it was when written")
	}
	e.waitFor("release", func(s *refState) bool { return s.released[0] == 1 })
	e.do(func(s *refState) {
		if s.conn.Buffered() != 0 {
			t.Errorf("buffered %d after everything was read", s.conn.Buffered())
		}
	})
}

// Random mixes of Write and WriteRef, from inside callbacks and from
// outside, small and large, with a peer that reads slowly: the peer gets
// every byte in order, and every release is called exactly once.
func TestWriteRefOrder(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 2))
		var want []byte
		type op struct {
			ref  bool
			data []byte
		}
		var ops []op
		for range 100 {
			var n int
			switch r.IntN(4) {
			case 0:
				n = 1 + r.IntN(100)
			case 1:
				n = 1 + r.IntN(8<<10)
			case 2:
				n = 60<<10 + r.IntN(10<<10)
			default:
				n = r.IntN(300 << 10)
			}
			d := pattern(n, seed*1000+uint64(len(ops)))
			ops = append(ops, op{ref: r.IntN(2) == 0, data: d})
			want = append(want, d...)
		}
		e, c := listenRef(t, stream.Config{HighWater: 64 << 20}, stream.Handler[refState]{})
		done := make(chan []byte)
		go func() {
			got, _ := io.ReadAll(io.LimitReader(c, int64(len(want))))
			done <- got
		}()
		refs := 0
		for i := 0; i < len(ops); {
			k := min(len(ops), i+1+r.IntN(10))
			batch := ops[i:k]
			base := i
			e.do(func(s *refState) {
				for j, o := range batch {
					if o.ref {
						s.conn.WriteRef(o.data, s.release(base+j))
					} else {
						s.conn.Write(o.data)
					}
				}
			})
			for _, o := range batch {
				if o.ref {
					refs++
				}
			}
			i = k
		}
		got := <-done
		if !bytes.Equal(got, want) {
			n := 0
			for n < min(len(got), len(want)) && got[n] == want[n] {
				n++
			}
			t.Fatalf("seed %d: got %d bytes, want %d; first difference at %d", seed, len(got), len(want), n)
		}
		e.waitFor("releases", func(s *refState) bool { return len(s.released) == refs })
		e.do(func(s *refState) {
			for i, n := range s.released {
				if n != 1 || !ops[i].ref {
					t.Errorf("seed %d: op %d released %d times", seed, i, n)
				}
			}
		})
	}
}

// Output queued by reference and dropped by Abort or a close on error is
// released, before OnClose.
func TestWriteRefReleasedOnClose(t *testing.T) {
	e, _ := listenRef(t, stream.Config{}, stream.Handler[refState]{})
	var conn *stream.Conn[refState]
	e.do(func(s *refState) {
		conn = s.conn
		s.conn.WriteRef(make([]byte, 32<<20), s.release(0))
		s.conn.WriteRef(make([]byte, 32<<20), s.release(1))
		if s.released[0]+s.released[1] != 0 {
			t.Fatal("released before written")
		}
		s.conn.Abort()
		if s.released[0] != 1 || s.released[1] != 1 {
			t.Errorf("after Abort: released %v", s.released)
		}
		// After the close, WriteRef fails and releases at once.
		if _, err := s.conn.WriteRef(make([]byte, 1<<20), s.release(2)); err == nil || s.released[2] != 1 {
			t.Errorf("WriteRef after Abort: %v, released %d", err, s.released[2])
		}
	})
	e.waitFor("close", func(s *refState) bool { return s.closed == 1 })
	_ = conn
}

// A length-prefixed protocol that keeps its large messages with
// TakeInput and ReserveInput: every message stays intact after later
// input arrived, and a large message's buffer is exactly its size (no
// step-by-step growth).
func TestTakeInput(t *testing.T) {
	sizes := []int{1 << 20, 10, 3 << 20, 0, 100, 200 << 10}
	h := stream.Handler[refState]{
		OnData: func(s *refState, c *stream.Conn[refState], in []byte) int {
			if len(in) < 4 {
				return 0
			}
			n := int(binary.BigEndian.Uint32(in))
			if len(in) < 4+n {
				c.ReserveInput(4 + n)
				return 0
			}
			b := c.TakeInput()
			if c.TakeInput() == nil || &c.TakeInput()[0] != &b[0] {
				t.Error("TakeInput twice in one call returned different slices")
			}
			s.msgs = append(s.msgs, b[4:4+n])
			s.caps = append(s.caps, cap(b))
			// Scribble on what was consumed: it is the handler's now.
			for i := range 4 {
				b[i] = 0xee
			}
			c.OfferAgain() // one message per call
			return 4 + n
		},
	}
	e, c := listenRef(t, stream.Config{}, h)
	var all []byte
	var want [][]byte
	for i, n := range sizes {
		m := pattern(n, uint64(100+i))
		want = append(want, m)
		all = binary.BigEndian.AppendUint32(all, uint32(n))
		all = append(all, m...)
	}
	// All at once, then the same again in small writes.
	if _, err := c.Write(all); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(all); i += 1000 {
		if _, err := c.Write(all[i:min(len(all), i+1000)]); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("messages", func(s *refState) bool { return len(s.msgs) == 2*len(sizes) })
	e.do(func(s *refState) {
		if c := s.conn.TakeInput(); c != nil {
			t.Error("TakeInput outside OnData returned a slice")
		}
		for i, m := range s.msgs {
			if !bytes.Equal(m, want[i%len(sizes)]) {
				t.Errorf("message %d (%d bytes) changed", i, len(m))
			}
			if n := sizes[i%len(sizes)]; n > 64<<10 && s.caps[i] != 4+n {
				t.Errorf("message %d: buffer of %d bytes for %d", i, s.caps[i], 4+n)
			}
		}
	})
}
