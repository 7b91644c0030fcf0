//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package poller

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parker waits for the poller's own descriptor through Go's runtime
// netpoller: the waiting goroutine parks, and gives its OS thread back,
// instead of blocking a thread in the kernel. The descriptor is non-blocking
// and wrapped in an *os.File; SyscallConn().Read calls try first and parks
// only if try reports nothing ready, so events left over from a partial drain
// never wait for a new edge. A read deadline serves as the timeout.
type parker struct {
	f     *os.File
	rc    syscall.RawConn
	dlSet bool
}

// errNotPollable means the runtime netpoller refused the descriptor.
var errNotPollable = errors.New("poller: descriptor not pollable by the runtime")

// init wraps a duplicate of fd, so that the *os.File (which closes its
// descriptor when it is closed or collected) never owns the poller's own fd.
// Both name the same kernel object; O_NONBLOCK, which the runtime needs to
// accept it, is shared, and epoll_wait and kevent ignore it.
func (pk *parker) init(fd int) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(dup), "calloop-poller")
	// SetReadDeadline fails unless the runtime accepted the descriptor.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		unix.SetNonblock(fd, false)
		return errNotPollable
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	pk.f, pk.rc = f, rc
	return nil
}

func (pk *parker) close() error {
	if pk.f == nil {
		return nil
	}
	return pk.f.Close()
}

// park waits until try reports true, or timeout passes (negative: no limit).
// The first call of try, made after the runtime reset the descriptor's
// readiness, is what makes parking race-free: an event that arrived before
// it is seen there, one that arrives after it wakes the parked goroutine.
func (pk *parker) park(timeout time.Duration, try func(uintptr) bool) error {
	if timeout > 0 {
		pk.f.SetReadDeadline(time.Now().Add(timeout))
		pk.dlSet = true
	} else if pk.dlSet {
		pk.f.SetReadDeadline(time.Time{})
		pk.dlSet = false
	}
	err := pk.rc.Read(try)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}
