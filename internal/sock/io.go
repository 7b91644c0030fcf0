//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sock

import "golang.org/x/sys/unix"

// Socket I/O goes through x/sys, that is through the scheduler's
// entersyscall/exitsyscall, although the descriptors are non-blocking.
// RawSyscall was measured and rejected: with the loop parked in the runtime
// netpoller between batches it halved tcp-echo throughput and tripled its
// p99 latency (the runtime no longer sees the loop in system calls, and
// sysmon sleeps up to 10 ms).

func read(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func write(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
