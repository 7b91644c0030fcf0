package calloop

import (
	"errors"
	"os"
	"os/signal"
	"sync"
)

// signalBuffer is the depth of the os/signal channel behind a signal source.
const signalBuffer = 64

// Notify registers a signal source on l: fn runs on the loop's goroutine for
// each of the signals sigs (all incoming signals if none is given) that the
// process receives. It is built on os/signal, so it works on every Unix and
// leaves the program's other signal handling alone; several loops may watch
// the same signal, and each is told. As with [signal.Notify], signals that
// arrive faster than the loop takes them may be coalesced: a burst is
// delivered at least once. Removing the source stops the delivery
// ([signal.Stop]).
//
// Each signal source runs one goroutine, which forwards signals from
// os/signal's channel to the loop; it ends when the source is removed or the
// loop closed.
func Notify[S any](l *Loop[S], fn func(s *S, sig os.Signal), sigs ...os.Signal) (Token, error) {
	if fn == nil {
		return Token{}, errors.New("calloop: Notify with a nil callback")
	}
	src := &signalSource[S]{
		fn:   fn,
		ch:   make(chan os.Signal, signalBuffer),
		done: make(chan struct{}),
	}
	tok, err := l.AddSource(src)
	if err != nil {
		return Token{}, err
	}
	l.bind(tok, &src.bell)
	signal.Notify(src.ch, sigs...)
	src.wg.Add(1)
	go src.forward()
	return tok, nil
}

type signalSource[S any] struct {
	fn   func(*S, os.Signal)
	bell bell
	ch   chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	pending []os.Signal
	taken   []os.Signal // loop goroutine only
}

func (ss *signalSource[S]) forward() {
	defer ss.wg.Done()
	for {
		select {
		case sig := <-ss.ch:
			ss.mu.Lock()
			ss.pending = append(ss.pending, sig)
			ss.mu.Unlock()
			ss.bell.ring()
		case <-ss.done:
			return
		}
	}
}

func (ss *signalSource[S]) Register(r *Registrar) error { return nil }

func (ss *signalSource[S]) Unregister(r *Registrar) error { return nil }

func (ss *signalSource[S]) Process(s *S, _ uint16, _ Events) (Action, error) {
	ss.bell.take()
	ss.mu.Lock()
	ss.taken, ss.pending = ss.pending, ss.taken[:0]
	ss.mu.Unlock()
	for _, sig := range ss.taken {
		if ss.bell.dead.Load() {
			break // removed by the callback
		}
		ss.fn(s, sig)
	}
	clear(ss.taken)
	return Continue, nil
}

func (ss *signalSource[S]) removed() {
	ss.bell.silence()
	signal.Stop(ss.ch)
	close(ss.done)
	ss.wg.Wait()
}
