package stream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// DialConfig tunes a dial beyond [Config]: its time limits and how a host
// name is resolved. The zero value gives defaults; a negative duration is
// an error of [DialWith] (wrapping [ErrConfig]).
type DialConfig struct {
	// Timeout bounds the whole dial: the resolution of a host name and
	// every connection attempt. Zero means no limit other than the
	// system's (and the resolver's).
	Timeout time.Duration
	// AttemptTimeout bounds each connection attempt to one of the
	// addresses of a host name, after which the next address is tried.
	// Zero means: when Timeout is set and more than one address is left,
	// the time left shared equally among them, but at least 2 s (the rule
	// of net.Dialer); otherwise no limit of its own.
	AttemptTimeout time.Duration
	// Lookup resolves a host name to its addresses, in the order they are
	// to be tried; network is "ip", "ip4" or "ip6" (for "tcp", "tcp4" and
	// "tcp6"). Nil means net.DefaultResolver.LookupNetIP; the LookupNetIP
	// method of any *net.Resolver fits. It is called on a goroutine of its
	// own (see [calloop.Go]) with a context that is cancelled when the
	// dial ends first (the Conn is closed, the dial times out, the loop is
	// closed), and it must return soon after: closing the loop waits for
	// it.
	Lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dial is [DialWith] with a [DialConfig] that only sets Timeout.
func Dial[S any](l *calloop.Loop[S], network, address string, timeout time.Duration, cfg Config, h Handler[S]) (*Conn[S], error) {
	return DialWith(l, network, address, DialConfig{Timeout: timeout}, cfg, h)
}

// DialWith connects to address on network ("tcp", "tcp4", "tcp6" or "unix")
// without blocking the loop, and returns the connection at once; h.OnOpen
// is called when the connection is established, or h.OnClose with the error
// if it fails or does not complete within dc.Timeout. Both are called in a
// later loop iteration, never from DialWith. Data written before the
// connection completes is queued.
//
// An IP address or a Unix socket path is dialled at once, from DialWith,
// without a goroutine. A host name is resolved off the loop, on a goroutine
// that delivers the addresses to the loop ([DialConfig.Lookup]), then its
// addresses are tried one after the other, in the resolver's order (IPv4
// and IPv6 alike; there is no Happy Eyeballs racing of the two families),
// each within its [DialConfig.AttemptTimeout], the whole within
// dc.Timeout. If every attempt fails, OnClose gets the first attempt's
// error; a failed resolution is a *net.DNSError inside the *net.OpError,
// and a resolution still running at dc.Timeout ends with a *net.DNSError
// that is a timeout and wraps os.ErrDeadlineExceeded. Closing the Conn (or
// the loop) while the name is being resolved cancels the resolution's
// context. For a host name, [Conn.RemoteAddr] is nil until the connection
// is established, then the address that answered: read it on the loop
// goroutine until OnOpen.
//
// DialWith returns an error only for an invalid network, address, Config or
// DialConfig ([ErrConfig]), a missing h.OnData, a closed loop, or when the
// resolution cannot be started ([calloop.ErrGoLimit]). A Unix socket whose
// listener's backlog is full refuses at once: OnClose gets an error
// wrapping EAGAIN in the next iteration, whatever the timeout (net.Dial
// fails the same way). DialWith must be called on the loop goroutine (from
// a callback, or by the loop's owner between dispatches).
func DialWith[S any](l *calloop.Loop[S], network, address string, dc DialConfig, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	ncfg, err := cfg.norm()
	if err != nil {
		return nil, err
	}
	if dc.Timeout < 0 || dc.AttemptTimeout < 0 {
		return nil, fmt.Errorf("%w: DialConfig: Timeout (%v) or AttemptTimeout (%v) is negative", ErrConfig, dc.Timeout, dc.AttemptTimeout)
	}
	if host, port, named := splitHost(network, address); named {
		return dialHost(l, network, address, host, port, dc, ncfg, h)
	}
	timeout := dc.Timeout
	addr, err := resolve(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	sh := &shared[S]{h: h, cfg: ncfg, network: network}
	fd, inProgress, err := sock.Connect(network, addr)
	c := newConn(e, sh, fd, addr, stDialing)
	if err != nil {
		c.state, c.err = stDone, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	e.acquire()
	tok, err := l.AddSource(c.source())
	if err != nil {
		if fd >= 0 {
			sock.Close(fd)
		}
		e.release()
		return nil, err
	}
	c.tok = tok
	switch {
	case c.state == stDone, !inProgress:
		c.raise()
	case timeout > 0:
		c.setPhase(timeout)
	}
	return c, nil
}

// dialHost dials a host name: the Conn starts without a descriptor, and a
// dialer resolves the name and tries its addresses (resolve.go).
func dialHost[S any](l *calloop.Loop[S], network, address, host, port string, dc DialConfig, cfg config, h Handler[S]) (*Conn[S], error) {
	e, err := getEngine(l)
	if err != nil {
		return nil, err
	}
	d := &dialer[S]{l: l, network: network, address: address, host: host, port: port,
		lookup: dc.Lookup, attempt: dc.AttemptTimeout, fd: -1, user: h.OnClose}
	if d.lookup == nil {
		d.lookup = net.DefaultResolver.LookupNetIP
	}
	h.OnClose = d.onClose
	c := newConn(e, &shared[S]{h: h, cfg: cfg, network: network}, -1, nil, stDialing)
	d.c = c
	e.acquire()
	fut, err := calloop.Go(l, d.work, d.resolvedFn)
	if err != nil {
		e.release()
		return nil, err
	}
	d.fut = fut
	tok, err := l.AddSource(c.source())
	if err != nil {
		fut.Cancel()
		e.release()
		return nil, err
	}
	c.tok = tok
	if dc.Timeout > 0 {
		d.deadline = time.Now().Add(dc.Timeout)
		d.dtimer, _ = l.AddTimer(dc.Timeout, d.timedOut)
	}
	return c, nil
}
