package stream

// TLS connections: crypto/tls's handshake on a goroutine of its own, the
// records on the loop. See "TLS" in the package documentation for why.
//
// A TLS connection is a Conn with a tlsLayer (Conn.tl). The layer owns a
// *tls.Conn whose transport is a tlsPipe, an in-memory net.Conn:
//
//   - During the handshake (tlsLayer.ready false) the tls.Conn runs on a
//     goroutine of calloop.Go. The loop appends the bytes the peer sends to
//     the pipe (Conn.deliver hands them to tlsLayer.input) and the
//     goroutine's Read blocks until there are some; what the goroutine
//     writes is queued in the pipe and a calloop.Ping has the loop write it
//     to the socket. The result of the handshake is delivered to the loop
//     by the future.
//   - Once the handshake is complete the tls.Conn belongs to the loop
//     goroutine. The pipe's Read returns the bytes just read from the socket
//     and then a temporary net.Error, which crypto/tls does not record (a
//     record read in part is finished by a later Read); its Write is
//     Conn.Write. Conn.Write of plaintext goes through tls.Conn.Write
//     (tlsLayer.write), and the plaintext that tls.Conn.Read returns is
//     delivered to OnData by the ordinary rules.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/sock"
)

// TLSConfig is the TLS side of [ListenTLS] and [DialTLS].
type TLSConfig struct {
	// Config is the crypto/tls configuration. ListenTLS requires one with
	// a certificate (Certificates, GetCertificate or GetConfigForClient).
	// For DialTLS nil means a zero tls.Config, and an empty ServerName is
	// the host of the dialled address (as tls.Dial does); Renegotiation is
	// always RenegotiateNever (TLS 1.2 renegotiation is refused). It must not be
	// modified once passed. Its callbacks (GetCertificate,
	// VerifyPeerCertificate, ...) run on the handshake's goroutine, not on
	// the loop: they must not touch the loop's state.
	Config *tls.Config
	// HandshakeTimeout bounds the handshake, from the moment the connection
	// is accepted or its dial completes; at the deadline the connection is
	// closed with an error wrapping os.ErrDeadlineExceeded. Zero means
	// 10 s; negative is an error ([ErrConfig]).
	HandshakeTimeout time.Duration
}

const (
	defaultHandshakeTimeout = 10 * time.Second
	// hsInputMax is the input buffered for the handshake's goroutine
	// beyond which the connection stops reading until it has taken some.
	hsInputMax = 256 << 10
	// plainBuf is the size of the buffer plaintext is decrypted into
	// before OnData sees it (several records).
	plainBuf = 64 << 10
)

func (t TLSConfig) timeout() (time.Duration, error) {
	switch {
	case t.HandshakeTimeout < 0:
		return 0, fmt.Errorf("%w: TLSConfig.HandshakeTimeout is negative (%v)", ErrConfig, t.HandshakeTimeout)
	case t.HandshakeTimeout == 0:
		return defaultHandshakeTimeout, nil
	}
	return t.HandshakeTimeout, nil
}

