//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// The model-based test of a connection's promises. A dialled Conn goes
// through a random sequence of operations of its user (Write, WriteRef,
// Close, CloseWrite, Abort, PauseReading, ResumeReading; from outside the
// package's callbacks, and from inside another connection's OnData, where
// writes are queued and coalesced) and of its peer,
// a plain socket driven by the test (read some, send some, half-close,
// reset), starting before the dial completes. The model is small:
//
//   - the output is the sequence of bytes accepted by Write and WriteRef (a
//     nil error); byte k of it is byte(k % 251);
//   - the peer receives a prefix of the output, in order, never more;
//   - OnClose is called exactly once;
//   - if the user did not Abort and the peer did not reset, OnClose gets
//     nil and the peer has received the whole output: nothing written
//     before a clean close is lost, and no loss is silent;
//   - OnDrain is called only when Buffered() is at or below LowWater;
//   - every WriteRef's release is called exactly once, and by OnClose for
//     those made before it.

const (
	modelHigh = 64 << 10
	modelLow  = 16 << 10
)

type modelState struct {
	t         *testing.T
	conn      *stream.Conn[modelState]
	r         *rand.Rand
	written   int // bytes of output accepted
	opened    int
	closes    int
	closeErr  error
	drains    int
	badDrains []int
	refs      int // WriteRef calls
	released  map[int]int
	relAtEnd  int // releases seen when OnClose ran
	refsAtEnd int // WriteRef calls made before OnClose
	log       []string
	script    []func(*modelState) // run by the driver's OnData
	scripts   int                 // scripts run
}

func (s *modelState) logf(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf(format, args...))
}

// out returns the next n bytes of the output stream, from position at.
func out(at, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((at + i) % 251)
	}
	return p
}

func (s *modelState) write(n int) {
	p := out(s.written, n)
	if _, err := s.conn.Write(p); err == nil {
		s.written += n
	}
	s.logf("Write(%d) buffered %d", n, s.conn.Buffered())
}

func (s *modelState) writeRef(n int) {
	p := out(s.written, n)
	i := s.refs
	s.refs++
	if _, err := s.conn.WriteRef(p, func() { s.released[i]++ }); err == nil {
		s.written += n
	}
	s.logf("WriteRef(%d) buffered %d", n, s.conn.Buffered())
}

func modelHandler() stream.Handler[modelState] {
	return stream.Handler[modelState]{
		OnOpen: func(s *modelState, c *stream.Conn[modelState]) { s.opened++; s.logf("OnOpen") },
		OnData: func(s *modelState, c *stream.Conn[modelState], in []byte) int { return len(in) },
		OnDrain: func(s *modelState, c *stream.Conn[modelState]) {
			s.drains++
			if b := c.Buffered(); b > modelLow {
				s.badDrains = append(s.badDrains, b)
			}
			s.logf("OnDrain buffered %d", c.Buffered())
			if s.r.IntN(2) == 0 { // a producer writing more
				s.write(1 + s.r.IntN(2*modelHigh))
			}
		},
		OnClose: func(s *modelState, c *stream.Conn[modelState], err error) {
			s.closes++
			s.closeErr = err
			for _, n := range s.released {
				s.relAtEnd += n
			}
			s.refsAtEnd = s.refs
			s.logf("OnClose %v", err)
		},
	}
}

func TestConnModel(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 20
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for seed := range uint64(seeds) {
		if !modelRun(t, ln, seed) {
			return
		}
	}
}

