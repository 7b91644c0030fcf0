//go:build linux && amd64 && !android

package poller

import "golang.org/x/sys/unix"

// sysLook is the system call of Wait's non-blocking look. On amd64 the
// kernel still has epoll_wait, whose entry is cheaper than epoll_pwait's
// with no signal mask (about 1% of a socket round trip of the fd-pingpong
// workload, perf); the newer architectures have only epoll_pwait. Not on
// Android: its seccomp policy for apps on x86-64 allows epoll_pwait only,
// and kills a process that calls epoll_wait (bionic's epoll_wait is
// epoll_pwait).
const sysLook = unix.SYS_EPOLL_WAIT
