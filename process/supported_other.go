//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package process

// Elsewhere Start fails with an error wrapping errors.ErrUnsupported.
const supported = false
