//go:build (linux && race) || darwin || dragonfly || freebsd || netbsd || openbsd

package rawio

import "golang.org/x/sys/unix"

// Raw reports whether Read and Write are raw system calls in this build.
const Raw = false

// Read reads into p from fd with unix.Read (retried on EINTR).
func Read(fd int, p []byte) (int, error) {
	if uint(fd) > maxFD {
		return 0, unix.EBADF
	}
	p = clip(p)
	for {
		n, err := unix.Read(fd, p)
		if err == nil {
			return n, nil
		}
		if err != unix.EINTR {
			return 0, err
		}
	}
}

// Write writes p to fd with unix.Write (retried on EINTR).
func Write(fd int, p []byte) (int, error) {
	if uint(fd) > maxFD {
		return 0, unix.EBADF
	}
	p = clip(p)
	for {
		n, err := unix.Write(fd, p)
		if err == nil {
			return n, nil
		}
		if err != unix.EINTR {
			return 0, err
		}
	}
}