// ListenTLS is [Listen] for TLS: every accepted connection performs a TLS
// server handshake with tc.Config before h.OnOpen is called; then OnData
// receives the plaintext, [Conn.Write] encrypts, [Conn.Close] and
// [Conn.CloseWrite] send TLS's close_notify first, and
// [Conn.ConnectionState] describes the session. A handshake that fails
// (a peer that does not speak TLS, a bad certificate, a peer that closes)
// or does not complete within tc.HandshakeTimeout closes the connection:
// h.OnClose is called with the error (a *net.OpError with Op "tls
// handshake", wrapping crypto/tls's error or os.ErrDeadlineExceeded) and
// h.OnOpen never is. Each handshake runs on a goroutine of its own
// ([calloop.Go]) that ends with the handshake; the loop goroutine does
// everything else, so the loop keeps serving other connections while
// handshakes are in progress. Everything else is as for Listen.
func ListenTLS[S any](l *calloop.Loop[S], network, address string, tc TLSConfig, cfg Config, h Handler[S]) (*Listener[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	d, err := tc.timeout()
	if err != nil {
		return nil, err
	}
	if tc.Config == nil || len(tc.Config.Certificates) == 0 && tc.Config.GetCertificate == nil && tc.Config.GetConfigForClient == nil {
		return nil, fmt.Errorf("%w: ListenTLS: TLSConfig.Config has no certificate (Certificates, GetCertificate or GetConfigForClient)", ErrConfig)
	}
	return Listen(l, network, address, cfg, tlsHandler(h, tc.Config, true, d))
}

// DialTLS is [DialWith] for TLS: once connected, the connection performs a
// TLS client handshake with tc.Config (ServerName defaulting to the host
// of address) before h.OnOpen is called; a handshake that fails or does
// not complete within tc.HandshakeTimeout closes the connection with the
// error, as for [ListenTLS]. dc.Timeout bounds the connection, not the
// handshake. Data written before the handshake completes is encrypted and
// sent once it has; closing the connection before then abandons it,
// dropping that data. Everything else is as for DialWith and ListenTLS.
func DialTLS[S any](l *calloop.Loop[S], network, address string, tc TLSConfig, dc DialConfig, cfg Config, h Handler[S]) (*Conn[S], error) {
	if h.OnData == nil {
		return nil, errNoOnData
	}
	d, err := tc.timeout()
	if err != nil {
		return nil, err
	}
	conf := tc.Config
	if conf == nil {
		conf = &tls.Config{}
	}
	if conf.ServerName == "" && !conf.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(address)
		if err != nil || network == "unix" {
			return nil, fmt.Errorf("%w: DialTLS: no ServerName in TLSConfig.Config, and none in address %q", ErrConfig, address)
		}
		conf = conf.Clone()
		conf.ServerName = host
	}
	if conf.Renegotiation != tls.RenegotiateNever {
		// A renegotiation would be a handshake on the loop goroutine.
		conf = conf.Clone()
		conf.Renegotiation = tls.RenegotiateNever
	}
	c, err := DialWith(l, network, address, dc, cfg, tlsHandler(h, conf, false, d))
	if err != nil {
		return nil, err
	}
	c.tl = newTLSLayer(c, conf, false, d, h.OnOpen)
	return c, nil
}

// tlsHandler wraps h for a TLS connection: OnOpen starts the handshake
// (h.OnOpen follows it), OnClose ends it.
func tlsHandler[S any](h Handler[S], conf *tls.Config, server bool, d time.Duration) Handler[S] {
	open, closed := h.OnOpen, h.OnClose
	h.OnOpen = func(s *S, c *Conn[S]) {
		if c.tl == nil {
			c.tl = newTLSLayer(c, conf, server, d, open)
		}
		c.tl.start()
	}
	h.OnClose = func(s *S, c *Conn[S], err error) {
		if c.tl != nil {
			c.tl.stop()
		}
		if closed != nil {
			closed(s, c, err)
		}
	}
	return h
}

// ConnectionState returns the state of a TLS connection ([ListenTLS],
// [DialTLS]) once its handshake is complete (from OnOpen on): the version,
// cipher suite, peer certificates, negotiated protocol and so on. ok is
// false for a connection that is not TLS or whose handshake has not
// completed. Loop goroutine only.
func (c *Conn[S]) ConnectionState() (state tls.ConnectionState, ok bool) {
	if c.tl == nil || !c.tl.ready {
		return tls.ConnectionState{}, false
	}
	return c.tl.tc.ConnectionState(), true
}

// tlsLayer is the TLS layer of a connection.
type tlsLayer[S any] struct {
	c       *Conn[S]
	tc      *tls.Conn
	p       *tlsPipe
	server  bool
	timeout time.Duration
	open    func(*S, *Conn[S]) // the user's OnOpen

	started bool // the handshake was started
	ready   bool // the handshake is complete: the tls.Conn is the loop's
	done    bool // stopped (the connection closed)
	raw     bool // inside a call of tls.Conn: Conn.Write passes bytes through
	plain   bool // delivering plaintext: Conn.deliver passes it to OnData
	eofIn   bool // the input has ended (close_notify, or EOF at a record boundary)
	hsEOF   bool // the peer's EOF came during the handshake
	paused  bool // reading paused: the handshake's input is at hsInputMax
	notify  bool // close_notify sent

	pending []byte // plaintext written before the handshake completed
	fut     *calloop.Future[struct{}]
	ping    *calloop.Ping
	timer   calloop.Token
	lp      *tlsLoop
}

