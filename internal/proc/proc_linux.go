package proc

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ExitFD returns a descriptor (a pidfd) that becomes readable when the
// child pid exits. pid must be a child of this process. A pidfd of a
// child that exited (a zombie) is readable at once; exited is true, with
// no descriptor, for a child already gone: reaped by other code of the
// program (a wait for any child) since it was started. Without pidfd
// support (Linux before 5.3, or a seccomp filter) the error wraps
// errors.ErrUnsupported.
func ExitFD(pid int) (fd int, exited bool, err error) {
	if forceUnsupported {
		return -1, false, errors.ErrUnsupported
	}
	fd, err = unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return -1, true, nil
	}
	if err != nil {
		if err == unix.ENOSYS || err == unix.EPERM || err == unix.EINVAL {
			return -1, false, errors.Join(errors.ErrUnsupported, os.NewSyscallError("pidfd_open", err))
		}
		return -1, false, os.NewSyscallError("pidfd_open", err)
	}
	unix.CloseOnExec(fd) // pidfds are close-on-exec already; be sure
	return fd, false, nil
}
