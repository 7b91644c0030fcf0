//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// terminal is the program's input as a library would ship it: one custom
// source with one token, whose children are the terminal's descriptor, the
// escape-sequence timeout timer and the SIGWINCH watch. It turns what they
// report into two flows: the keys pressed, decoded (an arrow key arrives as
// three bytes, a lone Esc as one: which of the two a single ESC byte is, only
// the timeout can tell), and the window's sizes.
type terminal[S any] struct {
	l       *calloop.Loop[S]
	reg     *calloop.Registrar
	tok     calloop.Token
	in, out int
	esc     time.Duration
	timer   calloop.Token
	pending []byte // an escape sequence not complete yet

	keys  *calloop.Flow[S, string]
	ek    *calloop.Emitter[S, string]
	sizes *calloop.Flow[S, size]
	es    *calloop.Emitter[S, size]
}

type size struct{ cols, rows int }

// maxEscape bounds an escape sequence: longer ones are not ours to decode.
const maxEscape = 32

// newTerminal adds the input source of the terminal read on in, whose
// window size is that of out, and returns it. Its flows are silent until
// consumed: tie the terminal to the flow built from them with
// [calloop.Flow.Adopt], so that one token pauses and removes both.
func newTerminal[S any](l *calloop.Loop[S], in, out int, esc time.Duration) (*terminal[S], error) {
	t := &terminal[S]{l: l, in: in, out: out, esc: esc}
	var err error
	if t.keys, t.ek, err = calloop.NewFlow[S, string](l); err != nil {
		return nil, err
	}
	if t.sizes, t.es, err = calloop.NewFlow[S, size](l); err != nil {
		l.Remove(t.keys.Token())
		return nil, err
	}
	if t.tok, err = l.AddSource(t); err != nil {
		l.Remove(t.keys.Token())
		l.Remove(t.sizes.Token())
		return nil, err
	}
	adopt := func(tok calloop.Token, err error) error {
		if err == nil {
			err = t.reg.Adopt(tok)
		}
		return err
	}
	fdTok, err := l.AddFD(in, calloop.Readable, calloop.Level, t.readable)
	err = adopt(fdTok, err)
	if err == nil {
		t.timer, err = l.AddTimer(time.Duration(1<<63-1), t.expired)
		err = adopt(t.timer, err)
	}
	if err == nil {
		var sigTok calloop.Token
		sigTok, err = calloop.Notify(l, t.winch, syscall.SIGWINCH)
		err = adopt(sigTok, err)
	}
	if err != nil {
		l.Remove(t.tok) // and the children adopted so far
		l.Remove(t.keys.Token())
		l.Remove(t.sizes.Token())
		return nil, err
	}
	return t, nil
}

// Keys returns the flow of keys: a printable character as itself, others
// by name ("Enter", "Ctrl-C", "Up", "Esc", "Alt-x"...), and "EOF" when the
// terminal's input ends.
func (t *terminal[S]) Keys() *calloop.Flow[S, string] { return t.keys }

// Sizes returns the flow of window sizes, one per SIGWINCH.
func (t *terminal[S]) Sizes() *calloop.Flow[S, size] { return t.sizes }

// Token returns the terminal source's token.
func (t *terminal[S]) Token() calloop.Token { return t.tok }

// The parent registers nothing itself: its children do the work.
func (t *terminal[S]) Register(r *calloop.Registrar) error { t.reg = r; return nil }
func (t *terminal[S]) Unregister(*calloop.Registrar) error { return nil }
func (t *terminal[S]) Process(*S, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// Size reads the window size of the output terminal.
func (t *terminal[S]) Size() (size, error) {
	ws, err := unix.IoctlGetWinsize(t.out, unix.TIOCGWINSZ)
	if err != nil {
		return size{}, err
	}
	return size{int(ws.Col), int(ws.Row)}, nil
}

func (t *terminal[S]) winch(s *S, _ os.Signal) {
	if sz, err := t.Size(); err == nil {
		t.es.Emit(s, sz)
	}
}

func (t *terminal[S]) readable(s *S, _ calloop.Events) calloop.Action {
	var buf [64]byte
	n, err := unix.Read(t.in, buf[:])
	if n <= 0 {
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			t.ek.Emit(s, "EOF") // end of input or a broken terminal
			t.l.Disable(t.tok)
		}
		return calloop.Continue
	}
	for _, b := range buf[:n] {
		t.decode(s, b)
	}
	if len(t.pending) > 0 {
		t.l.ResetTimer(t.timer, t.esc) // is it Esc, or the start of a sequence?
	}
	return calloop.Continue
}

// decode takes one byte of input.
func (t *terminal[S]) decode(s *S, b byte) {
	if len(t.pending) == 0 {
		if b == 0x1b {
			t.pending = append(t.pending, b)
			return
		}
		t.ek.Emit(s, keyName(b))
		return
	}
	if b == 0x1b && len(t.pending) == 1 { // Esc, then another escape
		t.ek.Emit(s, "Esc")
		return
	}
	t.pending = append(t.pending, b)
	if len(t.pending) == 2 {
		if b == '[' || b == 'O' {
			return // CSI or SS3: a final byte follows
		}
		t.done(s, "Alt-"+keyName(b))
		return
	}
	if b >= 0x40 && b <= 0x7e { // the final byte of CSI/SS3
		t.done(s, seqName(t.pending))
		return
	}
	if len(t.pending) >= maxEscape {
		t.done(s, "Esc?")
	}
}

// done emits a decoded sequence and idles the timer.
func (t *terminal[S]) done(s *S, name string) {
	t.pending = t.pending[:0]
	t.l.ResetTimer(t.timer, time.Duration(1<<63-1))
	t.ek.Emit(s, name)
}

// expired: nothing followed the ESC in time. A lone ESC was the Esc key;
// the bytes of an incomplete sequence are taken as they are.
func (t *terminal[S]) expired(s *S, _ time.Time) calloop.TimerAction {
	p := append([]byte(nil), t.pending...)
	t.pending = t.pending[:0]
	if len(p) > 0 {
		t.ek.Emit(s, "Esc")
		for _, b := range p[1:] {
			t.ek.Emit(s, keyName(b))
		}
	}
	return calloop.Again(time.Duration(1<<63 - 1))
}

func keyName(b byte) string {
	switch {
	case b == '\r' || b == '\n':
		return "Enter"
	case b == '\t':
		return "Tab"
	case b == 0x7f:
		return "Backspace"
	case b < 0x20:
		return "Ctrl-" + string(rune('@'+b))
	case b >= 0x80:
		return "Byte"
	}
	return string(rune(b))
}

func seqName(seq []byte) string {
	switch seq[len(seq)-1] {
	case 'A':
		return "Up"
	case 'B':
		return "Down"
	case 'C':
		return "Right"
	case 'D':
		return "Left"
	case 'H':
		return "Home"
	case 'F':
		return "End"
	}
	return "Esc?"
}
