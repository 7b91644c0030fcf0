package dgram

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

// Handler is the set of callbacks of a datagram socket; all run on the loop
// goroutine with *S, one at a time, like every other callback of the loop.
type Handler[S any] struct {
	// OnPacket is required: one datagram p arrived from from. p is only
	// valid during the call: its buffer is reused for the next datagram
	// (of this socket or another socket of the loop), so copy what must be
	// kept. cap(p) == len(p): appending to p copies it. from is a value
	// and may be kept.
	OnPacket func(s *S, c *Conn[S], p []byte, from Addr)
	// OnTruncated is optional: a datagram longer than Config.ReadSize
	// arrived; p holds its first ReadSize bytes. Truncated datagrams never
	// reach OnPacket. If OnTruncated is nil, OnError receives a
	// *TruncatedError instead; either way Stats.Truncated counts them.
	OnTruncated func(s *S, c *Conn[S], p []byte, from Addr)
	// OnDrain is optional: a Send or SendTo failed with ErrFull, and the
	// send queue has since drained to Config.LowWater.
	OnDrain func(s *S, c *Conn[S])
	// OnError is optional: an error that concerns one datagram and leaves
	// the socket open: an error the kernel reports for an earlier datagram
	// (such as a refused connection on a dialed UDP socket, errors.Is(err,
	// syscall.ECONNREFUSED)), a queued datagram the kernel refused (it is
	// dropped), or a truncated datagram (see OnTruncated). Stats.Errors
	// counts these errors whether OnError is set or not.
	OnError func(s *S, c *Conn[S], err error)
	// OnClose is optional: called exactly once per socket, after its
	// descriptor is closed, with nil after Close and the reason otherwise
	// (a failed system call). It is never called from inside another
	// callback of the same socket, nor when the loop itself is closed with
	// the socket open.
	OnClose func(s *S, c *Conn[S], err error)
}

// Stats counts what a socket did.
type Stats struct {
	Received  uint64 // datagrams delivered to OnPacket
	Truncated uint64 // datagrams longer than Config.ReadSize
	Sent      uint64 // datagrams the kernel accepted
	Dropped   uint64 // datagrams refused with ErrFull
	Errors    uint64 // errors reported (or that would be reported) to OnError
}

type state uint8

const (
	stOpen   state = iota
	stDone         // closed for the user; OnClose pending
	stClosed       // OnClose called, or the loop closed the socket
)

// subTask is the sub-token of the synthetic event that finishes a close;
// subRetry that of the retry of a blocked queue on a socket whose
// writability cannot be polled; subHeld that of the delivery of datagrams
// held by a pause.
const (
	subTask  = 1
	subRetry = 2
	subHeld  = 3 // datagrams held by a pause are due
)

// The retry of a blocked send queue on a socket whose writability cannot
// be polled (see sysConn.pollBlind) waits minRetry, doubling while the
// kernel takes nothing, up to maxRetry.
const (
	minRetry = time.Millisecond
	maxRetry = 32 * time.Millisecond
)

// outPkt is a queued datagram: slab[off:off+n] to to.
type outPkt struct {
	off, n int
	to     Addr
}

// heldPkt is a received datagram waiting for ResumeReading:
// heldBuf[off:off+n] from from.
type heldPkt struct {
	off, n int
	from   Addr
	trunc  bool
}

