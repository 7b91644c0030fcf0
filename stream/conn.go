package stream

// The API of a connection: its Handler, the Conn type and its methods. The
// state model is in conn_state.go, the I/O in conn_io.go, the loop glue in
// conn_loop.go.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// Handler is the set of callbacks of a connection; all run on the loop
// goroutine with *S, one at a time, like every other callback of the loop.
// A callback may call any method of any connection or listener of the loop,
// including closing its own connection; such a close takes effect when the
// callback returns (OnClose is never called from inside another callback of
// the same connection).
type Handler[S any] struct {
	// OnOpen is optional: a connection was accepted or a dial completed.
	OnOpen func(s *S, c *Conn[S])
	// OnData is required: in holds every unconsumed byte received so far;
	// return how many bytes were consumed. in is only valid during the
	// call. A return value below 0 counts as 0, above len(in) as len(in).
	//
	// The rest is kept and offered again, prefixed to newer data, by this
	// rule: when more data arrives; in a later loop iteration, even without
	// new data, after reading resumes ([Conn.ResumeReading], or the end of
	// a backpressure pause) and after [Conn.OfferAgain]. Otherwise kept
	// input waits for more data: that suits a handler that stops because
	// its input ends in an incomplete message, but a handler that stops
	// early for another reason (it has written enough for now) must call
	// OfferAgain, or it will not see the complete messages it left until
	// the peer sends more, which the peer may never do. When the peer
	// finishes sending (EOF), input left unconsumed is offered once more,
	// the final offer, with [Conn.ReadClosed] true; what that call leaves
	// is dropped.
	OnData func(s *S, c *Conn[S], in []byte) int
	// OnClose is optional: called exactly once per connection, after its
	// descriptor is closed; err is nil for a clean close by either side
	// (EOF, Close, Abort), else the reason: a system call error (such as
	// a reset by the peer, errors.Is(err, syscall.ECONNRESET)), a dial
	// failure or timeout (a *net.OpError), ErrInputTooLarge or
	// ErrOutputTooLarge. It is not called when the loop itself is closed
	// with connections still open: their descriptors are closed silently.
	OnClose func(s *S, c *Conn[S], err error)
	// OnDrain is optional: output that had grown above Config.HighWater
	// (which paused reading from the peer) has drained to
	// Config.LowWater, and reading has resumed. A producer that stops
	// writing once Buffered passes HighWater writes more here. It is
	// called in the loop iteration after the drain.
	OnDrain func(s *S, c *Conn[S])
	// OnReadClosed is optional: the peer has closed its writing side (the
	// input reached EOF) while this side may still write. It follows the
	// final offer of the input left unconsumed (see OnData). If it is nil
	// the connection is closed gracefully at EOF (buffered output is
	// flushed first, then OnClose(nil)), except that a producer waiting
	// for OnDrain (its output had passed HighWater) is let finish: OnDrain
	// is still called, and the graceful close follows the first OnDrain
	// call that leaves the output at or below HighWater. If set, the
	// connection stays open for writing until the handler calls Close,
	// CloseWrite or Abort.
	OnReadClosed func(s *S, c *Conn[S])
}

// shared is what the connections of one listener (or one dial) share.
type shared[S any] struct {
	h       Handler[S]
	cfg     config
	network string
}

var lastID atomic.Uint64

