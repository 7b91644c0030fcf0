//go:build freebsd

package sock

import "golang.org/x/sys/unix"

// setReusePort uses SO_REUSEPORT_LB, which balances connections between
// the sockets bound to the port, as SO_REUSEPORT does on Linux.
func setReusePort(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT_LB, 1)
}