func newTLSLayer[S any](c *Conn[S], conf *tls.Config, server bool, d time.Duration, open func(*S, *Conn[S])) *tlsLayer[S] {
	t := &tlsLayer[S]{c: c, server: server, timeout: d, open: open}
	t.p = &tlsPipe{hs: true, wake: make(chan struct{}, 1), raddr: c.raddr}
	t.p.write = t.writeRaw
	if server {
		t.tc = tls.Server(t.p, conf)
	} else {
		t.tc = tls.Client(t.p, conf)
	}
	return t
}

// start starts the handshake; called from the connection's OnOpen, in its
// callback bracket.
func (t *tlsLayer[S]) start() {
	c := t.c
	if t.started || t.done || c.state != stOpen {
		return
	}
	t.started = true
	t.p.raddr, t.p.laddr = c.raddr, c.LocalAddr()
	l := c.e.l
	var err error
	if t.lp, err = calloop.Value(l, tlsKey, newTLSLoop); err != nil {
		c.fail(err)
		return
	}
	if t.ping, err = calloop.NewPing(l, t.onPing); err != nil {
		c.fail(err)
		return
	}
	t.p.pingFn = t.ping.Ping
	if t.fut, err = calloop.Go(l, t.handshake, t.handshook); err != nil {
		c.fail(err)
		return
	}
	t.timer, _ = l.AddTimer(t.timeout, t.expired)
}

// handshake runs on the handshake's goroutine.
func (t *tlsLayer[S]) handshake(ctx context.Context) (struct{}, error) {
	t.p.ctx = ctx
	return struct{}{}, t.tc.Handshake()
}

// handshook receives the handshake's result on the loop.
func (t *tlsLayer[S]) handshook(s *S, _ struct{}, err error) {
	c := t.c
	if t.done || c.state >= stDone {
		return
	}
	t.fut = nil
	c.enter()
	defer c.leave(s)
	t.endHandshake()
	if err != nil {
		// Send the alert crypto/tls wrote, if the socket takes it now.
		if out := t.p.takeOut(); len(out) > 0 && c.pending() == 0 && c.fd >= 0 {
			sock.Write(c.fd, out)
		}
		c.fail(&net.OpError{Op: "tls handshake", Net: c.sh.network, Addr: c.raddr, Err: err})
		return
	}
	t.flushHandshake()
	t.p.mu.Lock()
	t.p.hs = false
	t.p.mu.Unlock()
	t.ready = true
	if t.paused {
		t.paused = false
		c.ResumeReading()
	}
	if len(t.pending) > 0 {
		p := t.pending
		t.pending = nil
		t.write(p)
	}
	if t.open != nil && c.state == stOpen {
		t.open(s, c)
	}
	// Input that arrived with the end of the handshake.
	if c.state == stOpen {
		t.pump(s)
	}
	if t.hsEOF && c.state == stOpen && !t.eofIn {
		c.eof = false
		c.atEOF(s)
	}
}

// endHandshake stops the handshake's timer and ping.
func (t *tlsLayer[S]) endHandshake() {
	l := t.c.e.l
	if !t.timer.IsZero() {
		l.Remove(t.timer)
		t.timer = calloop.Token{}
	}
	if t.ping != nil {
		l.Remove(t.ping.Token())
		t.ping = nil
	}
}

// expired is the handshake's deadline.
func (t *tlsLayer[S]) expired(s *S, _ time.Time) calloop.TimerAction {
	t.timer = calloop.Token{}
	c := t.c
	if t.done || t.ready || c.state >= stDone {
		return calloop.Drop()
	}
	c.enter()
	defer c.leave(s)
	c.fail(&net.OpError{Op: "tls handshake", Net: c.sh.network, Addr: c.raddr, Err: os.ErrDeadlineExceeded})
	return calloop.Drop()
}

// onPing writes what the handshake's goroutine wrote, and resumes reading
// once it has taken its input.
func (t *tlsLayer[S]) onPing(s *S) {
	c := t.c
	if t.done || t.ready || c.state >= stDone {
		return
	}
	c.enter()
	defer c.leave(s)
	t.flushHandshake()
	if t.paused && t.p.inputLen() < hsInputMax/2 {
		t.paused = false
		c.ResumeReading()
	}
}

