package stream

// Host name resolution for Dial: off the loop (a goroutine of calloop.Go),
// with the addresses tried in turn on the loop.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// minAttempt is the least time an attempt gets when the time left of a dial
// is shared among the addresses still to try (net.Dialer's rule).
const minAttempt = 2 * time.Second

// splitHost tells whether address ("host:port") names a host that must be
// resolved: neither empty nor an IP literal. Its port is returned as given.
func splitHost(network, address string) (host, port string, named bool) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", "", false
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return "", "", false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "", "", false
	}
	return host, port, true
}

// resolved is what the resolving goroutine hands to the loop.
type resolved struct {
	addrs []netip.Addr
	port  int
}

// dialer dials a host name for a Conn: it resolves the name on a goroutine
// and tries the addresses in turn, each connection attempt being a source
// of the loop (the dialer itself, for the attempt's descriptor) until one
// succeeds and hands its descriptor to the Conn. It ends with the Conn: the
// Conn's OnClose (wrapped) stops it, and the loop's Close removes it.
type dialer[S any] struct {
	c        *Conn[S]
	l        *calloop.Loop[S]
	network  string
	address  string
	host     string
	port     string
	lookup   func(ctx context.Context, network, host string) ([]netip.Addr, error)
	attempt  time.Duration // DialConfig.AttemptTimeout
	deadline time.Time     // of the whole dial (zero: none)

	fut    *calloop.Future[resolved]
	res    resolved
	next   int           // index of the next address to try
	tok    calloop.Token // the dialer as a source, while an attempt is in flight
	reg    *calloop.Registrar
	fd     int // the attempt's descriptor, or -1
	addr   *net.TCPAddr
	atimer calloop.Token // the attempt's timeout
	dtimer calloop.Token // the dial's timeout
	first  error         // the first attempt's error, reported if all fail
	done   bool
	user   func(s *S, c *Conn[S], err error) // the user's OnClose
}

// work resolves the host name (and a port given by name). It runs on a
// goroutine of calloop.Go.
func (d *dialer[S]) work(ctx context.Context) (resolved, error) {
	var r resolved
	ipnet := "ip"
	switch d.network {
	case "tcp4":
		ipnet = "ip4"
	case "tcp6":
		ipnet = "ip6"
	}
	p, err := strconv.ParseUint(d.port, 10, 16)
	if err != nil {
		n, err := net.DefaultResolver.LookupPort(ctx, d.network, d.port)
		if err != nil {
			return r, err
		}
		p = uint64(n)
	}
	r.port = int(p)
	addrs, err := d.lookup(ctx, ipnet, d.host)
	if err != nil {
		return r, err
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	// Keep the addresses of the network's family, in the resolver's order.
	for _, a := range addrs {
		switch {
		case !a.IsValid():
			continue
		case d.network == "tcp4" && !a.Unmap().Is4():
			continue
		case d.network == "tcp6" && a.Unmap().Is4():
			continue
		}
		r.addrs = append(r.addrs, a)
	}
	if len(r.addrs) == 0 {
		return r, &net.DNSError{Err: "no suitable address found", Name: d.host, IsNotFound: true}
	}
	return r, nil
}

// resolvedFn receives the result of work on the loop.
func (d *dialer[S]) resolvedFn(s *S, r resolved, err error) {
	if d.done || d.c.state != stDialing {
		return
	}
	d.fut = nil
	c := d.c
	c.enter()
	defer c.leave(s)
	if err != nil {
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			err = &net.DNSError{Err: err.Error(), Name: d.host, IsTimeout: timeout, UnwrapErr: err}
		}
		c.fail(&net.OpError{Op: "dial", Net: d.network, Err: err})
		return
	}
	d.res = r
	d.try(s)
}

// try starts connection attempts, from the next address on, until one is
// in progress or succeeds; if none is left it fails the Conn with the first
// attempt's error. Called inside the Conn's callback bracket.
func (d *dialer[S]) try(s *S) {
	c := d.c
	for d.next < len(d.res.addrs) {
		a := d.res.addrs[d.next]
		d.next++
		d.addr = &net.TCPAddr{IP: a.AsSlice(), Zone: a.Zone(), Port: d.res.port}
		fd, inProgress, err := sock.Connect(d.network, d.addr)
		if err != nil {
			d.failed(&net.OpError{Op: "dial", Net: d.network, Addr: d.addr, Err: err})
			continue
		}
		if !inProgress {
			d.handover(s, fd)
			return
		}
		d.fd = fd
		if d.tok.IsZero() {
			tok, err := d.l.AddSource(d)
			if err != nil {
				sock.Close(fd)
				d.fd = -1
				c.fail(err)
				return
			}
			d.tok = tok
		} else if err := d.reg.AddFD(fd, 0, calloop.Writable, calloop.Level); err != nil {
			sock.Close(fd)
			d.fd = -1
			c.fail(err)
			return
		}
		if t := d.attemptTimeout(); t > 0 {
			d.atimer, _ = d.l.AddTimer(t, d.attemptExpired)
		}
		return
	}
	c.fail(d.first)
}

