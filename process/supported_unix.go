//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package process

const supported = true
