//go:build linux || dragonfly || freebsd || netbsd || openbsd

package dgram

import (
	"os"

	"golang.org/x/sys/unix"
)

func socket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}