// Conn is a datagram socket on a loop: UDP or Unix, made by [Listen] or
// [Dial]. It is a source of the loop: its callbacks ([Handler]) run on the
// loop goroutine with the loop's *S.
//
// Every method must be called on the loop goroutine: from a callback of the
// loop, or by the loop's owner between dispatches. A Conn is not safe for
// concurrent use.
type Conn[S any] struct {
	l       *calloop.Loop[S]
	h       Handler[S]
	cfg     config
	network string
	sys     sysConn
	reg     *calloop.Registrar
	tok     calloop.Token
	state   state
	err     error

	laddr, raddr Addr
	path         string // the Unix socket file to remove on close

	busy       bool // inside Process: sends are queued and flushed after it
	raised     bool // a subTask event is pending
	removing   bool // the source is being removed by us
	registered bool
	interest   calloop.Events
	blocked    bool // the socket refused output: waiting for Writable
	full       bool // a send failed with ErrFull: OnDrain is due at LowWater
	paused     bool

	retryArmed bool          // a retry timer is set (pollBlind sockets)
	retryTok   calloop.Token // its token
	retryWait  time.Duration // its next delay; 0 after progress
	retryFn    func(*S, time.Time) calloop.TimerAction

	// Datagrams of a batch received before a callback paused reading:
	// delivered after ResumeReading, before anything else is received.
	held       []heldPkt
	heldBuf    []byte
	heldHead   int
	heldRaised bool // a subHeld event is pending

	q      []outPkt
	qHead  int
	slab   []byte
	qBytes int // queued bytes plus QueueOverhead per datagram

	stats Stats
}

// Listen opens a datagram socket bound to address on network ("udp",
// "udp4", "udp6" or "unixgram") on loop l, with handler h (h.OnPacket is
// required) and cfg. A UDP address with an empty or zero port picks a free
// port (see [Conn.LocalAddr]); "udp" with no host or an unspecified one
// listens on both IPv4 and IPv6 where the system allows it. A Unix socket
// file that already exists is an error; [Conn.Close] removes the file.
// Answer peers with [Conn.SendTo]. A host name in address is resolved
// before Listen returns, which blocks. Listen must be called on the loop
// goroutine.
func Listen[S any](l *calloop.Loop[S], network, address string, cfg Config, h Handler[S]) (*Conn[S], error) {
	if address == "" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("missing address")}
	}
	return open(l, "listen", network, address, "", cfg, h)
}

// Dial opens a datagram socket on loop l connected to raddr: [Conn.Send]
// sends to it, and only its datagrams are received. laddr, when not empty,
// is the local address to bind first (a Unix socket needs one to receive
// replies: an unbound one sends from no address). network is "udp",
// "udp4", "udp6" or "unixgram". Nothing is exchanged with the peer: an
// unreachable UDP peer shows up later, as an OnError (ECONNREFUSED) or an
// error from Send. A host name in raddr is resolved before Dial returns,
// which blocks: pass an IP address to stay non-blocking. Dial must be
// called on the loop goroutine.
func Dial[S any](l *calloop.Loop[S], network, laddr, raddr string, cfg Config, h Handler[S]) (*Conn[S], error) {
	if raddr == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	return open(l, "dial", network, laddr, raddr, cfg, h)
}

// slotsKey names the receive slots shared by the sockets of a loop.
var slotsKey = calloop.NewKey("dgram.recvSlots")

var errNoOnPacket = errors.New("dgram: Handler.OnPacket is nil")

func open[S any](l *calloop.Loop[S], op, network, laddr, raddr string, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnPacket == nil {
		return nil, errNoOnPacket
	}
	if l == nil {
		return nil, errors.New("dgram: nil loop")
	}
	norm, err := cfg.norm()
	if err != nil {
		return nil, &net.OpError{Op: op, Net: network, Err: err}
	}
	var la, ra Addr
	if laddr != "" {
		if la, err = resolve(network, laddr); err != nil {
			return nil, &net.OpError{Op: op, Net: network, Err: err}
		}
	}
	if raddr != "" {
		if ra, err = resolve(network, raddr); err != nil {
			return nil, &net.OpError{Op: op, Net: network, Err: err}
		}
	}
	rs, err := calloop.Value(l, slotsKey, newRecvSlots)
	if err != nil {
		return nil, err
	}
	c := &Conn[S]{l: l, h: h, cfg: norm, network: network, raddr: ra, interest: calloop.Readable}
	bound, err := c.sys.open(network, la, ra, &c.cfg, rs)
	if err != nil {
		a := ra
		if op == "listen" {
			a = la
		}
		return nil, &net.OpError{Op: op, Net: network, Addr: a.NetAddr(), Err: err}
	}
	if network == "unixgram" && la.Name != "" && la.Name[0] != '@' {
		c.path = la.Name
	}
	c.laddr = bound
	tok, err := l.AddSource((*connSource[S])(c))
	if err != nil {
		c.closeFD()
		return nil, err
	}
	c.tok = tok
	return c, nil
}

