//go:build linux && !race

package rawio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw reports whether Read and Write are raw system calls in this build.
const Raw = true

// Read reads into p from fd with one raw read(2) (retried on EINTR).
func Read(fd int, p []byte) (int, error) {
	if uint(fd) > maxFD {
		return 0, unix.EBADF
	}
	p = clip(p)
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}

// Write writes p to fd with one raw write(2) (retried on EINTR).
func Write(fd int, p []byte) (int, error) {
	if uint(fd) > maxFD {
		return 0, unix.EBADF
	}
	p = clip(p)
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == 0 {
			return int(n), nil
		}
		if e != unix.EINTR {
			return 0, e
		}
	}
}
