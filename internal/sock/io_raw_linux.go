//go:build linux && calloop_rawsock && !race

package sock

// With -tags calloop_rawsock and without -race (diagnostics, for
// measurements only: see io.go), a connection's reads and writes are raw
// system calls, without the scheduler's entersyscall/exitsyscall. Socket
// buffers bound each copy.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func read(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func write(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWritev(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func writev(fd int, a, b []byte) (int, error) {
	var iov [2]unix.Iovec
	k := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			iov[k].Base = unsafe.SliceData(p)
			iov[k].SetLen(len(p))
			k++
		}
	}
	return rawWritev(fd, iov[:k])
}

func writevN(fd int, bufs [][]byte) (int, error) {
	var iov [16]unix.Iovec
	k := 0
	for _, p := range bufs {
		if len(p) == 0 {
			continue
		}
		if k == len(iov) {
			break
		}
		iov[k].Base = unsafe.SliceData(p)
		iov[k].SetLen(len(p))
		k++
	}
	return rawWritev(fd, iov[:k])
}
