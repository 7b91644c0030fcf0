//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sock

import (
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Supported reports whether this system has an implementation.
const Supported = true

// Listen creates a non-blocking listening socket for network ("tcp",
// "tcp4", "tcp6" or "unix") bound to addr, a *net.TCPAddr or *net.UnixAddr.
func Listen(network string, addr net.Addr, backlog int, reusePort bool) (int, error) {
	family, sa, err := sockaddr(network, addr, true)
	if err != nil {
		return -1, err
	}
	fd, err := socket(family)
	if err != nil && family == unix.AF_INET6 && network == "tcp" && isWildcard(addr) {
		// No IPv6 here: listen on IPv4 only.
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: addr.(*net.TCPAddr).Port}
		fd, err = socket(family)
	}
	if err != nil {
		return -1, err
	}
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
		if family == unix.AF_INET6 {
			v6only := 0
			if network == "tcp6" {
				v6only = 1
			}
			// Best effort: some systems refuse dual-stack sockets.
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
		}
	}
	if reusePort {
		if err := setReusePort(fd); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if backlog <= 0 {
		backlog = DefaultBacklog()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// DefaultBacklog is the listen backlog used when none is given: the larger
// of 1024 and the system's SOMAXCONN (the kernel caps it at its own limit).
func DefaultBacklog() int { return max(1024, unix.SOMAXCONN) }

// Connect creates a non-blocking socket and starts connecting it to addr.
// It returns the descriptor and whether the connection is still in
// progress (then the descriptor becomes writable when it completes, and
// [SocketError] tells how). A connection refused or failed at once is
// returned as an error together with the descriptor, already closed (-1).
func Connect(network string, addr net.Addr) (fd int, inProgress bool, err error) {
	family, sa, err := sockaddr(network, addr, false)
	if err != nil {
		return -1, false, err
	}
	fd, err = socket(family)
	if err != nil {
		return -1, false, err
	}
	if family != unix.AF_UNIX {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil, unix.EISCONN:
		return fd, false, nil
	case unix.EINPROGRESS, unix.EALREADY:
		return fd, true, nil
	}
	unix.Close(fd)
	return -1, false, os.NewSyscallError("connect", err)
}

// SocketError returns and clears the pending error of fd (SO_ERROR), as an
// *os.SyscallError naming call, or nil.
func SocketError(fd int, call string) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		return os.NewSyscallError(call, syscall.Errno(v))
	}
	return nil
}

// Accept accepts a connection on listening socket fd. The new descriptor is
// non-blocking and close-on-exec; TCP connections get TCP_NODELAY.
func Accept(fd int) (int, net.Addr, error) {
	for {
		nfd, sa, err := accept(fd)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, nil, err
		}
		addr := toAddr(sa)
		if _, ok := addr.(*net.TCPAddr); ok {
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		return nfd, addr, nil
	}
}

