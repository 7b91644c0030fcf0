//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package dgram

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sysConn is the system side of a socket: its descriptor, receive slots and
// send scratch. recv fills slots 0..n-1, packet reads them back (until the
// next recv of any socket of the loop).
type sysConn struct {
	fd     int // -1 once closed
	family int
	batch  int  // datagrams per receive call
	mmsg   bool // recvmmsg/sendmmsg (Linux)
	// pollBlind: the kernel's writability says nothing about whether a
	// send would succeed (a Unix datagram socket without a peer: Linux
	// reports it writable while the receiver's queue is full), so a
	// blocked queue is retried on a timer rather than on Writable.
	pollBlind bool

	rs *recvSlots // the receive slots, shared by the sockets of a loop

	lastName string    // the last Unix peer name, reused while it repeats
	pending  error     // an error met after some datagrams were read
	mm       mmsgState // Linux only
	sa4      unix.SockaddrInet4
	sa6      unix.SockaddrInet6
	sau      unix.SockaddrUnix
	zones    map[uint32]string
}

// forcePortable makes new sockets use recvmsg/sendmsg one datagram at a
// time, as on systems without recvmmsg (set by tests).
var forcePortable bool

func (s *sysConn) open(network string, la, ra Addr, cfg *config, rs *recvSlots) (Addr, error) {
	s.fd = -1
	s.family = chooseFamily(network, la, ra)
	fd, err := socket(s.family)
	if err != nil && s.family == unix.AF_INET6 && network == "udp" {
		s.family = unix.AF_INET // no IPv6 here
		fd, err = socket(s.family)
	}
	if err != nil {
		return Addr{}, err
	}
	s.fd = fd
	s.rs = rs // released by close, on every path from here
	rs.acquire()
	if s.family == unix.AF_INET6 {
		v6only := 0
		if network == "udp6" {
			v6only = 1
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only) // best effort
	}
	if cfg.reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			s.close()
			return Addr{}, wrap("setsockopt", err)
		}
	}
	if cfg.rcvbuf > 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.rcvbuf)
	}
	if cfg.sndbuf > 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.sndbuf)
	}
	if la.IsValid() {
		sa, err := s.sockaddr(la)
		if err == nil {
			err = wrap("bind", unix.Bind(fd, sa))
		}
		if err != nil {
			s.close()
			return Addr{}, err
		}
	}
	if ra.IsValid() {
		sa, err := s.sockaddr(ra)
		if err == nil {
			for {
				err = unix.Connect(fd, sa)
				if err != unix.EINTR {
					break
				}
			}
			err = wrap("connect", err)
		}
		if err != nil {
			s.close()
			return Addr{}, err
		}
	}
	s.pollBlind = s.family == unix.AF_UNIX && !ra.IsValid()
	s.batch, s.mmsg = 1, false
	if mmsgSupported && !forcePortable {
		s.batch, s.mmsg = cfg.batch, true
	}
	if s.family == unix.AF_UNIX && la.IsValid() {
		// As asked: Getsockname's result would cut an abstract name at
		// its first NUL byte.
		return la, nil
	}
	var bound Addr
	if sa, err := unix.Getsockname(fd); err == nil {
		bound = s.toAddr(sa)
	}
	return bound, nil
}

func wrap(call string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(call, err)
}

// chooseFamily picks the address family of a new socket.
func chooseFamily(network string, la, ra Addr) int {
	switch network {
	case "unixgram":
		return unix.AF_UNIX
	case "udp4":
		return unix.AF_INET
	case "udp6":
		return unix.AF_INET6
	}
	if ra.IsValid() {
		if ra.IP.Addr().Is4() {
			return unix.AF_INET
		}
		return unix.AF_INET6
	}
	if la.IP.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func (s *sysConn) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.mm = mmsgState{}
	if s.rs != nil {
		s.rs.release()
		s.rs = nil
	}
}

