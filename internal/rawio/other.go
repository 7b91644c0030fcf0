//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package rawio

import (
	"errors"
	"fmt"
	"runtime"
)

// Raw reports whether Read and Write are raw system calls in this build.
const Raw = false

var errUnsupported = fmt.Errorf("calloop: no descriptor I/O on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Read fails with an error wrapping errors.ErrUnsupported.
func Read(fd int, p []byte) (int, error) { return 0, errUnsupported }

// Write fails with an error wrapping errors.ErrUnsupported.
func Write(fd int, p []byte) (int, error) { return 0, errUnsupported }
