//go:build darwin

package sock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysSocket creates a socket and makes it non-blocking and close-on-exec;
// the fork lock keeps a concurrent exec from inheriting it meanwhile.
func sysSocket(family int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
	return fd, nil
}
