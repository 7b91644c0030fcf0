package dgram

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux receives and sends batches with recvmmsg and sendmmsg (x/sys has
// the Mmsghdr type but not the calls). Every header, iovec and address
// buffer is allocated once per socket and reused.
const mmsgSupported = true

// mmsgRecv holds the receive headers of a loop's recvSlots.
type mmsgRecv struct {
	rhdrs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrAny
}

// mmsgState holds the send headers of a socket.
type mmsgState struct {
	shdrs  []unix.Mmsghdr
	siovs  []unix.Iovec
	snames []unix.RawSockaddrAny
}

// init points the receive headers at the slots.
func (m *mmsgRecv) init(rs *recvSlots) {
	if len(m.rhdrs) < rs.batch {
		m.rhdrs = make([]unix.Mmsghdr, rs.batch)
		m.riovs = make([]unix.Iovec, rs.batch)
		m.rnames = make([]unix.RawSockaddrAny, rs.batch)
	}
	for i := range rs.batch {
		m.riovs[i].Base = &rs.bufs[i*rs.size]
		m.riovs[i].SetLen(rs.size)
		h := &m.rhdrs[i].Hdr
		h.Iov = &m.riovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&m.rnames[i]))
	}
}

func (s *sysConn) recvMmsg(k int) (int, error) {
	rs := s.rs
	m := &rs.mm
	for i := range k {
		m.rhdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
		m.rhdrs[i].Hdr.Flags = 0
		m.rhdrs[i].Len = 0
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.rhdrs[0])), uintptr(k), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		n := min(int(r), k)
		for i := range n {
			h := &m.rhdrs[i]
			rs.lens[i] = min(int(h.Len), rs.size)
			rs.trunc[i] = h.Hdr.Flags&unix.MSG_TRUNC != 0
			rs.from[i] = s.decode(&m.rnames[i], h.Hdr.Namelen)
		}
		return n, nil
	}
}

// sendmsg sends one datagram (to the connected peer when to is zero).
func (s *sysConn) sendmsg(p []byte, to Addr) error {
	s.sendScratch(1)
	m := &s.mm
	s.fill(0, p, to)
	var err error
	for {
		_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.shdrs[0].Hdr)), 0)
		if e != unix.EINTR {
			if e != 0 {
				err = e
			}
			break
		}
	}
	m.siovs[0].Base = nil
	return err
}

func (s *sysConn) sendMmsg(slab []byte, q []outPkt) (int, error) {
	k := min(len(q), s.batch)
	s.sendScratch(k)
	m := &s.mm
	for i := range k {
		p := q[i]
		s.fill(i, slab[p.off:p.off+p.n], p.to)
	}
	var n int
	var err error
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.shdrs[0])), uintptr(k), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			err = e
		} else {
			n = min(int(r), k)
		}
		break
	}
	for i := range k {
		m.siovs[i].Base = nil
	}
	return n, err
}

func (s *sysConn) sendScratch(k int) {
	m := &s.mm
	if len(m.shdrs) >= k {
		return
	}
	k = max(k, s.batch)
	m.shdrs = make([]unix.Mmsghdr, k)
	m.siovs = make([]unix.Iovec, k)
	m.snames = make([]unix.RawSockaddrAny, k)
	for i := range m.shdrs {
		h := &m.shdrs[i].Hdr
		h.Iov = &m.siovs[i]
		h.SetIovlen(1)
	}
}

// fill prepares send header i for datagram p to to.
func (s *sysConn) fill(i int, p []byte, to Addr) {
	m := &s.mm
	iov := &m.siovs[i]
	iov.Base = nil
	if len(p) > 0 {
		iov.Base = &p[0]
	}
	iov.SetLen(len(p))
	h := &m.shdrs[i].Hdr
	h.Name, h.Namelen = nil, 0
	if to.IsValid() {
		h.Name = (*byte)(unsafe.Pointer(&m.snames[i]))
		h.Namelen = s.encode(to, &m.snames[i])
	}
}

// encode writes a (already checked by checkAddr) as a raw address of the
// socket's family and returns its length.
func (s *sysConn) encode(a Addr, rsa *unix.RawSockaddrAny) uint32 {
	switch s.family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.IP.Addr().Unmap().As4()}
		putPort(&p.Port, a.IP.Port())
		return unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.IP.Addr().As16()}
		if z := a.IP.Addr().Zone(); z != "" {
			p.Scope_id = zoneIndex(z)
		}
		putPort(&p.Port, a.IP.Port())
		return unix.SizeofSockaddrInet6
	}
	p := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
	p.Family = unix.AF_UNIX
	n := copy(unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), len(p.Path)), a.Name)
	if n < len(p.Path) {
		p.Path[n] = 0
	}
	if a.Name[0] == '@' {
		p.Path[0] = 0
		return uint32(2 + n) // abstract: no trailing NUL
	}
	return uint32(2 + n + 1)
}

func putPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(src *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(src))
	return int(b[0])<<8 | int(b[1])
}

// decode reads a peer address of n bytes written by the kernel.
func (s *sysConn) decode(rsa *unix.RawSockaddrAny, n uint32) Addr {
	if n < 2 || n > unix.SizeofSockaddrAny {
		return Addr{}
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return Addr{IP: netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(getPort(&p.Port)))}
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return s.ipAddr(p.Addr, getPort(&p.Port), p.Scope_id)
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		l := min(int(n)-2, len(p.Path))
		if l <= 0 {
			return Addr{}
		}
		path := unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), l)
		if path[0] == 0 {
			// An abstract name: counted, not terminated; a NUL inside or at
			// the end belongs to it.
			path[0] = '@'
			return s.unixAddr(path[:l])
		}
		for i, b := range path {
			if b == 0 {
				l = i
				break
			}
		}
		return s.unixAddr(path[:l])
	}
	return Addr{}
}