// LocalAddr returns the address the socket is bound to (with the actual
// port when port 0 was asked for), or the zero Addr for an unbound Unix
// socket.
func (c *Conn[S]) LocalAddr() Addr { return c.laddr }

// RemoteAddr returns the peer of a socket made by [Dial], or the zero Addr.
func (c *Conn[S]) RemoteAddr() Addr { return c.raddr }

// Stats returns the socket's counters.
func (c *Conn[S]) Stats() Stats { return c.stats }

// Queued returns the bytes of the datagrams waiting in the send queue.
func (c *Conn[S]) Queued() int { return c.qBytes - QueueOverhead*(len(c.q)-c.qHead) }

// Send sends p to the peer of a socket made by [Dial]. See [Conn.SendTo].
func (c *Conn[S]) Send(p []byte) error {
	if c.state != stOpen {
		return ErrClosed
	}
	if !c.raddr.IsValid() {
		return ErrNotConnected
	}
	return c.send(p, Addr{})
}

// SendTo sends datagram p to to, which must be of the socket's kind (a UDP
// address for a UDP socket, a named Unix address for a Unix one), and on
// a socket made by [Dial] its peer (an IPv4 address and the same address
// IPv4-mapped are one peer). p is copied or sent before SendTo returns:
// the caller may reuse it.
//
// Datagrams leave in the order of the calls. Those sent from a callback of
// this socket (OnPacket, say) are queued and leave together when the
// callback returns, in one system call where the system allows it (Linux's
// sendmmsg); the others leave at once. A datagram the kernel cannot take
// now (its buffer is full) waits in the send queue until the socket is
// writable.
//
// The queue is bounded by [Config.HighWater]: a datagram that does not fit
// is dropped and SendTo returns [ErrFull] (this is the drop policy: the
// caller decides whether to retry, and [Handler.OnDrain] tells it when the
// queue has room again). Other errors come from the kernel for this
// datagram (a *os.SyscallError: too long for the socket, no route, a
// refused connection reported for an earlier datagram, ...); a queued
// datagram refused later is reported to [Handler.OnError] instead.
func (c *Conn[S]) SendTo(p []byte, to Addr) error {
	if c.state != stOpen {
		return ErrClosed
	}
	if c.raddr.IsValid() {
		if to.unmap() != c.raddr.unmap() {
			return &net.OpError{Op: "write", Net: c.network, Addr: to.NetAddr(), Err: errors.New("socket is connected to another address")}
		}
		to = Addr{}
	} else if err := c.sys.checkAddr(to); err != nil {
		return &net.OpError{Op: "write", Net: c.network, Addr: to.NetAddr(), Err: err}
	}
	return c.send(p, to)
}

func (c *Conn[S]) send(p []byte, to Addr) error {
	// Inside a callback datagrams are queued, to leave together; one that
	// could never be queued (larger than HighWater) is tried at once when
	// nothing is queued before it.
	if c.qHead == len(c.q) && (!c.busy || len(p) > c.cfg.high-QueueOverhead) {
		err := c.sys.sendOne(p, to)
		if err == nil {
			c.stats.Sent++
			return nil
		}
		if !isAgain(err) {
			return &net.OpError{Op: "write", Net: c.network, Addr: to.NetAddr(), Err: os.NewSyscallError("sendmsg", err)}
		}
		c.blocked = true
	}
	if err := c.enqueue(p, to); err != nil {
		return err
	}
	if !c.busy {
		c.sync()
	}
	return nil
}

