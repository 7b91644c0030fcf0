//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package poller

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue instance with a wake mechanism (wake_*.go).
//
// Keys are kept in a table indexed by fd rather than in Kevent_t.Udata:
// Udata is a pointer on most systems, and an arbitrary integer stored in a
// pointer field would confuse the garbage collector.
type Poller struct {
	kq   int
	keys []uint64 // fd -> key
	raw  []unix.Kevent_t
	waker

	// Netpoller mode (UseNetpoller): waits park the goroutine.
	netpoll bool
	pk      parker
	tryFn   func(uintptr) bool // p.try, bound once so that waiting allocates nothing
	tryRaw  []unix.Kevent_t
	tryN    int
	tryErr  error
}

var zeroTimespec unix.Timespec

// UseNetpoller switches waits with a timeout to Go's runtime netpoller: the
// waiting goroutine parks instead of blocking an OS thread. It fails, leaving
// the poller as it was, if the runtime cannot poll the descriptor.
func (p *Poller) UseNetpoller() error {
	if p.netpoll {
		return nil
	}
	if err := p.pk.init(p.kq); err != nil {
		return err
	}
	p.netpoll, p.tryFn = true, p.try
	return nil
}

func (p *Poller) try(uintptr) bool {
	ts := zeroTimespec
	p.tryN, p.tryErr = unix.Kevent(p.kq, nil, p.tryRaw, &ts)
	return p.tryErr != nil || p.tryN > 0
}

// New creates a kqueue and its wake mechanism.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	p := &Poller{kq: kq, raw: make([]unix.Kevent_t, 64)}
	if err := p.initWaker(); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

// Fd returns the kqueue descriptor; it is readable when events are pending.
func (p *Poller) Fd() int { return p.kq }

func (p *Poller) apply(changes []unix.Kevent_t, ignoreMissing bool) error {
	if err := fault(OpCtl); err != nil {
		return err
	}
	for i := range changes {
		// One change at a time, so that an error names its change and a
		// missing filter on delete can be ignored.
		_, err := unix.Kevent(p.kq, changes[i:i+1], nil, nil)
		if err == unix.EINTR {
			_, err = unix.Kevent(p.kq, changes[i:i+1], nil, nil)
		}
		if err != nil && !(ignoreMissing && err == unix.ENOENT) {
			return os.NewSyscallError("kevent", err)
		}
	}
	return nil
}

func (p *Poller) set(fd int, key uint64, interest Events, mode Mode, add bool) error {
	flags := unix.EV_ADD | unix.EV_ENABLE
	switch mode {
	case Edge:
		flags |= unix.EV_CLEAR
	case OneShot:
		flags |= unix.EV_ONESHOT
	}
	var ch [2]unix.Kevent_t
	if interest&Readable != 0 {
		unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, flags)
	} else {
		unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	}
	if interest&Writable != 0 {
		unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, flags)
	} else {
		unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	}
	if add {
		// Check that fd is open: kevent would accept a delete-only change
		// list. Unlike epoll, kqueue cannot tell a second registration of
		// the same open descriptor from a new descriptor that reuses the
		// number of a closed one (closing drops its events): both are
		// accepted, and the newest registration wins.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return os.NewSyscallError("fcntl", err)
		}
	}
	if err := p.apply(ch[:], true); err != nil {
		return err
	}
	for fd >= len(p.keys) {
		p.keys = append(p.keys, 0)
	}
	// Key 0 never names a live source (generations start at 1), so it
	// doubles as "not registered".
	p.keys[fd] = key
	return nil
}

// Add registers fd.
func (p *Poller) Add(fd int, key uint64, interest Events, mode Mode) error {
	return p.set(fd, key, interest, mode, true)
}

// Modify changes fd's interest, mode or key; it also re-arms a OneShot fd.
func (p *Poller) Modify(fd int, key uint64, interest Events, mode Mode) error {
	if fd >= len(p.keys) || p.keys[fd] == 0 {
		return os.NewSyscallError("kevent", unix.ENOENT)
	}
	return p.set(fd, key, interest, mode, false)
}

// Disable keeps fd registered but silences it until Modify: a second Add of
// the same open descriptor still fails.
func (p *Poller) Disable(fd int, key uint64) error {
	if fd >= len(p.keys) || p.keys[fd] == 0 {
		return os.NewSyscallError("kevent", unix.ENOENT)
	}
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DISABLE)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DISABLE)
	return p.apply(ch[:], true)
}

// Delete unregisters fd.
func (p *Poller) Delete(fd int) error {
	if fd >= len(p.keys) || p.keys[fd] == 0 {
		return os.NewSyscallError("kevent", unix.ENOENT)
	}
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	p.keys[fd] = 0
	return p.apply(ch[:], true)
}

// Block is Wait for a caller that has just looked with Wait(buf, 0) and
// found nothing; timeout must not be zero. Here it is Wait itself, which
// looks once more (and consults the fault hook) before it blocks.
func (p *Poller) Block(buf []Event, timeout time.Duration) (int, error) {
	return p.Wait(buf, timeout)
}

// Wait waits for events; see the package comment.
func (p *Poller) Wait(buf []Event, timeout time.Duration) (int, error) {
	if len(p.raw) < len(buf) {
		p.raw = make([]unix.Kevent_t, len(buf))
	}
	raw := p.raw[:len(buf)]
	if err := fault(OpWait); err != nil {
		return 0, err
	}
	var n int
	var err error
	if p.netpoll && timeout != 0 {
		p.tryRaw = raw
		if !p.try(uintptr(p.kq)) {
			if err := p.pk.park(timeout, p.tryFn); err != nil {
				return 0, err
			}
		}
		n, err = p.tryN, p.tryErr
		p.tryN, p.tryErr = 0, nil
	} else {
		// As on epoll: look first; if nothing is ready, let goroutines the
		// callbacks made ready run before this thread blocks.
		p.tryRaw = raw
		if timeout != 0 && p.try(0) {
			n, err = p.tryN, p.tryErr
		} else {
			if timeout != 0 {
				runtime.Gosched()
			}
			var ts *unix.Timespec
			if timeout >= 0 {
				t := unix.NsecToTimespec(int64(timeout))
				ts = &t
			}
			n, err = unix.Kevent(p.kq, nil, raw, ts)
		}
		p.tryN, p.tryErr = 0, nil
	}
	if err != nil {
		if err == unix.EINTR {
			return 0, ErrInterrupted
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	j := 0
	for i := range n {
		ev := &raw[i]
		if p.isWake(ev) {
			continue
		}
		fd := int(ev.Ident)
		if fd >= len(p.keys) || p.keys[fd] == 0 {
			continue
		}
		var r Events
		switch int(ev.Filter) {
		case unix.EVFILT_READ:
			r = Readable
		case unix.EVFILT_WRITE:
			r = Writable
		}
		if int(ev.Flags)&unix.EV_EOF != 0 {
			r |= Hangup
		}
		if int(ev.Flags)&unix.EV_ERROR != 0 {
			r |= Error
		}
		buf[j] = MakeEvent(p.keys[fd], r)
		j++
	}
	return j, nil
}

// Close releases the kqueue and the wake mechanism.
func (p *Poller) Close() error {
	p.pk.close()
	werr := p.closeWaker()
	if err := unix.Close(p.kq); err != nil {
		return os.NewSyscallError("close", err)
	}
	return werr
}
