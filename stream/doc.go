// Package stream provides TCP and Unix stream listeners and buffered
// connections on a [calloop.Loop]: non-blocking, without a goroutine per
// connection, with callbacks that get the loop's shared state *S like every
// other callback of the loop.
//
//	type App struct{ conns int }
//
//	l, _ := calloop.New[App]()
//	ln, err := stream.Listen(l, "tcp", "127.0.0.1:6380", stream.Config{}, stream.Handler[App]{
//		OnOpen: func(a *App, c *stream.Conn[App]) { a.conns++ },
//		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
//			c.Write(in) // echo
//			return len(in)
//		},
//		OnClose: func(a *App, c *stream.Conn[App], err error) { a.conns-- },
//	})
//	...
//	l.Run(ctx, &app)
//
// # Model
//
// A [Listener] and every [Conn] are sources of the loop; their descriptors
// are registered level-triggered. When a connection is readable it reads
// into a buffer shared by all connections of the loop ([Config.ReadSize]
// bytes per read, at most [Config.ReadBudget] per iteration, so that one
// busy peer cannot starve the others) and calls [Handler.OnData] with every
// unconsumed byte: OnData returns how many it consumed, and only the rest is
// copied into a buffer of the connection. A protocol whose messages arrive
// whole therefore copies nothing, and a message split across reads is
// presented whole once its end arrives. Unconsumed input is offered again
// when more data arrives, when reading resumes after a pause, and after
// [Conn.OfferAgain] (the rule is in [Handler.OnData]); a handler that stops
// before the end of its input with complete messages left calls
// OfferAgain. Unconsumed input beyond [Config.MaxInput] closes the
// connection with [ErrInputTooLarge].
//
// [Conn.Write] appends to the connection's output buffer. Writes made in
// the callbacks of this package are coalesced: the connection whose
// callback is running writes them with one system call when the callback
// returns, other connections before the loop next sleeps (a list of
// connections with pending output is kept, so that costs nothing for the
// idle ones). Writes made elsewhere (a timer, a channel callback) go to the
// socket at once. Output the socket does not take stays buffered, and the
// connection waits for writability to send the rest.
//
// In steady state (buffers already grown) reading and writing allocate
// nothing.
//
// Large messages need not be copied: [Conn.WriteRef] queues output by
// reference (the caller leaves the bytes alone until a release callback
// says they are written), [Conn.ReserveInput] sizes the input buffer for a
// large incoming message at once, and [Conn.TakeInput] hands that buffer
// over to the handler.
//
// [Framed] adapts a [Handler] to a protocol of lines ([Lines]) or of
// length-prefixed frames ([Uint16Frames], [Uint32Frames]): its OnFrame
// gets one frame at a time, a sub-slice of the input (no copy, no
// allocation per frame), and a frame above the limit closes the connection
// with [ErrFrameTooLarge].
//
// A [ConnKey] attaches a typed value (a session, a parser) to a
// connection: key.Set(c, v) and key.Get(c), without type assertions, with
// one key per kind of value.
//
// [Wrap] makes a connection of a descriptor opened elsewhere: a connected
// socket, one end of a pipe (a child's stdin or stdout), a pty.
//
// # Backpressure
//
// A peer that sends requests but does not read the replies makes the
// output buffer grow. Above [Config.HighWater] bytes the connection stops
// reading from that peer (its requests wait in the kernel, and TCP flow
// control eventually stops it); once the output drains to
// [Config.LowWater] reading resumes, and input kept from earlier is offered
// again. Buffered output can exceed HighWater by what one OnData call
// writes; [Config.MaxOutput] is the hard limit: beyond it the connection is
// closed with [ErrOutputTooLarge]. [Conn.PauseReading] and
// [Conn.ResumeReading] give the same control to the application,
// [Conn.Buffered] tells how much output is waiting, and [Handler.OnDrain]
// tells a producer that stopped writing at HighWater when to write more.
//
// Two peers that both write more than HighWater without reading first
// (both ends of a bulk exchange in both directions, say) stop reading from
// each other and wait forever: such a protocol must stay below HighWater
// or raise it.
//
// # Closing
//
// [Conn.Close] is graceful: reading stops, buffered output is flushed, the
// writing side is shut down, and the descriptor is closed once the peer has
// finished sending too (input is dropped meanwhile: closing a socket with
// unread input would reset the connection and could lose replies the peer
// has not read yet). [Config.CloseTimeout] bounds the flush and the wait.
// [Conn.CloseWrite] half-closes (the peer reads EOF, reading continues).
// [Conn.Abort] drops the buffered output and closes at once. When the peer
// finishes sending (EOF) the input left unconsumed is offered a last time
// ([Conn.ReadClosed] is then true), and the connection is closed
// gracefully, unless [Handler.OnReadClosed] is set; a producer waiting for
// [Handler.OnDrain] is let finish its response first. [Handler.OnClose] is called exactly once
// per connection, with nil for a clean close by either side and the reason
// otherwise (a reset by the peer, a dial failure or timeout, a buffer
// limit). It is never called from inside another callback of the same
// connection: a close requested in a callback completes when the callback
// returns, and one requested elsewhere in the next loop iteration.
//
// # Timeouts
//
// [Config.IdleTimeout] closes a connection with neither input nor output
// for that long, [Config.ReadTimeout] one that wants input and gets none,
// and [Config.WriteTimeout] one whose queued output makes no progress (a
// peer that does not read); OnClose gets a *net.OpError wrapping
// [ErrIdleTimeout], [ErrReadTimeout] or [ErrWriteTimeout], each of which
// matches os.ErrDeadlineExceeded. [Dial]'s timeout and
// [Config.CloseTimeout] bound the opening and the graceful close.
//
// A connection is one composite source of the loop, built with calloop's
// composition API like any library's source: its descriptor is the
// source's own, and all its deadlines share a single timer, a child of the
// source (adopted with [calloop.Registrar.Adopt]), created when the first
// deadline is needed. The timer is armed at the earliest deadline; reads
// and writes only record the time, and the timer, when it fires, re-arms
// itself at the deadline that activity pushed back, so that a busy
// connection costs one timer operation per timeout period, not one per
// read or write. Without timeouts an open connection has no timer.
//
// # Goroutines
//
// Everything in this package is for the loop goroutine: the callbacks run
// on it, and every method of [Conn] and [Listener] (except
// [Listener.Addr]), [Listen] and [Dial] must be called on it, from a
// callback of the loop or by the loop's owner between dispatches. Nothing
// here is safe for concurrent use, and no goroutine is started except the
// two described below (a host name's resolution, a TLS handshake). To write
// to a connection from another goroutine, send the data into the loop with
// a calloop channel and write it from the channel's callback. A call from
// the wrong goroutine is not detected at run time; the race detector
// (go test -race) reports it as a data race on the connection.
//
// Several loops, each on its own goroutine (one per core), may listen on
// one port with [Config.ReusePort]; the kernel spreads the connections
// between them, and each loop keeps its own state.
//
// Closing the loop closes the descriptors of its listeners and connections
// without calling OnClose; [Listener.Shutdown] is the graceful way: it
// stops accepting, closes every connection gracefully and calls back when
// the last has closed.
//
// # Host names
//
// [Dial] and [DialWith] never block the loop. An IP address or a Unix
// socket path is dialled at once, from the call. A host name is resolved
// on a goroutine ([calloop.Go]; the resolver is [DialConfig.Lookup],
// net.DefaultResolver by default) whose result is delivered to the loop;
// the addresses are then tried one after the other, in the resolver's
// order, each attempt bounded by [DialConfig.AttemptTimeout] (by default a
// share of the time left, as net.Dialer does) and the whole dial by
// [DialConfig.Timeout]. Closing the connection, the dial's timeout or
// closing the loop cancel the resolution's context, and closing the loop
// waits for the goroutine. IPv4 and IPv6 addresses are tried in turn, not
// raced (no Happy Eyeballs).
//
// # TLS
//
// [ListenTLS] and [DialTLS] make TLS connections with the standard
// crypto/tls, behind the same [Handler] and [Conn]: OnOpen follows the
// handshake, OnData sees plaintext, Write encrypts, Close and CloseWrite
// send close_notify, and [Conn.ConnectionState] describes the session. A
// failed or timed-out handshake ([TLSConfig.HandshakeTimeout]) reaches
// OnClose with the error, without OnOpen.
//
// crypto/tls has no API to run a handshake step by step: a handshake is
// one call (tls.Conn.Handshake) that reads and writes its transport until
// it is done, and an error from the transport during it, even a temporary
// one, fails the handshake for good. Once the handshake is complete,
// though, tls.Conn.Read treats a temporary net.Error from its transport as
// "try again later" without recording it (a record received in part is
// finished by a later Read), and Write writes whole records. So each
// handshake runs on a goroutine of its own, over an in-memory transport
// that the loop feeds with what the socket receives and drains into the
// socket (a calloop.Ping wakes the loop for the handshake's output), and
// the goroutine ends with the handshake. From then on the tls.Conn belongs
// to the loop goroutine: the bytes read from the socket are decrypted on
// the loop and delivered by the ordinary rules, and Write seals records
// into the connection's output buffer, with backpressure, coalescing and
// timeouts as for a plain connection. A connection costs a goroutine only
// while it handshakes, and a slow or stalled handshake never holds up the
// loop. (A goroutine per connection, bridged to the loop over a socket
// pair, would cost two more descriptors, a goroutine for the connection's
// whole life and two more system calls per message in each direction, and
// would lose the reason of a close on the way.) TLS 1.2 renegotiation is
// not supported: it would need a handshake on the loop. tls.Config
// callbacks run on the handshake's goroutine.
//
// # Platforms
//
// Linux (epoll) and the kqueue systems (macOS, FreeBSD, DragonFly BSD,
// NetBSD, OpenBSD) are supported. Elsewhere the package builds, and Listen
// and Dial fail with an error wrapping errors.ErrUnsupported.
package stream
