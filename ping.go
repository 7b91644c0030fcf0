package calloop

import "errors"

// Ping is a wakeup any goroutine can send to its loop: every [Ping.Ping]
// since the callback last ran is delivered as one call. Pinging allocates
// nothing and makes a system call only when the loop is asleep.
type Ping struct {
	w    *wakeup
	node remoteNode
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
	p := &Ping{w: l.w}
	tok, err := l.AddSource(&pingSource[S]{p: p, fn: fn})
	if err != nil {
		return nil, err
	}
	p.node.idx, p.node.gen, p.tok = tok.id, tok.gen, tok
	return p, nil
}

// Ping wakes the loop and has the callback run. Safe from any goroutine;
// after the source is removed or the loop closed it does nothing.
func (p *Ping) Ping() {
	if !p.node.dead.Load() {
		p.w.signal(&p.node)
	}
}

// Token returns the ping source's token, to remove or disable it.
func (p *Ping) Token() Token { return p.tok }

func (ps *pingSource[S]) Register(r *Registrar) error {
	if ps.p.node.pending { // cleared by Process: a Ready dropped by a new Disable is raised again
		r.Ready(0, Readable)
	}
	return nil
}

func (ps *pingSource[S]) Unregister(r *Registrar) error { return nil }

func (ps *pingSource[S]) Process(s *S, _ uint16, _ Events) (Action, error) {
	if !ps.p.node.pending {
		return Continue, nil // a second Ready raised by Disable/Enable cycles
	}
	ps.p.node.pending = false
	ps.fn(s)
	return Continue, nil
}

func (ps *pingSource[S]) removed() { ps.p.node.dead.Store(true) }
