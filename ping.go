package calloop

import "errors"

// Ping is a wakeup any goroutine can send to its loop: every [Ping.Ping]
// since the callback last ran is delivered as one call. Pinging allocates
// nothing and makes a system call only when the loop is asleep.
type Ping struct {
	bell bell
	tok  Token
}

type pingSource[S any] struct {
	p  *Ping
	fn func(*S)
}

// NewPing registers a ping source on l that calls fn on the loop's goroutine
// after one or more pings. Pings sent while the source is disabled are
// delivered when it is enabled.
func NewPing[S any](l *Loop[S], fn func(s *S)) (*Ping, error) {
	if fn == nil {
		return nil, errors.New("calloop: NewPing with a nil callback")
	}
	p := &Ping{}
	tok, err := l.AddSource(&pingSource[S]{p: p, fn: fn})
	if err != nil {
		return nil, err
	}
	l.bind(tok, &p.bell)
	p.tok = tok
	return p, nil
}

// Ping wakes the loop and has the callback run. Safe from any goroutine;
// after the source is removed or the loop closed it does nothing.
func (p *Ping) Ping() { p.bell.ring() }

// Token returns the ping source's token, to remove or disable it.
func (p *Ping) Token() Token { return p.tok }

func (ps *pingSource[S]) Register(r *Registrar) error { return nil }

func (ps *pingSource[S]) Unregister(r *Registrar) error { return nil }

func (ps *pingSource[S]) Process(s *S, _ uint16, _ Events) (Action, error) {
	if !ps.p.bell.take() {
		return Continue, nil // a second event for one ring (Disable/Enable cycles)
	}
	ps.fn(s)
	return Continue, nil
}

func (ps *pingSource[S]) removed() { ps.p.bell.silence() }