// modelRun runs one random sequence; it reports whether it passed.
func modelRun(t *testing.T, ln net.Listener, seed uint64) bool {
	r := rand.New(rand.NewPCG(seed, 16))
	st := &modelState{t: t, r: rand.New(rand.NewPCG(seed, 17)), released: map[int]int{}}
	l, err := calloop.New[modelState]()
	if err != nil {
		t.Fatal(err)
	}
	e := &env[modelState]{t: t, l: l, s: st, done: make(chan error, 1)}
	e.tx, err = calloop.NewChannel(l, func(s *modelState, fn func(*modelState), ok bool) {
		if ok {
			fn(s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The driver: a second connection of the loop, from a socketpair,
	// whose OnData runs a script of user operations on the connection
	// under test: operations from inside a callback of the package, where
	// writes are queued and coalesced.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	driverPeer := os.NewFile(uintptr(pair[1]), "driver")
	defer driverPeer.Close()
	if _, err := stream.Wrap(l, pair[0], stream.Config{}, stream.Handler[modelState]{
		OnData: func(s *modelState, _ *stream.Conn[modelState], in []byte) int {
			for _, fn := range s.script {
				fn(s)
			}
			s.script = nil
			s.scripts++
			return len(in)
		},
	}); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- l.Run(t.Context(), st) }()
	defer e.stop()

	var aborted, peerReset, peerHalf, peerEOF bool
	var peerLog []string
	received := 0
	fail := func(format string, args ...any) bool {
		var log []string
		e.do(func(s *modelState) { log = s.log })
		t.Errorf("seed %d: %s\nconn: %s\npeer: %s", seed, fmt.Sprintf(format, args...),
			strings.Join(log, "; "), strings.Join(peerLog, "; "))
		return false
	}

	// The dial, and what the user does before it completes.
	e.do(func(s *modelState) {
		c, err := stream.Dial(e.l, "tcp", ln.Addr().String(), 5*time.Second,
			stream.Config{HighWater: modelHigh, LowWater: modelLow}, modelHandler())
		if err != nil {
			t.Fatal(err)
		}
		s.conn = c
		for range r.IntN(4) {
			switch r.IntN(6) {
			case 0, 1:
				s.write(1 + r.IntN(1000))
			case 2:
				s.writeRef(refSize(r))
			case 3:
				s.logf("Close %v", c.Close())
			case 4:
				s.logf("CloseWrite %v", c.CloseWrite())
			case 5:
				if r.IntN(3) == 0 {
					aborted = true
					s.logf("Abort %v", c.Abort())
				}
			}
		}
	})
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	pc, err := ln.Accept()
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	if pc == nil {
		peerReset = true // no peer: nothing can arrive
		peerLog = append(peerLog, "no connection accepted")
	} else {
		defer pc.Close()
	}
	buf := make([]byte, 512<<10)
	peerRead := func(max int, wait time.Duration) error {
		pc.SetReadDeadline(time.Now().Add(wait))
		n, err := pc.Read(buf[:max])
		for i := range n {
			if buf[i] != byte((received+i)%251) {
				return fmt.Errorf("byte %d of the output corrupted", received+i)
			}
		}
		received += n
		if err == io.EOF {
			peerEOF = true
		}
		return nil
	}

	for range 10 + r.IntN(30) {
		op := r.IntN(15)
		if pc == nil || peerReset {
			op = r.IntN(8) // user operations only
		}
		switch op {
		case 14:
			var script []func(*modelState)
			for range 1 + r.IntN(8) {
				switch r.IntN(7) {
				case 0, 1:
					n := 1 + r.IntN(1000)
					script = append(script, func(s *modelState) { s.write(n) })
				case 2, 3:
					n := 1 + r.IntN(40<<10)
					script = append(script, func(s *modelState) { s.write(n) })
				case 4:
					n := bigSize(r)
					if r.IntN(3) == 0 {
						n = 1<<20 + r.IntN(4<<20) // more than the socket buffers hold
					}
					script = append(script, func(s *modelState) { s.write(n) })
				case 5:
					n := refSize(r)
					script = append(script, func(s *modelState) { s.writeRef(n) })
				case 6:
					if r.IntN(4) == 0 {
						script = append(script, func(s *modelState) { s.logf("Close %v", s.conn.Close()) })
					}
				}
			}
			var n int
			e.do(func(s *modelState) { s.script, n = script, s.scripts })
			if _, err := driverPeer.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
			e.waitFor("script", func(s *modelState) bool { return s.scripts > n })
		case 0, 1:
			e.do(func(s *modelState) { s.write(1 + r.IntN(1000)) })
		case 2:
			e.do(func(s *modelState) { s.write(bigSize(r)) })
		case 3:
			e.do(func(s *modelState) { s.writeRef(refSize(r)) })
		case 4:
			if r.IntN(3) == 0 {
				e.do(func(s *modelState) { s.logf("Close %v", s.conn.Close()) })
			}
		case 5:
			if r.IntN(2) == 0 {
				e.do(func(s *modelState) { s.logf("CloseWrite %v", s.conn.CloseWrite()) })
			}
		case 6:
			if r.IntN(8) == 0 {
				aborted = true
				e.do(func(s *modelState) { s.logf("Abort %v", s.conn.Abort()) })
			}
		case 7:
			e.do(func(s *modelState) {
				if r.IntN(2) == 0 {
					s.conn.PauseReading()
					s.logf("PauseReading")
				} else {
					s.conn.ResumeReading()
					s.logf("ResumeReading")
				}
			})
		case 8, 9:
			if !peerEOF {
				if err := peerRead(1+r.IntN(len(buf)), 2*time.Millisecond); err != nil {
					return fail("%v", err)
				}
				peerLog = append(peerLog, fmt.Sprintf("read to %d", received))
			}
		case 10:
			if !peerHalf {
				pc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				n, _ := pc.Write(make([]byte, 1+r.IntN(8<<10)))
				peerLog = append(peerLog, fmt.Sprintf("sent %d", n))
			}
		case 11:
			if !peerHalf && r.IntN(3) == 0 {
				peerHalf = true
				pc.(*net.TCPConn).CloseWrite()
				peerLog = append(peerLog, "half-close")
			}
		case 12:
			if r.IntN(10) == 0 {
				peerReset = true
				pc.(*net.TCPConn).SetLinger(0)
				pc.Close()
				peerLog = append(peerLog, "reset")
			}
		case 13:
			e.do(func(*modelState) {})
		}
	}

	// The end: the user closes, the peer reads to EOF and closes.
	e.do(func(s *modelState) { s.logf("final Close %v", s.conn.Close()) })
	if !peerReset {
		deadline := time.Now().Add(20 * time.Second)
		for !peerEOF && time.Now().Before(deadline) {
			if err := peerRead(len(buf), 100*time.Millisecond); err != nil {
				return fail("%v", err)
			}
		}
		if !peerEOF {
			return fail("the peer never reached EOF (received %d)", received)
		}
		pc.Close()
	}
	e.waitFor("OnClose", func(s *modelState) bool { return s.closes > 0 })
	for range 3 {
		e.do(func(*modelState) {})
	}
	var problems []string
	e.do(func(s *modelState) {
		bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
		if s.closes != 1 {
			bad("OnClose called %d times", s.closes)
		}
		if received > s.written {
			bad("the peer received %d bytes of %d written", received, s.written)
		}
		if len(s.badDrains) > 0 {
			bad("OnDrain with Buffered() %v above LowWater %d", s.badDrains, modelLow)
		}
		if s.relAtEnd != s.refsAtEnd {
			bad("%d of %d WriteRef releases by OnClose", s.relAtEnd, s.refsAtEnd)
		}
		if len(s.released) != s.refs {
			bad("%d of %d WriteRefs released", len(s.released), s.refs)
		}
		if !aborted && !peerReset && s.closeErr != nil {
			bad("OnClose(%v) without an abort or a reset", s.closeErr)
		}
		if !aborted && !peerReset && received != s.written {
			bad("clean close, but the peer received %d bytes of %d written", received, s.written)
		}
		for i, n := range s.released {
			if n != 1 {
				bad("WriteRef %d released %d times", i, n)
			}
		}
	})
	if len(problems) > 0 {
		return fail("%s", strings.Join(problems, "; "))
	}
	return true
}

func bigSize(r *rand.Rand) int { return 64<<10 + r.IntN(256<<10) }
func refSize(r *rand.Rand) int { return 1 + r.IntN(200<<10) }