func (c *Conn[S]) enqueue(p []byte, to Addr) error {
	cost := len(p) + QueueOverhead
	if cost < 0 || cost > c.cfg.high-c.qBytes {
		c.full = true
		c.stats.Dropped++
		return ErrFull
	}
	if c.qHead == len(c.q) {
		c.q, c.qHead, c.slab = c.q[:0], 0, c.slab[:0]
	} else if c.qHead > 0 && c.qHead >= len(c.q)/2 {
		c.compact()
	}
	off := len(c.slab)
	c.slab = append(c.slab, p...)
	c.q = append(c.q, outPkt{off: off, n: len(p), to: to})
	c.qBytes += cost
	return nil
}

// compact moves the unsent datagrams to the front of the queue and slab.
func (c *Conn[S]) compact() {
	rest := c.q[c.qHead:]
	base := rest[0].off
	n := copy(c.slab, c.slab[base:])
	c.slab = c.slab[:n]
	for i := range rest {
		rest[i].off -= base
	}
	m := copy(c.q, rest)
	clear(c.q[m:])
	c.q, c.qHead = c.q[:m], 0
}

// flush sends queued datagrams until the queue is empty or the kernel
// refuses more. Errors about single datagrams go to OnError when s is not
// nil.
func (c *Conn[S]) flush(s *S) {
	for c.qHead < len(c.q) && c.state == stOpen {
		n, err := c.sys.sendQueue(c.slab, c.q[c.qHead:])
		c.dequeue(n)
		c.stats.Sent += uint64(n)
		if n > 0 {
			c.retryWait = 0
		}
		if err == nil {
			continue
		}
		if isAgain(err) {
			c.blocked = true
			return
		}
		// The first datagram not sent was refused: drop it, go on.
		bad := c.q[c.qHead]
		c.dequeue(1)
		c.stats.Errors++
		if s != nil {
			c.report(s, &net.OpError{Op: "write", Net: c.network, Addr: bad.to.NetAddr(), Err: os.NewSyscallError("sendmsg", err)})
		}
	}
	c.blocked = false
	if c.qHead == len(c.q) {
		clear(c.q)
		c.q, c.qHead, c.slab = c.q[:0], 0, c.slab[:0]
		if cap(c.slab) > 4*defaultReadSize && cap(c.slab) > c.cfg.high {
			c.slab = nil
		}
	}
}

func (c *Conn[S]) dequeue(n int) {
	for i := 0; i < n; i++ {
		c.qBytes -= c.q[c.qHead].n + QueueOverhead
		c.q[c.qHead].to = Addr{}
		c.qHead++
	}
}

// PauseReading stops receiving: datagrams wait in the kernel's buffer (and
// beyond it are dropped by the kernel) until [Conn.ResumeReading]. No
// OnPacket or OnTruncated call follows PauseReading until ResumeReading,
// even when it is called from OnPacket with more datagrams of the same
// batch already received: those are kept (copied) and delivered first,
// in order, after ResumeReading.
func (c *Conn[S]) PauseReading() {
	c.paused = true
	if !c.busy {
		c.sync()
	}
}

// ResumeReading resumes receiving after [Conn.PauseReading].
func (c *Conn[S]) ResumeReading() {
	c.paused = false
	if c.heldHead < len(c.held) && !c.heldRaised && c.state == stOpen && c.reg != nil {
		c.heldRaised = true
		c.reg.Ready(subHeld, calloop.Readable)
	}
	if !c.busy {
		c.sync()
	}
}

// Close closes the socket: queued datagrams the kernel takes at once are
// sent, the others dropped; no callback but OnClose(nil) runs after it, in
// a later loop iteration (or when the running callback of this socket
// returns). The descriptor (and the file of a Unix socket bound to a path)
// is gone when Close returns. A second Close returns [ErrClosed].
func (c *Conn[S]) Close() error {
	if c.state != stOpen {
		return ErrClosed
	}
	c.flush(nil)
	c.finish(nil)
	return nil
}

