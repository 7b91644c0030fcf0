//go:build linux || dragonfly || freebsd || netbsd || openbsd

package sock

import "golang.org/x/sys/unix"

func sysSocket(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}
