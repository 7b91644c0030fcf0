//go:build linux

package poller

import (
	"encoding/binary"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wakeKey marks the wake eventfd's registration; the loop never hands it out.
const wakeKey = ^uint64(0)

// Poller is an epoll instance with an eventfd for cross-goroutine wakeups.
type Poller struct {
	epfd   int
	wakefd int
	// pwait2 is false once epoll_pwait2 has answered ENOSYS, and on
	// Android, whose seccomp policy for apps kills a process calling it
	// before Android 15; timeouts then fall back to milliseconds, rounded up
	// so that timers never fire early.
	pwait2 bool

	// Netpoller mode (UseNetpoller): waits park the goroutine.
	netpoll bool
	pk      parker
	tryFn   func(uintptr) bool // p.try, bound once so that waiting allocates nothing
	tryRaw  []Event
	tryN    int
	tryErr  syscall.Errno
}

// New creates an epoll instance and its wake eventfd.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// The wake eventfd is edge-triggered: every write re-signals it, so the
	// loop never needs to read it back (one syscall less per wakeup). The
	// counter would need 2^64 writes to saturate.
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, pwait2: runtime.GOOS != "android"}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
	setKey(&ev, wakeKey)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return p, nil
}

// Fd returns the epoll descriptor; it is readable when events are pending.
func (p *Poller) Fd() int { return p.epfd }

// Event is the kernel's struct epoll_event (event.go): the layouts and the
// readiness bits must agree, which these constants check at compile time (an
// index out of range of a one-element array is a compile error). Each XOR
// is parenthesized: ^ and | bind equally, and a^b|c^d can be 0 with a != b.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Event{})^unsafe.Sizeof(unix.EpollEvent{})]
	_ = [1]struct{}{}[unsafe.Offsetof(Event{}.KeyLo)^unsafe.Offsetof(unix.EpollEvent{}.Fd)]
	_ = [1]struct{}{}[unsafe.Offsetof(Event{}.KeyHi)^unsafe.Offsetof(unix.EpollEvent{}.Pad)]
	_ = [1]struct{}{}[(BitIn^unix.EPOLLIN)|(BitPri^unix.EPOLLPRI)|(BitOut^unix.EPOLLOUT)]
	_ = [1]struct{}{}[(BitErr^unix.EPOLLERR)|(BitHup^unix.EPOLLHUP)|(BitRdHup^unix.EPOLLRDHUP)]
	// The bits carrying a source's own Events bits are none the kernel reports.
	_ = [1]struct{}{}[UserMask&(unix.EPOLLIN|unix.EPOLLPRI|unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDNORM|unix.EPOLLRDBAND|unix.EPOLLWRNORM|unix.EPOLLWRBAND|unix.EPOLLMSG|unix.EPOLLRDHUP|unix.EPOLLEXCLUSIVE|unix.EPOLLWAKEUP|unix.EPOLLONESHOT|unix.EPOLLET)]
)

func setKey(ev *unix.EpollEvent, key uint64) {
	ev.Fd = int32(uint32(key))
	ev.Pad = int32(uint32(key >> 32))
}

func epollFlags(interest Events, mode Mode) uint32 {
	var f uint32
	if interest&Readable != 0 {
		f |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if interest&Writable != 0 {
		f |= unix.EPOLLOUT
	}
	switch mode {
	case Edge:
		f |= unix.EPOLLET
	case OneShot:
		f |= unix.EPOLLONESHOT
	}
	return f
}

func (p *Poller) ctl(op, fd int, key uint64, interest Events, mode Mode) error {
	if err := fault(OpCtl); err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: epollFlags(interest, mode)}
	setKey(&ev, key)
	if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Add registers fd.
func (p *Poller) Add(fd int, key uint64, interest Events, mode Mode) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, key, interest, mode)
}

// Modify changes fd's interest, mode or key; it also re-arms a OneShot fd.
func (p *Poller) Modify(fd int, key uint64, interest Events, mode Mode) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, key, interest, mode)
}

// Disable keeps fd registered but silences it until Modify: a second Add of
// the same open descriptor still fails. At most one error or hang-up event
// may still be reported for it.
func (p *Poller) Disable(fd int, key uint64) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, key, 0, OneShot)
}