// flushHandshake writes the handshake's output to the connection.
func (t *tlsLayer[S]) flushHandshake() {
	if out := t.p.takeOut(); len(out) > 0 {
		t.writeRaw(out)
	}
}

// stop ends the layer when the connection closes: a handshake in progress
// is cancelled (its goroutine returns).
func (t *tlsLayer[S]) stop() {
	if t.done {
		return
	}
	t.done = true
	if t.fut != nil {
		t.fut.Cancel()
		t.fut = nil
	}
	t.endHandshake()
	t.pending = nil
	t.p.close()
}

// writeRaw writes bytes of the TLS protocol to the connection.
func (t *tlsLayer[S]) writeRaw(p []byte) (int, error) {
	raw := t.raw
	t.raw = true
	n, err := t.c.Write(p)
	t.raw = raw
	return n, err
}

// write is Conn.Write of plaintext p.
func (t *tlsLayer[S]) write(p []byte) (int, error) {
	if !t.ready {
		if m := t.c.sh.cfg.maxOutput; m > 0 && len(t.pending)+len(p) > m {
			t.c.fail(ErrOutputTooLarge)
			return 0, ErrOutputTooLarge
		}
		t.pending = append(t.pending, p...)
		return len(p), nil
	}
	t.raw = true
	n, err := t.tc.Write(p)
	t.raw = false
	return n, err
}

// closeNotify sends close_notify, once, before the connection's writing
// side is shut down.
func (t *tlsLayer[S]) closeNotify() {
	if !t.ready || t.notify || t.c.wr != wrOpen {
		return
	}
	t.notify = true
	t.raw = true
	t.tc.CloseWrite()
	t.raw = false
}

// input receives the bytes read from the socket (Conn.deliver).
func (t *tlsLayer[S]) input(s *S, data []byte) {
	c := t.c
	if !t.ready {
		if t.p.push(data) > hsInputMax && !t.paused {
			t.paused = true
			t.p.mu.Lock()
			t.p.paused = true // the goroutine pings when it has taken enough
			t.p.mu.Unlock()
			c.PauseReading()
		}
		return
	}
	t.p.src = data
	t.pump(s)
	if len(t.p.src) > 0 {
		t.p.push(t.p.src) // not taken (the connection closed): keep a copy
	}
	t.p.src = nil
}

// pump decrypts what the pipe holds and delivers the plaintext: to
// OnData while the connection reads, else into its kept input (offered
// when reading resumes), so that no plaintext waits inside the tls.Conn
// without a descriptor event to bring it out.
func (t *tlsLayer[S]) pump(s *S) {
	c := t.c
	buf := t.lp.buf
	if t.lp.busy {
		buf = make([]byte, plainBuf) // a pump inside a pump (not expected)
	} else {
		t.lp.busy = true
		defer t.lp.release()
	}
	for c.state == stOpen && !t.eofIn {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = t.tc.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if c.readable() {
				t.plain = true
				c.deliver(s, buf[:n])
				t.plain = false
			} else {
				c.in = append(c.in, buf[:n]...)
				if len(c.in) > c.sh.cfg.maxInput {
					c.fail(ErrInputTooLarge)
					return
				}
			}
		}
		switch {
		case err == nil:
			continue
		case isWouldBlock(err):
			return
		case err == io.EOF:
			if c.state == stOpen {
				t.eofIn = true
				c.atEOF(s)
			}
			return
		}
		if c.state < stDone {
			c.fail(&net.OpError{Op: "tls read", Net: c.sh.network, Addr: c.raddr, Err: err})
		}
		return
	}
}

// atEOF is called at the start of Conn.atEOF: it reports whether the end of
// input may be handled as usual. During the handshake the EOF goes to the
// handshake (whose result decides); afterwards the input must end at a
// record boundary (else the connection fails with io.ErrUnexpectedEOF).
func (t *tlsLayer[S]) atEOF(s *S) bool {
	if t.eofIn || t.plain {
		return true
	}
	t.p.setEOF()
	if !t.ready {
		t.hsEOF = true
		t.c.eof = true // stop reading; the handshake's result decides
		return false
	}
	t.pump(s) // ends with atEOF again, or a failure
	return false
}

