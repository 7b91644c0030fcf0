//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package proc

import "errors"

// ExitFD is not available on this system.
func ExitFD(pid int) (fd int, exited bool, err error) {
	return -1, false, errors.ErrUnsupported
}

// Pipe is not available on this system.
func Pipe() (r, w int, err error) { return -1, -1, errors.ErrUnsupported }

// Close is not available on this system.
func Close(fd int) error { return errors.ErrUnsupported }
