//go:build (linux && (!calloop_rawsock || race)) || darwin || openbsd

package sock

import "golang.org/x/sys/unix"

func writev(fd int, a, b []byte) (int, error) {
	return unix.Writev(fd, [][]byte{a, b})
}

func writevN(fd int, iov [][]byte) (int, error) { return unix.Writev(fd, iov) }
