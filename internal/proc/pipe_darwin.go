//go:build darwin

package proc

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pipe returns a pipe whose ends are close-on-exec and blocking; the fork
// lock keeps a concurrent exec from inheriting them meanwhile.
func Pipe() (r, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, -1, os.NewSyscallError("pipe", err)
	}
	return p[0], p[1], nil
}
