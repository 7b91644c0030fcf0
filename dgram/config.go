package dgram

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
)

// Config tunes a datagram socket; the zero value gives defaults. A zero
// field takes its default; a negative one, a ReadSize above 16 MiB or a
// LowWater not below the HighWater in effect is an error of [Listen] and
// [Dial] (wrapping [ErrConfig]), the rule of the stream package. Batch is
// lowered to fit its limits, and the socket buffer sizes are capped by the
// system. A Config is copied by Listen and Dial: changing it afterwards has
// no effect.
type Config struct {
	// ReadSize is the largest datagram received whole (default 65536, more
	// than any UDP payload; at most 16 MiB). A longer datagram is cut to ReadSize bytes and
	// reported truncated: see [Handler.OnTruncated]. The sockets of a loop
	// share their receive buffers (one socket receives at a time): Batch ×
	// ReadSize bytes, of the largest settings in use, allocated on the
	// first read and dropped when the loop's last socket closes.
	ReadSize int
	// Batch is the number of datagrams received or sent with one system
	// call where the system has recvmmsg and sendmmsg (Linux; default 16,
	// at most 1024, and less if Batch × ReadSize would pass 64 MiB).
	// Elsewhere each datagram takes one call.
	Batch int
	// ReadBudget is the number of datagrams received per socket per loop
	// iteration before yielding to the other sources (default 256).
	ReadBudget int
	// HighWater bounds the send queue: the bytes of the queued datagrams
	// plus [QueueOverhead] per datagram (default 1 MiB). A datagram that
	// would take the queue above it is not queued: [Conn.Send] and
	// [Conn.SendTo] return [ErrFull]. A datagram larger than HighWater
	// can still be sent when nothing is queued (the kernel takes it at
	// once), from a callback too.
	HighWater int
	// LowWater is the queue size at which [Handler.OnDrain] is called
	// after a send failed with ErrFull (default HighWater/4).
	LowWater int
	// ReusePort sets SO_REUSEPORT before binding, so that several sockets
	// (several loops) can share one UDP port.
	ReusePort bool
	// ReadBuffer and WriteBuffer set the kernel's socket buffer sizes
	// (SO_RCVBUF, SO_SNDBUF), best effort: the system caps them at its
	// limits, and a size too large for it asks for the most allowed.
	// Zero keeps the system's default.
	ReadBuffer, WriteBuffer int
}

// QueueOverhead is what each queued datagram counts toward
// [Config.HighWater] in addition to its bytes, so that a flood of empty
// datagrams is bounded too.
const QueueOverhead = 64

const (
	defaultReadSize   = 65536
	defaultBatch      = 16
	defaultReadBudget = 256
	defaultHighWater  = 1 << 20
	maxBatch          = 1024
	maxReadSize       = 16 << 20 // larger than any datagram a system sends
	maxSlots          = 64 << 20 // Batch × ReadSize at most: Batch shrinks to fit
)

type config struct {
	readSize, batch, readBudget int
	high, low                   int
	reusePort                   bool
	rcvbuf, sndbuf              int
}

func (c Config) norm() (config, error) {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"ReadSize", c.ReadSize}, {"Batch", c.Batch}, {"ReadBudget", c.ReadBudget},
		{"HighWater", c.HighWater}, {"LowWater", c.LowWater},
		{"ReadBuffer", c.ReadBuffer}, {"WriteBuffer", c.WriteBuffer},
	} {
		if f.v < 0 {
			return config{}, fmt.Errorf("%w: %s is negative (%d)", ErrConfig, f.name, f.v)
		}
	}
	if c.ReadSize > maxReadSize {
		return config{}, fmt.Errorf("%w: ReadSize %d is above 16 MiB", ErrConfig, c.ReadSize)
	}
	n := config{
		readSize: c.ReadSize, batch: c.Batch, readBudget: c.ReadBudget,
		high: c.HighWater, low: c.LowWater, reusePort: c.ReusePort,
		// The system call takes an int32: more asks for the most allowed.
		rcvbuf: min(c.ReadBuffer, math.MaxInt32),
		sndbuf: min(c.WriteBuffer, math.MaxInt32),
	}
	if n.readSize == 0 {
		n.readSize = defaultReadSize
	}
	if n.batch == 0 {
		n.batch = defaultBatch
	}
	n.batch = max(min(n.batch, maxBatch, maxSlots/n.readSize), 1)
	if n.readBudget == 0 {
		n.readBudget = defaultReadBudget
	}
	if n.high == 0 {
		n.high = defaultHighWater
	}
	if n.low >= n.high {
		return config{}, fmt.Errorf("%w: LowWater %d is not below HighWater %d", ErrConfig, n.low, n.high)
	}
	if n.low == 0 {
		n.low = n.high / 4
	}
	return n, nil
}

