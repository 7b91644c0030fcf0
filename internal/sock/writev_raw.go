//go:build linux || dragonfly || freebsd || netbsd

package sock

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writev is writev(2) with two buffers and its iovecs on the stack.
func writev(fd int, a, b []byte) (int, error) {
	var iov [2]unix.Iovec
	n := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			iov[n].Base = &p[0]
			iov[n].SetLen(len(p))
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	r, _, e := syscall.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
