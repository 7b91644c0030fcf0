//go:build darwin

package dgram

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socket creates a socket and makes it non-blocking and close-on-exec; the
// fork lock keeps a concurrent exec from inheriting it meanwhile.
func socket(family int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, unix.SOCK_DGRAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}