// attemptTimeout is the time the attempt just started gets: AttemptTimeout,
// or, when the dial has a deadline and more addresses remain, a share of
// the time left (at least minAttempt, as net.Dialer does). Zero means no
// limit of the attempt's own (the dial's timeout, if any, applies).
func (d *dialer[S]) attemptTimeout() time.Duration {
	t := d.attempt
	if d.deadline.IsZero() {
		return t
	}
	left := time.Until(d.deadline)
	if t <= 0 {
		n := len(d.res.addrs) - d.next + 1 // this one and those after it
		if n <= 1 {
			return 0
		}
		t = max(left/time.Duration(n), minAttempt)
	}
	if t >= left {
		return 0 // the dial's timeout comes first
	}
	return t
}

// failed records an attempt's error; the first is the one reported.
func (d *dialer[S]) failed(err error) {
	if d.first == nil {
		d.first = err
	}
}

// endAttempt deregisters and closes the attempt's descriptor, and stops its
// timer.
func (d *dialer[S]) endAttempt(closeFD bool) {
	if !d.atimer.IsZero() {
		d.l.Remove(d.atimer)
		d.atimer = calloop.Token{}
	}
	if d.fd >= 0 {
		if d.reg != nil {
			d.reg.DeleteFD(d.fd)
		}
		if closeFD {
			sock.Close(d.fd)
		}
		d.fd = -1
	}
}

// attemptExpired moves on to the next address when an attempt takes too
// long.
func (d *dialer[S]) attemptExpired(s *S, _ time.Time) calloop.TimerAction {
	d.atimer = calloop.Token{}
	if d.done || d.fd < 0 || d.c.state != stDialing {
		return calloop.Drop()
	}
	d.endAttempt(true)
	d.failed(&net.OpError{Op: "dial", Net: d.network, Addr: d.addr, Err: os.ErrDeadlineExceeded})
	c := d.c
	c.enter()
	defer c.leave(s)
	d.try(s)
	return calloop.Drop()
}

// handover gives a connected (or connecting, and then complete) descriptor
// to the Conn and completes its dial.
func (d *dialer[S]) handover(s *S, fd int) {
	c := d.c
	d.stop()
	c.fd, c.raddr = fd, d.addr
	if err := c.reg.AddFD(fd, 0, c.interest, calloop.Level); err != nil {
		c.fail(err)
		return
	}
	c.fdReg = regActive
	c.connected(s)
}

// timedOut is the dial's deadline.
func (d *dialer[S]) timedOut(s *S, _ time.Time) calloop.TimerAction {
	c := d.c
	d.dtimer = calloop.Token{}
	if d.done || c.state != stDialing {
		return calloop.Drop()
	}
	var err error
	if d.fut != nil {
		err = &net.OpError{Op: "dial", Net: d.network, Err: &net.DNSError{
			Err: "lookup timed out (dial timeout)", Name: d.host, IsTimeout: true, UnwrapErr: os.ErrDeadlineExceeded}}
	} else {
		err = &net.OpError{Op: "dial", Net: d.network, Addr: d.addr, Err: os.ErrDeadlineExceeded}
	}
	c.enter()
	defer c.leave(s)
	c.fail(err)
	return calloop.Drop()
}

// stop ends the dialer: the resolution is cancelled (its goroutine sees
// its context cancelled), the attempt's descriptor closed unless handed
// over, the dialer's source removed.
func (d *dialer[S]) stop() {
	if d.done {
		return
	}
	d.done = true
	if d.fut != nil {
		d.fut.Cancel()
		d.fut = nil
	}
	d.endAttempt(true)
	if !d.dtimer.IsZero() {
		d.l.Remove(d.dtimer)
		d.dtimer = calloop.Token{}
	}
	if !d.tok.IsZero() {
		d.l.Remove(d.tok)
		d.tok = calloop.Token{}
	}
}

// onClose is the Conn's OnClose: it stops the dialer, then calls the
// user's.
func (d *dialer[S]) onClose(s *S, c *Conn[S], err error) {
	d.stop()
	if d.user != nil {
		d.user(s, c, err)
	}
}

// Register implements calloop.Source: the attempt's descriptor.
func (d *dialer[S]) Register(r *calloop.Registrar) error {
	d.reg = r
	if d.fd < 0 {
		return nil
	}
	return r.AddFD(d.fd, 0, calloop.Writable, calloop.Level)
}

// Unregister implements calloop.Source; when the loop closes it closes the
// attempt's descriptor.
func (d *dialer[S]) Unregister(r *calloop.Registrar) error {
	if d.fd >= 0 {
		r.DeleteFD(d.fd)
		sock.Close(d.fd)
		d.fd = -1
	}
	d.reg = nil
	d.tok = calloop.Token{}
	return nil
}

// Process implements calloop.Source: the attempt completed.
func (d *dialer[S]) Process(s *S, _ uint16, ev calloop.Events) (calloop.Action, error) {
	c := d.c
	if d.done || d.fd < 0 || c.state != stDialing {
		return calloop.Continue, nil
	}
	c.enter()
	defer c.leave(s)
	fd := d.fd
	if err := sock.SocketError(fd, "connect"); err != nil {
		d.endAttempt(true)
		d.failed(&net.OpError{Op: "dial", Net: d.network, Addr: d.addr, Err: err})
		d.try(s)
		return calloop.Continue, nil
	}
	d.endAttempt(false)
	d.handover(s, fd)
	return calloop.Continue, nil
}
