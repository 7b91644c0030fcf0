//go:build darwin || netbsd || openbsd

package sock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// accept accepts and makes the new descriptor non-blocking and
// close-on-exec; the fork lock keeps a concurrent exec from inheriting it.
func accept(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}