// Read reads from fd into p, retrying on EINTR. It returns the raw errno.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := read(fd, p)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Write writes p to fd, retrying on EINTR. It returns the raw errno.
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := write(fd, p)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Writev writes a then b to fd with one system call, retrying on EINTR.
func Writev(fd int, a, b []byte) (int, error) {
	for {
		n, err := writev(fd, a, b)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Describe tells what fd is: a connected stream socket (isSocket; then
// readable and writable are both true), or another descriptor, readable
// and writable as its access mode says. A socket that is not a connected
// stream socket (a datagram or listening socket, one not connected) and a
// descriptor that is not open are errors.
func Describe(fd int) (isSocket, readable, writable bool, err error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return false, false, false, os.NewSyscallError("fcntl", err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case err == unix.ENOTSOCK:
		switch fl & unix.O_ACCMODE {
		case unix.O_RDONLY:
			return false, true, false, nil
		case unix.O_WRONLY:
			return false, false, true, nil
		}
		return false, true, true, nil
	case err != nil:
		return false, false, false, os.NewSyscallError("getsockopt", err)
	case typ != unix.SOCK_STREAM:
		return true, false, false, os.NewSyscallError("getsockopt", unix.EPROTOTYPE)
	}
	if PeerAddr(fd) == nil {
		return true, false, false, os.NewSyscallError("getpeername", unix.ENOTCONN)
	}
	return true, true, true, nil
}

// SetNonblock makes fd non-blocking.
func SetNonblock(fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	return nil
}

// IsEIO reports whether err is EIO, which a terminal's master side
// returns on read once the other side is closed.
func IsEIO(err error) bool { return err == unix.EIO }

// WritevN writes the buffers of iov, in order, with one system call,
// retrying on EINTR.
func WritevN(fd int, iov [][]byte) (int, error) {
	for {
		n, err := writevN(fd, iov)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }

// ShutdownWrite shuts down the writing side of fd (the peer reads EOF).
func ShutdownWrite(fd int) error {
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// LocalAddr returns the address fd is bound to, or nil.
func LocalAddr(fd int) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return toAddr(sa)
}

// PeerAddr returns the address of fd's peer, or nil.
func PeerAddr(fd int) net.Addr {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil
	}
	return toAddr(sa)
}

// IsAgain reports whether err means the call would block.
func IsAgain(err error) bool { return err == unix.EAGAIN || err == unix.EWOULDBLOCK }

// IsFDLimit reports whether err means the process or the system ran out of
// descriptors or memory for a new socket: accepting should pause.
func IsFDLimit(err error) bool {
	return err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
}

// IsAcceptRetry reports whether an accept error concerns only the
// connection that failed (it was aborted before being accepted): accepting
// continues with the next one.
func IsAcceptRetry(err error) bool {
	return err == unix.ECONNABORTED || err == unix.EPROTO || err == unix.EPERM || err == unix.ECONNRESET
}

// Unlink removes the file of a Unix socket; abstract names (starting with
// '@') have none.
func Unlink(path string) {
	if path != "" && path[0] != '@' {
		unix.Unlink(path)
	}
}

func socket(family int) (int, error) {
	fd, err := sysSocket(family)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

func isWildcard(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && (a.IP == nil || a.IP.IsUnspecified())
}

// sockaddr converts addr to a socket address family and value.
func sockaddr(network string, addr net.Addr, listen bool) (int, unix.Sockaddr, error) {
	switch a := addr.(type) {
	case *net.UnixAddr:
		if network != "unix" {
			return 0, nil, net.UnknownNetworkError(network)
		}
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: a.Name}, nil
	case *net.TCPAddr:
		ip := a.IP
		switch network {
		case "tcp4":
			if ip == nil {
				ip = net.IPv4zero
			}
			ip4 := ip.To4()
			if ip4 == nil {
				return 0, nil, &net.AddrError{Err: "non-IPv4 address", Addr: a.String()}
			}
			sa := &unix.SockaddrInet4{Port: a.Port}
			copy(sa.Addr[:], ip4)
			return unix.AF_INET, sa, nil
		case "tcp", "tcp6":
			if ip == nil {
				switch {
				case listen:
					ip = net.IPv6zero // dual-stack where "tcp" allows it
				case network == "tcp":
					ip = net.IPv4(127, 0, 0, 1)
				default:
					ip = net.IPv6loopback
				}
			}
			if ip4 := ip.To4(); ip4 != nil {
				if network == "tcp6" {
					return 0, nil, &net.AddrError{Err: "non-IPv6 address", Addr: a.String()}
				}
				sa := &unix.SockaddrInet4{Port: a.Port}
				copy(sa.Addr[:], ip4)
				return unix.AF_INET, sa, nil
			}
			sa := &unix.SockaddrInet6{Port: a.Port, ZoneId: zoneIndex(a.Zone)}
			copy(sa.Addr[:], ip.To16())
			return unix.AF_INET6, sa, nil
		}
		return 0, nil, net.UnknownNetworkError(network)
	}
	return 0, nil, &net.AddrError{Err: "unexpected address type", Addr: addr.String()}
}

func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.Atoi(zone)
	return uint32(n)
}

func zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(int(index))
}

func toAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, sa.Addr[:])
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}
