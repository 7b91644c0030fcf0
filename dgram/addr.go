package dgram

import (
	"net"
	"net/netip"
)

// Addr is the address of a datagram socket: an IP address and port for
// UDP, or a socket path for Unix datagram sockets. It is a small value,
// comparable with ==; the zero Addr is "no address" (a Unix socket that
// was never bound to a name sends from the zero Addr, and cannot be
// answered).
type Addr struct {
	// IP is the address and port of a UDP peer; IPv4 peers of a dual-stack
	// socket are given as plain IPv4 addresses (not ::ffff:a.b.c.d).
	IP netip.AddrPort
	// Name is the path of a Unix datagram socket; a name in Linux's
	// abstract namespace starts with '@' (and, counted rather than
	// terminated, may hold NUL bytes, a trailing one included).
	Name string
}

// UDPAddr returns the Addr of a UDP peer.
func UDPAddr(ap netip.AddrPort) Addr { return Addr{IP: ap} }

// UnixAddr returns the Addr of the Unix datagram socket at path.
func UnixAddr(path string) Addr { return Addr{Name: path} }

// IsValid reports whether a is a UDP address or a named Unix address.
func (a Addr) IsValid() bool { return a.IP.IsValid() || a.Name != "" }

// String returns "ip:port", the socket path, or "" for the zero Addr.
func (a Addr) String() string {
	if a.IP.IsValid() {
		return a.IP.String()
	}
	return a.Name
}

// NetAddr returns a as a *net.UDPAddr or *net.UnixAddr (it allocates), or
// nil for the zero Addr.
func (a Addr) NetAddr() net.Addr {
	switch {
	case a.IP.IsValid():
		return net.UDPAddrFromAddrPort(a.IP)
	case a.Name != "":
		return &net.UnixAddr{Name: a.Name, Net: "unixgram"}
	}
	return nil
}

// unmap returns a with an IPv4-mapped IPv6 address written as IPv4: the
// form in which two addresses of the same IPv4 peer compare equal.
func (a Addr) unmap() Addr {
	if a.IP.IsValid() {
		a.IP = netip.AddrPortFrom(a.IP.Addr().Unmap(), a.IP.Port())
	}
	return a
}
