package poller

import (
	"os"
	"sync/atomic"
	"syscall"
)

// Op names a poller call for fault injection.
type Op uint8

const (
	OpWait Op = iota // epoll_wait, kevent (waiting)
	OpCtl            // epoll_ctl, kevent (changes)
)

// FaultHook, when set, is consulted before each Wait and each registration
// change; a non-zero errno it returns is reported as if the kernel had
// failed the call with it (EINTR from a wait as ErrInterrupted). For tests
// only: production code never sets it, and the check is one atomic load.
var faultHook atomic.Pointer[func(Op) syscall.Errno]

// SetFaultHook installs (or, with nil, removes) the fault hook.
func SetFaultHook(h func(Op) syscall.Errno) {
	if h == nil {
		faultHook.Store(nil)
		return
	}
	faultHook.Store(&h)
}

// fault returns the injected error for op, if any.
func fault(op Op) error {
	h := faultHook.Load()
	if h == nil {
		return nil
	}
	e := (*h)(op)
	if e == 0 {
		return nil
	}
	if op == OpWait && e == syscall.EINTR {
		return ErrInterrupted
	}
	name := "epoll_ctl"
	if op == OpWait {
		name = "epoll_wait"
	}
	return os.NewSyscallError(name, e)
}