// Conn is a buffered, non-blocking stream connection (TCP or Unix) on a
// loop. It is a source of the loop: its callbacks ([Handler]) run on the
// loop goroutine with the loop's *S.
//
// Every method must be called on the loop goroutine: from a callback of the
// loop, or by the loop's owner between dispatches. A Conn is not safe for
// concurrent use; to write from another goroutine, send the data to the
// loop (a calloop channel) and write it there.
//
// Output is buffered: [Conn.Write] never blocks. The writes made during
// callbacks are coalesced and reach the socket with one system call when
// the callback returns (for the connection whose callback it is) or before
// the loop next sleeps (for the others). When the peer does not read, the
// output buffer grows; above [Config.HighWater] the connection stops
// reading from the peer until the output drains below [Config.LowWater],
// and above [Config.MaxOutput] it is closed.
type Conn[S any] struct {
	e   *engine[S]
	sh  *shared[S]
	reg *calloop.Registrar
	tok calloop.Token
	fd  int
	id  uint64

	// The state model (see conn_state.go).
	state    connState
	wr       wrState
	pause    pauseReason
	eof      bool // the peer finished sending
	fdReg    regState
	interest calloop.Events // registered with the loop (when fdReg is regActive)

	// What the descriptor is (fixed at creation).
	isSock  bool // a socket (not a descriptor of another kind given to Wrap)
	wrapped bool // made by Wrap: opening, with no connect to check
	noHalf  bool // readable and writable, but cannot be half-closed

	// Pending work: decisions taken, waiting for an event or a threshold.
	blocked         bool // the socket refused output: wait for Writable
	drainDue        bool // OnDrain to call once the output is at LowWater
	closeAfterDrain bool // EOF while a producer waited for OnDrain: close once it stops short of HighWater
	closeReq        bool // Close while opening with output queued: flush once open, then close
	offerDue        bool // OfferAgain: kept input to offer in the next iteration

	// Loop glue.
	removing bool // the source is being removed by us
	busy     bool // inside this connection's Process (or another callback bracket)
	raised   bool // a subTask event is pending
	dirty    bool // on the engine's dirty list

	// The running OnData call.
	inData  bool   // inside OnData
	curIn   []byte // its in
	inKept  bool   // curIn is the connection's own buffer
	taken   bool   // TakeInput called
	reserve int    // ReserveInput called
	again   bool   // OfferAgain called
	fscan   int    // Framed lines: bytes at the start of the kept input known to hold no line end

	in         []byte // unconsumed input
	inReserved bool   // in's spare capacity was reserved by the last OnData call: reads go there
	out        []byte // copied output; out[outPos:] not yet written
	outPos     int
	refs       []outRef // output queued by reference; refs[refHead:] not yet written
	refHead    int
	refBytes   int   // bytes of refs[refHead:] not yet written
	err        error // the close reason for OnClose

	raddr, laddr net.Addr
	ctx          any
	vals         connValues   // the values of ConnKeys (conn_value.go)
	tl           *tlsLayer[S] // TLS (tls.go); nil for a plain connection

	// The listener that accepted the connection, and its neighbours in
	// the listener's list of open connections.
	ln             *Listener[S]
	lnPrev, lnNext *Conn[S]

	// The connection's one timer (see conn_timer.go), a child of its
	// source, and the times it watches.
	tm      calloop.Token                           // zero: none
	tmAt    time.Time                               // its deadline
	tmFn    func(*S, time.Time) calloop.TimerAction // c.onTimer, bound once
	phaseAt time.Time                               // dial (stDialing), close (stClosing, closeAfterDrain) or linger (stLinger) deadline; zero: none
	actAt   time.Time                               // last input read or output written (IdleTimeout)
	rdAt    time.Time                               // last input read, or reading (re)started (ReadTimeout)
	wrAt    time.Time                               // last output written while refused, or the first refusal (WriteTimeout)
	rdOn    bool                                    // reading was wanted when last seen (ReadTimeout)
}

func newConn[S any](e *engine[S], sh *shared[S], fd int, raddr net.Addr, st connState) *Conn[S] {
	c := &Conn[S]{e: e, sh: sh, fd: fd, raddr: raddr, state: st, id: lastID.Add(1), isSock: true}
	if st == stDialing {
		c.interest = calloop.Writable
	} else {
		c.interest = calloop.Readable
	}
	return c
}

