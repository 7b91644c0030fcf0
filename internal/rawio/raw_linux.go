//go:build linux && !race

package rawio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw reports whether Read and Write are raw system calls in this build.
const Raw = true

// Read reads into p from fd with one raw read(2) (retried on EINTR).
func Read(fd int, p []byte) (int, error) { return rw(unix.SYS_READ, fd, p) }

// Write writes p to fd with one raw write(2) (retried on EINTR).
func Write(fd int, p []byte) (int, error) { return rw(unix.SYS_WRITE, fd, p) }

// rw is read(2) or write(2) (trap) as a raw system call, retried on
// EINTR. It calls syscall.RawSyscall6 itself: unix.RawSyscall reaches it
// through an assembly jump, an ABI wrapper and syscall.RawSyscall, about
// half of the instructions of a call.
func rw(trap uintptr, fd int, p []byte) (int, error) {
	if uint(fd) > maxFD {
		return 0, unix.EBADF
	}
	p = clip(p)
	for {
		n, _, e := syscall.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, 0, 0)
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}
