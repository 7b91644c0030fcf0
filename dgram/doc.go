// Package dgram provides UDP and Unix datagram sockets on a
// [calloop.Loop]: non-blocking, without a goroutine, with callbacks that get
// the loop's shared state *S like every other callback of the loop.
//
//	c, err := dgram.Listen(l, "udp", "127.0.0.1:9000", dgram.Config{}, dgram.Handler[App]{
//		OnPacket: func(a *App, c *dgram.Conn[App], p []byte, from dgram.Addr) {
//			a.packets++
//			c.SendTo(p, from) // echo
//		},
//	})
//
// # Receiving
//
// A socket is registered level-triggered. When it is readable it receives
// up to [Config.Batch] datagrams with one system call where the system
// allows it (Linux's recvmmsg; elsewhere one recvmsg per datagram) into
// buffers of [Config.ReadSize] bytes that the sockets of a loop share, and
// calls [Handler.OnPacket] once per datagram with its bytes and its source
// [Addr]: an IP address and port for UDP (a netip.AddrPort), a path for a
// Unix socket. The bytes are valid only during the call (the buffer is
// reused for the next datagram, of any socket of the loop: copy what must
// be kept), and the slice reaches no byte beyond the datagram (its
// capacity is its length). In steady state receiving allocates nothing on
// Linux (for a Unix peer, while the same peer repeats); the portable path
// allocates the source address of each datagram. At most
// [Config.ReadBudget] datagrams are received per loop iteration, so that a
// flooded socket does not starve the other sources. [Conn.PauseReading]
// takes effect at once, even in the middle of a batch.
//
// A datagram longer than ReadSize is never delivered silently cut: it goes
// to [Handler.OnTruncated] (or, if that is nil, to [Handler.OnError] as a
// *[TruncatedError]) and is counted in [Stats].Truncated.
//
// # Sending and the drop policy
//
// [Conn.SendTo] (and [Conn.Send] on a socket made by [Dial]) copies the
// datagram or hands it to the kernel before returning. Datagrams sent from
// a callback of the socket itself are queued and leave together when the
// callback returns (one sendmmsg call on Linux): an echo server answers a
// batch of requests with one system call. A datagram the kernel cannot take
// (its send buffer is full) waits in the socket's send queue, which is
// flushed when the socket becomes writable, in order. A Unix socket made
// by [Listen] (without a peer) is the exception: the system does not say
// when a full receiver has room again, so its blocked queue is retried on
// a timer whose delay doubles, up to some tens of milliseconds, while nothing
// leaves.
//
// The queue is bounded by [Config.HighWater] (bytes plus [QueueOverhead] per
// datagram; a larger datagram still leaves when nothing is queued and the
// kernel takes it at once). A datagram that does not fit is dropped,
// SendTo returns [ErrFull], and [Handler.OnDrain] is called once the queue
// has drained to [Config.LowWater]: the sender decides whether to retry,
// slow down or drop. Datagrams are never dropped silently on this side
// (the network may still lose them: UDP has no delivery guarantee).
//
// # Closing
//
// [Conn.Close] closes the descriptor at once, after handing the kernel
// what it takes of the queue; [Handler.OnClose] follows, never from inside
// another callback of the socket. Closing the loop closes its sockets
// without calling OnClose.
//
// # Goroutines
//
// Everything in this package is for the loop goroutine: the callbacks run
// on it, and every method of [Conn] (and [Listen], [Dial]) must be called
// on it, from a callback of the loop or by the loop's owner between
// dispatches. No goroutine is started. To send from another goroutine, send
// the data into the loop with a calloop channel and send it from the
// channel's callback.
//
// # Platforms
//
// Linux (recvmmsg/sendmmsg) and the kqueue systems (macOS, FreeBSD,
// DragonFly BSD, NetBSD, OpenBSD: recvmsg/sendmsg) are supported.
// Elsewhere the package builds, and Listen and Dial fail with an error
// wrapping errors.ErrUnsupported.
package dgram
