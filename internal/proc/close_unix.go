//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package proc

import "golang.org/x/sys/unix"

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }
