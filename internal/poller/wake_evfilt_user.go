//go:build darwin || dragonfly || freebsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// waker uses an EVFILT_USER event: no extra descriptor at all.
type waker struct{ kqfd int }

const wakeIdent = 0

func (p *Poller) initWaker() error {
	p.waker.kqfd = p.kq
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(p.kq, ev[:], nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (p *Poller) isWake(ev *unix.Kevent_t) bool {
	return int(ev.Filter) == unix.EVFILT_USER
}

// Wake makes a blocked or future Wait return. Safe from any goroutine.
func (w *waker) Wake() error {
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wakeIdent, unix.EVFILT_USER, 0)
	ev[0].Fflags = unix.NOTE_TRIGGER
	for {
		_, err := unix.Kevent(w.kqfd, ev[:], nil, nil)
		if err != unix.EINTR {
			if err != nil {
				return os.NewSyscallError("kevent", err)
			}
			return nil
		}
	}
}

func (p *Poller) closeWaker() error { return nil }