// finish closes the descriptor; OnClose follows when *S is at hand.
func (c *Conn[S]) finish(err error) {
	c.state, c.err = stDone, err
	if c.registered {
		c.registered = false
		c.reg.DeleteFD(c.sys.fd)
	}
	c.closeFD()
	c.q, c.qHead, c.slab, c.qBytes = nil, 0, nil, 0
	c.held, c.heldBuf, c.heldHead = nil, nil, 0
	if c.retryArmed {
		c.retryArmed = false
		c.l.Remove(c.retryTok)
	}
	if !c.busy && !c.raised && c.reg != nil {
		c.raised = true
		c.reg.Ready(subTask, 0)
	}
}

func (c *Conn[S]) closeFD() {
	c.sys.close()
	if c.path != "" {
		removeFile(c.path)
		c.path = ""
	}
}

// finalize removes the source and calls OnClose.
func (c *Conn[S]) finalize(s *S) {
	c.state = stClosed
	c.removing = true
	c.l.Remove(c.tok)
	if fn := c.h.OnClose; fn != nil {
		fn(s, c, c.err)
	}
}

// sync makes the registered interest match the socket's state.
func (c *Conn[S]) sync() {
	if c.state != stOpen || !c.registered {
		return
	}
	var want calloop.Events
	if !c.paused {
		want |= calloop.Readable
	}
	if c.blocked && c.qHead < len(c.q) {
		if c.sys.pollBlind {
			c.armRetry()
		} else {
			want |= calloop.Writable
		}
	}
	if want != c.interest {
		if err := c.reg.ModifyFD(c.sys.fd, 0, want, calloop.Level); err != nil {
			c.finish(err)
			return
		}
		c.interest = want
	}
}

// armRetry sets a timer that retries the blocked queue of a socket whose
// writability cannot be polled, with a delay that doubles while the
// kernel takes nothing.
func (c *Conn[S]) armRetry() {
	if c.retryArmed {
		return
	}
	c.retryWait = min(max(2*c.retryWait, minRetry), maxRetry)
	if c.retryFn == nil {
		c.retryFn = func(*S, time.Time) calloop.TimerAction {
			c.retryArmed = false
			if c.state == stOpen && c.registered {
				c.reg.Ready(subRetry, calloop.Writable)
			}
			return calloop.Drop()
		}
	}
	tok, err := c.l.AddTimer(c.retryWait, c.retryFn)
	if err != nil {
		c.finish(err)
		return
	}
	c.retryTok, c.retryArmed = tok, true
}

// connSource is a Conn as the loop sees it: the calloop.Source methods live
// on this type so that they are not part of Conn's API.
type connSource[S any] Conn[S]

func (cs *connSource[S]) Register(r *calloop.Registrar) error {
	c := (*Conn[S])(cs)
	c.reg = r
	if c.state != stOpen {
		return nil
	}
	if err := r.AddFD(c.sys.fd, 0, c.interest, calloop.Level); err != nil {
		return err
	}
	c.registered = true
	return nil
}

// Unregister is called when the source is removed: by finalize, or by the
// loop's Close, which closes the descriptor here (without OnClose).
func (cs *connSource[S]) Unregister(r *calloop.Registrar) error {
	c := (*Conn[S])(cs)
	if c.registered {
		c.registered = false
		r.DeleteFD(c.sys.fd)
	}
	if !c.removing && c.state != stClosed {
		c.state = stClosed
		c.closeFD()
		c.q, c.slab = nil, nil
		c.held, c.heldBuf = nil, nil
	}
	return nil
}

func (cs *connSource[S]) Process(s *S, sub uint16, ev calloop.Events) (calloop.Action, error) {
	c := (*Conn[S])(cs)
	switch sub {
	case subTask:
		c.raised = false
	case subHeld:
		c.heldRaised = false
	}
	switch c.state {
	case stClosed:
		return calloop.Continue, nil
	case stDone:
		c.finalize(s)
		return calloop.Continue, nil
	}
	c.busy = true
	defer c.leave(s)
	if ev&(calloop.Writable|calloop.Error|calloop.Hangup) != 0 && c.qHead < len(c.q) {
		c.flush(s)
	}
	if !c.paused && ev&(calloop.Readable|calloop.Error|calloop.Hangup) != 0 {
		c.read(s)
	}
	return calloop.Continue, nil
}

