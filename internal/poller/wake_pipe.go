//go:build netbsd || openbsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// waker is a non-blocking pipe, for kqueues without EVFILT_USER.
type waker struct{ r, w int }

func (p *Poller) initWaker() error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	p.waker = waker{r: fds[0], w: fds[1]}
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], fds[0], unix.EVFILT_READ, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(p.kq, ev[:], nil, nil); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (p *Poller) isWake(ev *unix.Kevent_t) bool {
	if int(ev.Ident) != p.waker.r || int(ev.Filter) != unix.EVFILT_READ {
		return false
	}
	var buf [64]byte
	for {
		if n, err := unix.Read(p.waker.r, buf[:]); n <= 0 || err != nil {
			return true
		}
	}
}

// Wake makes a blocked or future Wait return. Safe from any goroutine.
func (w *waker) Wake() error {
	for {
		_, err := unix.Write(w.w, []byte{1})
		switch err {
		case nil, unix.EAGAIN: // a full pipe is readable anyway
			return nil
		case unix.EINTR:
			continue
		default:
			return os.NewSyscallError("write", err)
		}
	}
}

func (p *Poller) closeWaker() error {
	unix.Close(p.waker.w)
	if err := unix.Close(p.waker.r); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
