//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package proc

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitFD returns a descriptor (a kqueue watching EVFILT_PROC/NOTE_EXIT for
// pid) that becomes readable when the child pid exits. pid must be an
// unreaped child of this process. exited reports a child that had already
// exited when it was registered (some systems refuse to watch a zombie):
// the caller must not wait for the descriptor then.
func ExitFD(pid int) (fd int, exited bool, err error) {
	if forceUnsupported {
		return -1, false, errors.ErrUnsupported
	}
	syscall.ForkLock.RLock()
	kq, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(kq)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, false, os.NewSyscallError("kqueue", err)
	}
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev[0].Fflags = unix.NOTE_EXIT
	for {
		_, err = unix.Kevent(kq, ev[:], nil, nil)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		return kq, false, nil
	case unix.ESRCH:
		return kq, true, nil // a zombie already
	}
	unix.Close(kq)
	return -1, false, os.NewSyscallError("kevent", err)
}
