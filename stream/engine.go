package stream

import (
	"github.com/calloop-go/calloop"
)

// engineKey is the key of a loop's engine among its per-loop values.
var engineKey = calloop.NewKey("stream.engine")

// engine is the per-loop part of the package: the read buffer every
// connection of the loop reads into, and the list of connections with
// output queued during callbacks, flushed before the loop sleeps. It is a
// source of its own (without descriptors) for its BeforeSleep hook, and the
// loop's value for engineKey while the loop has listeners or connections of
// this package (so the package keeps no process-global state).
type engine[S any] struct {
	l     *calloop.Loop[S]
	tok   calloop.Token
	rbuf  []byte
	dirty []*Conn[S]
	refs  int  // listeners and connections using the engine
	depth int  // > 0 while a callback of this package runs
	dead  bool // removed from the loop
}

func getEngine[S any](l *calloop.Loop[S]) (*engine[S], error) {
	return calloop.Value(l, engineKey, func() (*engine[S], error) {
		e := &engine[S]{l: l}
		tok, err := l.AddSource(e)
		if err != nil {
			return nil, err
		}
		e.tok = tok
		return e, nil
	})
}

func (e *engine[S]) acquire() { e.refs++ }

// release drops a reference; the last one removes the engine.
func (e *engine[S]) release() {
	e.refs--
	if e.refs <= 0 && !e.dead {
		e.dead = true
		calloop.DeleteValue(e.l, engineKey)
		e.l.Remove(e.tok)
	}
}

// readBuf returns the shared read buffer, at least n bytes long.
func (e *engine[S]) readBuf(n int) []byte {
	if len(e.rbuf) < n {
		e.rbuf = make([]byte, n)
	}
	return e.rbuf[:n]
}

// Register implements calloop.Source; the engine has no descriptors.
func (e *engine[S]) Register(*calloop.Registrar) error { return nil }

// Unregister implements calloop.Source. Called by anyone but release, it
// means that the loop is closing.
func (e *engine[S]) Unregister(*calloop.Registrar) error {
	e.dead = true // the loop's Close forgets its values by itself
	return nil
}

// Process implements calloop.Source; the engine raises no events.
func (e *engine[S]) Process(*S, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// BeforeSleep flushes the output queued since the last flush: one write per
// connection, however many Write calls filled it.
func (e *engine[S]) BeforeSleep(*calloop.Registrar) error {
	if len(e.dirty) == 0 {
		return nil
	}
	for i := 0; i < len(e.dirty); i++ {
		c := e.dirty[i]
		if c.dirty {
			c.dirty = false
			c.flush()
			c.settle()
		}
	}
	clear(e.dirty)
	e.dirty = e.dirty[:0]
	return nil
}

func (e *engine[S]) markDirty(c *Conn[S]) {
	if !c.dirty {
		c.dirty = true
		e.dirty = append(e.dirty, c)
	}
}