// Delete unregisters fd.
func (p *Poller) Delete(fd int) error {
	if err := fault(OpCtl); err != nil {
		return err
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// UseNetpoller switches waits with a timeout to Go's runtime netpoller: the
// waiting goroutine parks instead of blocking an OS thread. It fails, leaving
// the poller as it was, if the runtime cannot poll the descriptor.
func (p *Poller) UseNetpoller() error {
	if p.netpoll {
		return nil
	}
	if err := p.pk.init(p.epfd); err != nil {
		return err
	}
	p.netpoll, p.tryFn = true, p.try
	return nil
}

func (p *Poller) try(fd uintptr) bool {
	n, _, e := syscall.RawSyscall6(sysLook, fd, uintptr(unsafe.Pointer(&p.tryRaw[0])), uintptr(len(p.tryRaw)), 0, 0, 0)
	p.tryN, p.tryErr = int(n), e
	return e != 0 || n > 0
}

// Wait waits for events; see the package comment.
//
// Every call looks first without blocking (sysLook: epoll_wait or
// epoll_pwait, as a raw system call, no scheduler bookkeeping): a busy loop
// finds its events there. Only if nothing is ready and timeout is not zero
// does it block. The kernel writes the events into buf itself.
func (p *Poller) Wait(buf []Event, timeout time.Duration) (int, error) {
	if err := fault(OpWait); err != nil {
		return 0, err
	}
	r, _, errno := syscall.RawSyscall6(sysLook, uintptr(p.epfd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return 0, waitError(errno)
	}
	n := int(r)
	if n == 0 {
		if timeout == 0 {
			return 0, nil
		}
		var err error
		if n, err = p.block(buf, timeout); err != nil || n == 0 {
			return 0, err
		}
	}
	return dropWake(buf, n), nil
}

// Block is Wait without its first look, for a caller that has just looked
// with Wait(buf, 0) and found nothing; timeout must not be zero. It does
// not consult the fault hook: a test sees one wait per look-then-block.
func (p *Poller) Block(buf []Event, timeout time.Duration) (int, error) {
	n, err := p.block(buf, timeout)
	if err != nil || n == 0 {
		return 0, err
	}
	return dropWake(buf, n), nil
}

// dropWake removes the wake eventfd's event, if the kernel reported it,
// from the first n events of buf, keeping the others in the kernel's order,
// and returns how many are left. The kernel reports a descriptor at most
// once per batch.
func dropWake(buf []Event, n int) int {
	b := buf[:n:n]
	for i := range b {
		if b[i].KeyLo == ^uint32(0) && b[i].KeyHi == ^uint32(0) { // wakeKey
			copy(b[i:], b[i+1:])
			return n - 1
		}
	}
	return n
}

// block waits for timeout (negative: no limit) after Wait's look found
// nothing.
func (p *Poller) block(raw []Event, timeout time.Duration) (int, error) {
	var n int
	var errno syscall.Errno
	if p.netpoll {
		p.tryRaw = raw
		err := p.pk.park(timeout, p.tryFn)
		n, errno = p.tryN, p.tryErr
		p.tryN, p.tryErr, p.tryRaw = 0, 0, nil
		if err != nil {
			return 0, err
		}
	} else {
		// Let a goroutine that the callbacks just made ready run before
		// this thread blocks in the kernel: it sits on this thread's P,
		// which a blocked thread keeps from it until sysmon retakes it.
		runtime.Gosched()
		n, errno = p.wait(raw, timeout)
	}
	if errno != 0 {
		return 0, waitError(errno)
	}
	return n, nil
}

// waitError is Wait's error for errno.
func waitError(errno syscall.Errno) error {
	if errno == unix.EINTR {
		return ErrInterrupted
	}
	return os.NewSyscallError("epoll_wait", errno)
}

// wait blocks in the kernel for timeout (not zero; negative: no limit).
func (p *Poller) wait(raw []Event, timeout time.Duration) (int, syscall.Errno) {
	ptr := uintptr(unsafe.Pointer(&raw[0]))
	if timeout > 0 && p.pwait2 {
		ts := kernelTimespec{int64(timeout / time.Second), int64(timeout % time.Second)}
		n, _, e := syscall.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), ptr, uintptr(len(raw)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e != unix.ENOSYS {
			return int(n), e
		}
		p.pwait2 = false
	}
	msec := -1
	if timeout > 0 {
		msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
		if timeout >= time.Duration(1<<31-1)*time.Millisecond {
			msec = 1<<31 - 1
		}
	}
	n, _, e := syscall.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), ptr, uintptr(len(raw)), uintptr(msec), 0, 0)
	return int(n), e
}

// kernelTimespec is struct __kernel_timespec, the timeout of epoll_pwait2:
// 64-bit fields on every architecture, where unix.Timespec has 32-bit ones
// on 32-bit systems (the kernel would read a 5ms timeout there as a wait of
// about 680 years).
type kernelTimespec struct{ sec, nsec int64 }

// wakeOne is the 8 bytes a Wake writes to the eventfd: the counter value 1
// in the machine's byte order. The counter is never read, so it must grow by
// one per Wake: [8]byte{1} is 2^56 on a big-endian system, which fills the
// counter within 256 wakes; later writes fail with EAGAIN and, the eventfd
// being edge-triggered, wake nothing.
var wakeOne = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

// Wake makes a blocked or future Wait return. Safe from any goroutine.
func (p *Poller) Wake() error {
	for {
		_, err := unix.Write(p.wakefd, wakeOne[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: the counter is full, the fd is readable anyway
			return nil
		case unix.EINTR:
			continue
		default:
			return os.NewSyscallError("write", err)
		}
	}
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	p.pk.close()
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}