// tlsPipe is the transport of a connection's tls.Conn (see the top of the
// file).
type tlsPipe struct {
	mu     sync.Mutex
	in     []byte // received, not yet read by the tls.Conn
	inOff  int
	eof    bool
	closed bool
	hs     bool   // handshake: Read blocks, Write queues
	paused bool   // the loop stopped reading: Read pings it once in is below half of hsInputMax
	out    []byte // written by the handshake, for the loop
	wake   chan struct{}
	pingFn func()          // wakes the loop for out (set before the handshake starts)
	ctx    context.Context // the handshake's (its goroutine only)

	src          []byte // bytes just read, lent by the loop (record mode)
	write        func([]byte) (int, error)
	laddr, raddr net.Addr
}

// push appends received bytes and returns how many are buffered.
func (p *tlsPipe) push(b []byte) int {
	p.mu.Lock()
	if p.inOff > 0 {
		p.in = p.in[:copy(p.in, p.in[p.inOff:])]
		p.inOff = 0
	}
	p.in = append(p.in, b...)
	n := len(p.in)
	p.mu.Unlock()
	p.signal()
	return n
}

func (p *tlsPipe) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *tlsPipe) inputLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.in) - p.inOff
}

func (p *tlsPipe) setEOF() {
	p.mu.Lock()
	p.eof = true
	p.mu.Unlock()
	p.signal()
}

func (p *tlsPipe) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.signal()
}

// takeOut returns the handshake's output written so far.
func (p *tlsPipe) takeOut() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.out
	p.out = nil
	return out
}

// Read implements net.Conn for crypto/tls.
func (p *tlsPipe) Read(b []byte) (int, error) {
	if len(p.src) > 0 {
		n := copy(b, p.src)
		p.src = p.src[n:]
		return n, nil
	}
	p.mu.Lock()
	for {
		if p.inOff < len(p.in) {
			n := copy(b, p.in[p.inOff:])
			p.inOff += n
			if p.inOff == len(p.in) {
				p.in, p.inOff = p.in[:0], 0
			}
			resume := p.paused && len(p.in)-p.inOff < hsInputMax/2
			if resume {
				p.paused = false
			}
			p.mu.Unlock()
			if resume && p.pingFn != nil {
				p.pingFn() // the loop may read again
			}
			return n, nil
		}
		switch {
		case p.closed:
			p.mu.Unlock()
			return 0, net.ErrClosed
		case p.eof:
			p.mu.Unlock()
			return 0, io.EOF
		case !p.hs:
			p.mu.Unlock()
			return 0, errWouldBlock
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		}
		p.mu.Lock()
	}
}

// Write implements net.Conn for crypto/tls.
func (p *tlsPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.hs {
		p.out = append(p.out, b...)
		p.mu.Unlock()
		if ping := p.pingFn; ping != nil {
			ping()
		}
		return len(b), nil
	}
	p.mu.Unlock()
	return p.write(b)
}

func (p *tlsPipe) Close() error                     { p.close(); return nil }
func (p *tlsPipe) LocalAddr() net.Addr              { return p.laddr }
func (p *tlsPipe) RemoteAddr() net.Addr             { return p.raddr }
func (p *tlsPipe) SetDeadline(time.Time) error      { return nil }
func (p *tlsPipe) SetReadDeadline(time.Time) error  { return nil }
func (p *tlsPipe) SetWriteDeadline(time.Time) error { return nil }

// wouldBlock is the pipe's "no input yet" in record mode: a temporary
// net.Error, which crypto/tls returns without recording it.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "stream: TLS input incomplete" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

func isWouldBlock(err error) bool { return errors.Is(err, errWouldBlock) }

// tlsKey keeps a loop's plaintext buffer among its per-loop values.
var tlsKey = calloop.NewKey("stream.tls")

type tlsLoop struct {
	buf  []byte
	busy bool
}

func newTLSLoop() (*tlsLoop, error) { return &tlsLoop{buf: make([]byte, plainBuf)}, nil }

func (tl *tlsLoop) release() { tl.busy = false }
