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
// only: production code never sets it, and the check (fault, inlined) is one
// atomic load, a plain load on the common architectures.
var faultHook atomic.Pointer[func(Op) syscall.Errno]

// SetFaultHook installs (or, with nil, removes) the fault hook.
func SetFaultHook(h func(Op) syscall.Errno) {
	if h == nil {
		faultHook.Store(nil)
		return
	}
	faultHook.Store(&h)
}

// fault returns the injected error for op, if any. It is small enough to be
// inlined: without a hook it costs one load and one untaken branch.
func fault(op Op) error {
	if faultHook.Load() == nil {
		return nil
	}
	return injected(op)
}

// injected calls the fault hook (set by a test) for op.
func injected(op Op) error {
	h := faultHook.Load()
	if h == nil {
		return nil // removed meanwhile
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