// checkAddr tells whether datagrams can be sent to a from this socket.
func (s *sysConn) checkAddr(a Addr) error {
	switch s.family {
	case unix.AF_UNIX:
		if a.Name == "" {
			return errors.New("not a Unix socket address")
		}
		if len(a.Name) >= len(unix.RawSockaddrUnix{}.Path) {
			return errors.New("socket path too long")
		}
		if a.Name[0] != '@' && strings.IndexByte(a.Name, 0) >= 0 {
			// The system would cut the path there: another file.
			return errors.New("socket path with a NUL byte")
		}
	case unix.AF_INET:
		if !a.IP.IsValid() || !a.IP.Addr().Unmap().Is4() {
			return errors.New("not an IPv4 address")
		}
	case unix.AF_INET6:
		if !a.IP.IsValid() {
			return errors.New("not an IP address")
		}
	}
	return nil
}

// sockaddr converts a to a Sockaddr of the socket's family, reusing the
// socket's own Sockaddr values (no allocation).
func (s *sysConn) sockaddr(a Addr) (unix.Sockaddr, error) {
	if err := s.checkAddr(a); err != nil {
		return nil, &net.AddrError{Err: err.Error(), Addr: a.String()}
	}
	switch s.family {
	case unix.AF_UNIX:
		s.sau.Name = a.Name
		return &s.sau, nil
	case unix.AF_INET:
		s.sa4.Addr, s.sa4.Port = a.IP.Addr().Unmap().As4(), int(a.IP.Port())
		return &s.sa4, nil
	}
	ip := a.IP.Addr()
	s.sa6.Addr, s.sa6.Port, s.sa6.ZoneId = ip.As16(), int(a.IP.Port()), 0
	if z := ip.Zone(); z != "" {
		s.sa6.ZoneId = zoneIndex(z)
	}
	return &s.sa6, nil
}

func zoneIndex(zone string) uint32 {
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.Atoi(zone)
	return uint32(n)
}

// zoneName returns the name of an IPv6 scope, cached per socket.
func (s *sysConn) zoneName(index uint32) string {
	if z, ok := s.zones[index]; ok {
		return z
	}
	z := strconv.Itoa(int(index))
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		z = ifi.Name
	}
	if s.zones == nil {
		s.zones = make(map[uint32]string)
	}
	if len(s.zones) < 64 {
		s.zones[index] = z
	}
	return z
}

// ipAddr builds the Addr of an IP peer; IPv4-mapped addresses are unmapped.
func (s *sysConn) ipAddr(ip16 [16]byte, port int, scope uint32) Addr {
	ip := netip.AddrFrom16(ip16).Unmap()
	if scope != 0 && ip.Is6() {
		ip = ip.WithZone(s.zoneName(scope))
	}
	return Addr{IP: netip.AddrPortFrom(ip, uint16(port))}
}

// unixAddr builds the Addr of a Unix peer from its path bytes, reusing the
// previous string while the peer repeats.
func (s *sysConn) unixAddr(path []byte) Addr {
	if len(path) == 0 {
		return Addr{}
	}
	if string(path) != s.lastName {
		s.lastName = string(path)
	}
	return Addr{Name: s.lastName}
}

func (s *sysConn) toAddr(sa unix.Sockaddr) Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return Addr{IP: netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))}
	case *unix.SockaddrInet6:
		return s.ipAddr(sa.Addr, sa.Port, sa.ZoneId)
	case *unix.SockaddrUnix:
		if sa.Name == "" {
			return Addr{}
		}
		if sa.Name != s.lastName {
			s.lastName = sa.Name
		}
		return Addr{Name: s.lastName}
	}
	return Addr{}
}

// recvSlots is where datagrams are received: batch slots of size bytes,
// with their lengths, flags and sources. The sockets of one loop share one
// (a per-loop value): only one of them receives at a time, and a datagram
// is only valid during its callback. Its memory is dropped when the last
// socket using it closes.
type recvSlots struct {
	bufs        []byte
	size, batch int
	lens        []int
	trunc       []bool
	from        []Addr
	mm          mmsgRecv // Linux: headers pointing at the slots
	refs        int
}