// ID returns the connection's identifier, unique in the process. It never
// changes, and may be called from any goroutine.
func (c *Conn[S]) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address (a *net.TCPAddr or *net.UnixAddr;
// for a dial, the address dialled). It never changes, and may be called
// from any goroutine.
func (c *Conn[S]) RemoteAddr() net.Addr { return c.raddr }

// LocalAddr returns the local address of the connection, or nil if it is
// not known (the dial has not completed, or the connection was closed
// before the address was asked for). Loop goroutine only.
func (c *Conn[S]) LocalAddr() net.Addr {
	if c.laddr == nil && c.isSock && c.fd >= 0 && c.state != stDialing && c.state < stClosed {
		c.laddr = sock.LocalAddr(c.fd)
	}
	return c.laddr
}

// SetContext attaches user data to the connection. Loop goroutine only.
//
// Deprecated: use a [ConnKey], which is typed and lets several packages
// attach values to one connection: sessionKey.Set(c, sess) instead of
// c.SetContext(sess).
func (c *Conn[S]) SetContext(v any) { c.ctx = v }

// Context returns the value set with SetContext, or nil. Loop goroutine only.
//
// Deprecated: use a [ConnKey]: sessionKey.Get(c) instead of
// c.Context().(*Session).
func (c *Conn[S]) Context() any { return c.ctx }

// Buffered returns the number of output bytes not yet written to the
// socket. Loop goroutine only.
func (c *Conn[S]) Buffered() int { return c.pending() }

// Write queues p for the peer and returns len(p). It never blocks: when
// nothing is queued and the call is made outside the callbacks of this
// package (a timer, a channel callback, the loop's owner) p goes to the
// socket at once, as far as the socket takes it; inside the callbacks of
// this package p is queued and written with the rest of the callback's
// output when the callback returns, with one system call; writes of 64 KiB
// or more go to the socket at once (after what is queued, with writev)
// instead of being copied. p may be reused as soon as Write returns.
//
// Write fails with [ErrClosed] after Close, Abort or CloseWrite or once the
// connection has failed, and with [ErrOutputTooLarge] when the output
// exceeds Config.MaxOutput (the connection is then closed). A write error
// of the socket (a peer reset) is returned too, and the connection is
// closed with it. Before a dial completes, Write queues the data for the
// connection. Loop goroutine only.
func (c *Conn[S]) Write(p []byte) (int, error) {
	if (c.state != stOpen && c.state != stDialing) || c.wr != wrOpen || c.closeReq {
		return 0, ErrClosed
	}
	if c.tl != nil && !c.tl.raw {
		return c.tl.write(p) // TLS: encrypted into Write calls of its own
	}
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if c.state == stOpen && !c.blocked && (c.e.depth == 0 || n >= bigWrite) && c.hasRefs() {
		c.appendOut(p)
		p = nil
		c.flush()
		if c.state >= stDone {
			return 0, c.errOr(ErrClosed)
		}
	} else if c.state == stOpen && !c.blocked && (c.e.depth == 0 || n >= bigWrite) {
		pend := c.out[c.outPos:]
		var w int
		var err error
		if len(pend) == 0 {
			w, err = sock.Write(c.fd, p)
		} else {
			w, err = sock.Writev(c.fd, pend, p)
		}
		if writeTrace != nil {
			writeTrace(w)
		}
		if c.sh.cfg.timed {
			c.wrote(w, w < len(pend)+len(p))
		}
		if err != nil && !sock.IsAgain(err) {
			c.fail(os.NewSyscallError("write", err))
			return 0, c.err
		}
		if w < len(pend)+len(p) {
			c.blocked = true
		}
		if w >= len(pend) {
			c.resetOut() // all of the copy buffer went out
			p = p[w-len(pend):]
		} else {
			c.outPos += w
		}
		if len(p) > 0 {
			c.appendOut(p)
		}
		c.drained() // reset the buffer, end a backpressure pause
		return c.queued(n)
	}
	if len(p) > 0 {
		c.appendOut(p)
	}
	return c.queued(n)
}

// WriteRef queues p for the peer by reference, without copying it: the
// connection keeps p until its last byte is written, and the caller must
// not modify p's bytes until then. release, if not nil, is called exactly
// once, on the loop goroutine, when the connection no longer refers to p:
// once p is written, or when it is dropped (a close, an Abort, a failure, or
// an error from WriteRef itself); it may be called before WriteRef returns,
// or from inside another method of this connection, so it should only do
// bookkeeping (drop a reference count, say) and must not call methods of
// this connection. A p shorter than a few KiB may be copied instead (and
// released at once).
//
// Apart from that, WriteRef is [Conn.Write]: the same order with the other
// writes, the same limits (p counts in [Conn.Buffered], HighWater and
// MaxOutput) and the same errors. It lets a server send a large value from
// where it lives, with no copy in the connection. Loop goroutine only.
func (c *Conn[S]) WriteRef(p []byte, release func()) (int, error) {
	if (c.state != stOpen && c.state != stDialing) || c.wr != wrOpen || c.closeReq || len(p) < refMin || c.tl != nil {
		n, err := c.Write(p)
		if release != nil {
			release()
		}
		return n, err
	}
	c.appendRef(p, release)
	if c.state == stOpen && !c.blocked && (c.e.depth == 0 || len(p) >= bigWrite) {
		c.flush()
		if c.state >= stDone {
			return 0, c.errOr(ErrClosed)
		}
	}
	return c.queued(len(p))
}

// WriteString is [Conn.Write] for a string; it does not copy s beyond what
// Write buffers. Loop goroutine only.
func (c *Conn[S]) WriteString(s string) (int, error) {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Close closes the connection gracefully: it stops reading, flushes the
// buffered output, shuts down the writing side (the peer reads EOF), then
// drops input until the peer's EOF, and closes the descriptor and calls
// OnClose(nil) (or OnClose with the error that interrupted the flush).
// Waiting for the peer's EOF keeps the kernel from resetting the
// connection over unread input, which could lose replies the peer has not
// read yet; [Config.CloseTimeout] bounds both the flush and that wait
// (default for the wait: 5 s). Closing a connection whose dial is in
// progress (or one from [Wrap] before its OnOpen) abandons it if nothing
// was written; with output queued, the output is sent once the connection
// is established, which is then closed gracefully without OnOpen, and if
// the dial fails OnClose gets the dial's error. Close is idempotent while
// the close is in progress and returns [ErrClosed] after. Loop goroutine
// only.
func (c *Conn[S]) Close() error {
	switch c.state {
	case stDialing:
		if c.closeReq {
			return nil
		}
		if c.pending() == 0 {
			c.finish(nil) // nothing to send: abandon the dial
			return nil
		}
		c.closeReq = true
		return nil
	case stOpen:
		c.closeGracefully()
		return nil
	case stClosing, stLinger:
		return nil
	}
	return ErrClosed
}

// CloseWrite half-closes the connection: the buffered output is flushed,
// then the writing side is shut down (the peer reads EOF); reading
// continues until the peer closes its side, which then closes the
// connection (OnClose(nil)). Later writes fail with [ErrClosed]. Loop
// goroutine only.
func (c *Conn[S]) CloseWrite() error {
	if (c.state != stOpen && c.state != stDialing) || c.closeReq {
		return ErrClosed
	}
	if c.wr != wrOpen {
		return nil
	}
	if c.noHalf {
		return errNoHalfClose
	}
	if c.tl != nil {
		c.tl.closeNotify()
	}
	c.wr = wrShutting
	if c.state == stOpen {
		if c.pending() == 0 {
			c.drained()
			if !c.busy {
				c.settle()
			}
		} else {
			c.kick()
		}
	}
	return nil
}

// Abort closes the connection at once, dropping buffered output and
// unconsumed input; OnClose(nil) follows (when the current callback of the
// connection returns, or in the next loop iteration). It returns
// [ErrClosed] if the connection is already closed. Loop goroutine only.
func (c *Conn[S]) Abort() error {
	if c.state >= stDone {
		return ErrClosed
	}
	c.finish(nil)
	return nil
}

// PauseReading stops reading from the peer until [Conn.ResumeReading];
// the peer's data waits in the kernel (and TCP flow control eventually
// stops the peer). It is independent of the pause that backpressure
// applies by itself. Loop goroutine only.
func (c *Conn[S]) PauseReading() {
	if c.pause&pauseUser != 0 {
		return
	}
	c.pause |= pauseUser
	if !c.busy {
		c.sync()
	}
}

// ResumeReading resumes reading after [Conn.PauseReading]. Input kept from
// earlier OnData calls is offered again in the next loop iteration even if
// no new data arrives. Loop goroutine only.
func (c *Conn[S]) ResumeReading() {
	if c.pause&pauseUser == 0 {
		return
	}
	c.pause &^= pauseUser
	if len(c.in) > 0 && c.readable() {
		c.raise()
	}
	if !c.busy {
		c.sync()
	}
}

// TakeInput, called during OnData, hands the bytes of OnData's in over to
// the handler: it returns a slice with the same contents as in that the
// handler may keep, and modify, after OnData returns; the connection will
// neither reuse nor change its bytes. The input OnData does not consume is
// copied out of it when OnData returns (so the handler should not modify
// those bytes before then). When in is the connection's own buffer, as it
// always is for input that arrived over several reads (any message longer
// than [Config.ReadSize]), TakeInput returns in itself, without a copy;
// otherwise in is in a buffer shared by the connections of the loop and
// TakeInput returns a copy. A handler that keeps large messages thus keeps
// them without copying, typically as sub-slices of the result (which pin
// the whole buffer: use it for messages that fill most of it). Called
// outside OnData it returns nil. Loop goroutine only.
func (c *Conn[S]) TakeInput() []byte {
	if !c.inData {
		return nil
	}
	if !c.taken && !c.inKept {
		c.curIn = append([]byte(nil), c.curIn...)
		c.inKept = true // the copy is the handler's: later calls return it
	}
	c.taken = true
	return c.curIn
}

// ReserveInput, called during OnData by a handler that has seen the
// header of a message of n bytes in all (counting the bytes of in that the
// message starts with), makes room for the whole message at once: the
// input kept when OnData returns goes into a buffer of n bytes, which the
// following reads fill directly, instead of a buffer grown (and copied) step
// by step. With [Conn.TakeInput] this receives a large message with no
// copy beyond the first read. The reservation holds until the next OnData
// call, which calls ReserveInput again while the message is incomplete.
// n is capped at [Config.MaxInput]; the buffer is allocated at once, so
// bound n by what the peer may send. Without input kept, or outside
// OnData, it does nothing. Loop goroutine only.
func (c *Conn[S]) ReserveInput(n int) {
	if c.inData {
		c.reserve = min(n, c.sh.cfg.maxInput)
	}
}

// OfferAgain asks for the input that OnData leaves unconsumed to be
// offered again without waiting for new data from the peer: once the
// buffered output has drained to [Config.LowWater] (reading from the peer
// pauses until then), in a later loop iteration, never from inside the
// current callback. It is for a handler that stops before the end of its
// input for another reason than an incomplete message, typically because
// it has written enough replies for now; see [Handler.OnData] for the
// whole rule.
//
// Called during OnData it applies to the input that call leaves; called
// elsewhere, to the input kept at the time. One call asks for one offer (a
// handler that stops early again calls it again). It does nothing when no
// input is kept or the connection is not open; while reading is paused by
// [Conn.PauseReading] the offer waits for [Conn.ResumeReading]. Loop
// goroutine only.
func (c *Conn[S]) OfferAgain() {
	if c.inData {
		c.again = true
		return
	}
	c.scheduleOffer()
}

// ReadClosed reports whether the peer has finished sending (the input
// reached EOF; always true for a wrapped descriptor open for writing
// only). During OnData it marks the final offer: in then holds the last
// input, and what OnData leaves unconsumed is dropped. Loop goroutine
// only.
func (c *Conn[S]) ReadClosed() bool { return c.eof }

var (
	errNoOnData    = errors.New("stream: Handler.OnData is nil")
	errNoHalfClose = fmt.Errorf("stream: CloseWrite: a descriptor that is not a socket and is open for reading and writing cannot be half-closed: %w", errors.ErrUnsupported)
)