var (
	// ErrConfig is wrapped by the error of [Listen] and [Dial] for a
	// Config they refuse.
	ErrConfig = errors.New("dgram: invalid Config")
	// ErrFull is returned by [Conn.Send] and [Conn.SendTo] when the
	// datagram does not fit in the send queue ([Config.HighWater]): it is
	// dropped (counted in [Stats].Dropped), and [Handler.OnDrain] is called
	// once the queue has drained to [Config.LowWater].
	ErrFull = errors.New("dgram: send queue full")
	// ErrClosed is returned by the methods of a closed socket. It matches
	// net.ErrClosed with errors.Is.
	ErrClosed = fmt.Errorf("dgram: %w", net.ErrClosed)
	// ErrNotConnected is returned by [Conn.Send] on a socket made by
	// [Listen] (use [Conn.SendTo]).
	ErrNotConnected = errors.New("dgram: Send on a socket without a peer (use SendTo)")
	// ErrTruncated is what [Handler.OnError] receives, wrapped in a
	// *TruncatedError, for a datagram longer than [Config.ReadSize] when
	// [Handler.OnTruncated] is nil.
	ErrTruncated = errors.New("dgram: datagram truncated")
)

// TruncatedError reports a datagram longer than [Config.ReadSize], of which
// only the first ReadSize bytes were received.
type TruncatedError struct {
	From Addr
	Kept int // the bytes received (Config.ReadSize)
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("dgram: datagram from %v longer than the read size %d: truncated", e.From, e.Kept)
}

func (e *TruncatedError) Unwrap() error { return ErrTruncated }

// resolve parses address for network. A UDP address with a host name is
// resolved with the system's resolver, which blocks.
func resolve(network, address string) (Addr, error) {
	switch network {
	case "udp", "udp4", "udp6":
		if ap, err := netip.ParseAddrPort(address); err == nil {
			return checkFamily(network, Addr{IP: ap}, address)
		}
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return Addr{}, err
		}
		if host == "" {
			a, err := net.ResolveUDPAddr(network, net.JoinHostPort("", port))
			if err != nil {
				return Addr{}, err
			}
			var ip netip.Addr
			switch network {
			case "udp4":
				ip = netip.IPv4Unspecified()
			default:
				ip = netip.IPv6Unspecified()
			}
			return Addr{IP: netip.AddrPortFrom(ip, uint16(a.Port))}, nil
		}
		a, err := net.ResolveUDPAddr(network, address)
		if err != nil {
			return Addr{}, err
		}
		ap := a.AddrPort()
		return checkFamily(network, Addr{IP: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, address)
	case "unixgram":
		if address == "" {
			return Addr{}, &net.AddrError{Err: "empty socket path", Addr: address}
		}
		return Addr{Name: address}, nil
	}
	return Addr{}, net.UnknownNetworkError(network)
}

func checkFamily(network string, a Addr, address string) (Addr, error) {
	ip := a.IP.Addr().Unmap()
	switch {
	case network == "udp4" && !ip.Is4():
		return Addr{}, &net.AddrError{Err: "non-IPv4 address", Addr: address}
	case network == "udp6" && ip.Is4() && !a.IP.Addr().Is4In6():
		return Addr{}, &net.AddrError{Err: "non-IPv6 address", Addr: address}
	}
	if network != "udp6" {
		a.IP = netip.AddrPortFrom(ip, a.IP.Port())
	}
	return a, nil
}