func newRecvSlots() (*recvSlots, error) { return new(recvSlots), nil }

func (rs *recvSlots) acquire() { rs.refs++ }

func (rs *recvSlots) release() {
	if rs.refs--; rs.refs <= 0 {
		*rs = recvSlots{}
	}
}

// layout makes sure there are batch slots of size bytes.
func (rs *recvSlots) layout(batch, size int, mmsg bool) {
	if rs.size == size && rs.batch >= batch && rs.bufs != nil {
		return
	}
	if rs.size == size {
		batch = max(batch, rs.batch)
	}
	if need := batch * size; cap(rs.bufs) < need {
		rs.bufs = make([]byte, need)
	}
	rs.bufs = rs.bufs[:batch*size]
	rs.size, rs.batch = size, batch
	if len(rs.lens) < batch {
		rs.lens, rs.trunc, rs.from = make([]int, batch), make([]bool, batch), make([]Addr, batch)
	}
	if mmsg {
		rs.mm.init(rs)
	}
}

func (s *sysConn) recv(k, size int) (int, error) {
	if s.fd < 0 {
		return 0, unix.EBADF
	}
	if err := s.pending; err != nil {
		s.pending = nil
		return 0, err
	}
	s.rs.layout(s.batch, size, s.mmsg)
	if s.mmsg {
		return s.recvMmsg(k)
	}
	return s.recvPortable()
}

func (s *sysConn) packet(i int) ([]byte, Addr, bool) {
	rs := s.rs
	off := i * rs.size
	end := off + rs.lens[i]
	// The capacity ends with the datagram: the rest of the slot holds
	// bytes of earlier datagrams, of this socket or another of the loop.
	return rs.bufs[off:end:end], rs.from[i], rs.trunc[i]
}

// recvPortable receives one datagram with recvmsg.
func (s *sysConn) recvPortable() (int, error) {
	for {
		rs := s.rs
		n, _, flags, from, err := unix.Recvmsg(s.fd, rs.bufs[:rs.size], nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		rs.lens[0] = min(max(n, 0), rs.size)
		rs.trunc[0] = flags&unix.MSG_TRUNC != 0
		rs.from[0] = Addr{}
		if from != nil {
			rs.from[0] = s.toAddr(from)
		}
		return 1, nil
	}
}

func (s *sysConn) sendOne(p []byte, to Addr) error {
	if s.fd < 0 {
		return unix.EBADF
	}
	if s.mmsg {
		return s.sendmsg(p, to)
	}
	var sa unix.Sockaddr
	if to.IsValid() {
		var err error
		if sa, err = s.sockaddr(to); err != nil {
			return err
		}
	}
	for {
		_, err := unix.SendmsgN(s.fd, p, nil, sa, 0)
		if err != unix.EINTR {
			return err
		}
	}
}

// sendQueue sends datagrams from the head of q: it returns how many left,
// and the error of the first one refused when none left.
func (s *sysConn) sendQueue(slab []byte, q []outPkt) (int, error) {
	if s.mmsg {
		return s.sendMmsg(slab, q)
	}
	for i, p := range q {
		if err := s.sendOne(slab[p.off:p.off+p.n], p.to); err != nil {
			if i == 0 {
				return 0, err
			}
			return i, nil
		}
	}
	return len(q), nil
}

func isAgain(err error) bool { return err == unix.EAGAIN || err == unix.EWOULDBLOCK }

// isTransient reports whether a receive error concerns an earlier datagram
// (an ICMP error queued on the socket) rather than the socket itself.
func isTransient(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN,
		unix.ENETDOWN, unix.ECONNRESET, unix.EMSGSIZE, unix.ETIMEDOUT, unix.ENOBUFS, unix.ENOMEM:
		return true
	}
	return false
}

func removeFile(path string) { unix.Unlink(path) }
