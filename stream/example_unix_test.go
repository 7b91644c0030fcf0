//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import "golang.org/x/sys/unix"

func dupCloexec(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}