// leave ends a Process call: it sends what the callbacks queued, then
// finishes a close or updates the registration.
func (c *Conn[S]) leave(s *S) {
	if c.state == stOpen && c.qHead < len(c.q) && !c.blocked {
		c.flush(s)
	}
	c.busy = false
	if c.state == stDone {
		c.finalize(s)
		return
	}
	c.drained(s)
	c.sync()
}

// drained calls OnDrain when a full queue has drained to LowWater.
func (c *Conn[S]) drained(s *S) {
	if !c.full || c.qBytes > c.cfg.low || c.state != stOpen {
		return
	}
	c.full = false
	if fn := c.h.OnDrain; fn != nil {
		c.busy = true
		fn(s, c)
		c.busy = false
		if c.state == stOpen && c.qHead < len(c.q) && !c.blocked {
			c.flush(s)
		}
		if c.state == stDone {
			c.finalize(s)
		}
	}
}

func (c *Conn[S]) report(s *S, err error) {
	if fn := c.h.OnError; fn != nil && c.state == stOpen {
		fn(s, c, err)
	}
}

// read receives and delivers datagrams until none is left, the budget is
// spent or reading stops.
func (c *Conn[S]) read(s *S) {
	budget := c.cfg.readBudget
	if c.heldHead < len(c.held) {
		budget -= c.deliverHeld(s)
		if c.heldHead < len(c.held) {
			return // paused again, or closed
		}
	}
	for budget > 0 && c.state == stOpen && !c.paused {
		k := min(budget, c.sys.batch)
		n, err := c.sys.recv(k, c.cfg.readSize)
		if err != nil {
			if isAgain(err) {
				return
			}
			if isTransient(err) {
				c.stats.Errors++
				c.report(s, &net.OpError{Op: "read", Net: c.network, Addr: c.raddr.NetAddr(), Err: os.NewSyscallError("recvmsg", err)})
				budget--
				continue
			}
			c.finish(&net.OpError{Op: "read", Net: c.network, Err: os.NewSyscallError("recvmsg", err)})
			return
		}
		for i := 0; i < n && c.state == stOpen; i++ {
			if c.paused {
				c.hold(i, n)
				return
			}
			p, from, trunc := c.sys.packet(i)
			c.deliver(s, p, from, trunc)
		}
		budget -= n
		if n < k {
			return // the socket is drained (or nearly: level-triggered, it will say)
		}
	}
}

// deliver hands one received datagram to its callback.
func (c *Conn[S]) deliver(s *S, p []byte, from Addr, trunc bool) {
	if trunc {
		c.stats.Truncated++
		if fn := c.h.OnTruncated; fn != nil {
			fn(s, c, p, from)
		} else {
			c.stats.Errors++
			c.report(s, &TruncatedError{From: from, Kept: len(p)})
		}
		return
	}
	c.stats.Received++
	c.h.OnPacket(s, c, p, from)
}

// hold copies datagrams i..n-1 of the batch just received out of the
// loop's shared slots, for delivery after ResumeReading.
func (c *Conn[S]) hold(i, n int) {
	for ; i < n; i++ {
		p, from, trunc := c.sys.packet(i)
		c.held = append(c.held, heldPkt{off: len(c.heldBuf), n: len(p), from: from, trunc: trunc})
		c.heldBuf = append(c.heldBuf, p...)
	}
}

// deliverHeld delivers the held datagrams until none is left or reading
// stops again; it returns how many it delivered.
func (c *Conn[S]) deliverHeld(s *S) int {
	k := 0
	for c.heldHead < len(c.held) && c.state == stOpen && !c.paused {
		h := c.held[c.heldHead]
		c.held[c.heldHead].from = Addr{}
		c.heldHead++
		k++
		end := h.off + h.n
		c.deliver(s, c.heldBuf[h.off:end:end], h.from, h.trunc)
	}
	if c.heldHead == len(c.held) {
		c.held, c.heldBuf, c.heldHead = nil, nil, 0
	}
	return k
}
