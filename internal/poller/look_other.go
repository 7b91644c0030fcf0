//go:build linux && (!amd64 || android)

package poller

import "golang.org/x/sys/unix"

// sysLook is the system call of Wait's non-blocking look (see look_amd64.go).
const sysLook = unix.SYS_EPOLL_PWAIT
