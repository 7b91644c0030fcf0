//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"syscall"

	"github.com/calloop-go/calloop"
)

// LineReader is a custom source: it reads a file descriptor into a buffer and
// calls its callback once per complete line, keeping a partial line until
// the rest arrives. To stay fair to the loop's other sources it delivers at
// most Budget lines per iteration; lines left over are delivered in the next
// iterations, through synthetic events raised with [calloop.Registrar.Ready].
// At the end of file it delivers the last, unterminated line (if any), calls
// OnEOF and removes itself.
type LineReader[S any] struct {
	Fd     int                     // a non-blocking descriptor; the caller closes it
	Budget int                     // lines per iteration
	OnLine func(s *S, line string) // one complete line, without its newline
	OnEOF  func(s *S, err error)   // the end: err is nil at end of file
	buf    []byte                  // read, not yet delivered: buf[off:]
	off    int                     // start of the undelivered bytes
	eof    bool                    // read returned 0
	r      *calloop.Registrar      // kept from Register: valid until removal
}

// Sub-tokens: the loop hands them back with each event.
const (
	subFD   uint16 = 0 // the kernel reports the descriptor readable
	subMore uint16 = 1 // a synthetic event: buffered lines are waiting
)

// Register watches the descriptor, and picks up buffered lines again if the
// source was disabled while some were waiting.
func (lr *LineReader[S]) Register(r *calloop.Registrar) error {
	lr.r = r
	if lr.backlog() {
		r.Ready(subMore, calloop.Readable)
	}
	return r.AddFD(lr.Fd, subFD, calloop.Readable, calloop.Level)
}

// Unregister stops watching the descriptor.
func (lr *LineReader[S]) Unregister(r *calloop.Registrar) error {
	return r.DeleteFD(lr.Fd)
}

// Process reads when the descriptor is readable and no line is waiting
// (a backlog pauses reading), then delivers at most Budget lines.
func (lr *LineReader[S]) Process(s *S, sub uint16, _ calloop.Events) (calloop.Action, error) {
	if sub == subFD {
		if lr.backlog() {
			return calloop.Continue, nil // the synthetic event will deliver them
		}
		if err := lr.fill(); err != nil {
			lr.OnEOF(s, err)
			return calloop.Remove, nil
		}
	}
	for range lr.Budget {
		i := bytes.IndexByte(lr.buf[lr.off:], '\n')
		if i < 0 {
			break
		}
		line := string(lr.buf[lr.off : lr.off+i])
		lr.off += i + 1
		lr.OnLine(s, line)
	}
	if lr.backlog() {
		lr.r.Ready(subMore, calloop.Readable) // continue in the next iteration
		return calloop.Continue, nil
	}
	// Keep the partial line at the front of the buffer.
	lr.buf = lr.buf[:copy(lr.buf, lr.buf[lr.off:])]
	lr.off = 0
	if lr.eof {
		if len(lr.buf) > 0 {
			lr.OnLine(s, string(lr.buf))
			lr.buf = lr.buf[:0]
		}
		lr.OnEOF(s, nil)
		return calloop.Remove, nil
	}
	return calloop.Continue, nil
}

// backlog reports whether a complete line is buffered.
func (lr *LineReader[S]) backlog() bool {
	return bytes.IndexByte(lr.buf[lr.off:], '\n') >= 0
}

// fill reads once into the buffer's free space, growing it when full.
func (lr *LineReader[S]) fill() error {
	if len(lr.buf) == cap(lr.buf) {
		lr.buf = append(lr.buf, make([]byte, max(512, cap(lr.buf)))...)[:len(lr.buf)]
	}
	n, err := syscall.Read(lr.Fd, lr.buf[len(lr.buf):cap(lr.buf)])
	switch {
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
		return nil // a spurious wakeup: wait for the next event
	case err != nil:
		return err
	case n == 0:
		lr.eof = true
	default:
		lr.buf = lr.buf[:len(lr.buf)+n]
	}
	return nil
}

// Reading six lines, two per iteration, from a pipe whose writer has
// finished; the last line has no newline.
func Example_lineReader() {
	type State struct {
		iteration int
		done      bool
	}

	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		log.Fatal(err)
	}
	rd, wr := p[0], p[1]
	if err := syscall.SetNonblock(rd, true); err != nil {
		log.Fatal(err)
	}
	defer syscall.Close(rd)
	if _, err := syscall.Write(wr, []byte("alpha\nbeta\ngamma\ndelta\nepsilon\nzeta")); err != nil {
		log.Fatal(err)
	}
	syscall.Close(wr)

	l, err := calloop.New[State]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.AddSource(&LineReader[State]{
		Fd:     rd,
		Budget: 2,
		OnLine: func(s *State, line string) {
			fmt.Printf("iteration %d: %s\n", s.iteration, line)
		},
		OnEOF: func(s *State, err error) {
			fmt.Println("end of input:", err)
			s.done = true
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	var s State
	for !s.done {
		s.iteration++
		if err := l.Dispatch(-1, &s); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// iteration 1: alpha
	// iteration 1: beta
	// iteration 2: gamma
	// iteration 2: delta
	// iteration 3: epsilon
	// iteration 3: zeta
	// end of input: <nil>
}
