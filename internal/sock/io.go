//go:build (linux && (!calloop_rawsock || race)) || darwin || dragonfly || freebsd || netbsd || openbsd

package sock

import "golang.org/x/sys/unix"

// Socket I/O goes through x/sys, that is through the scheduler's
// entersyscall/exitsyscall, although the descriptors are non-blocking.
//
// Raw system calls were measured twice. With the loop parked in the runtime
// netpoller between batches (then the default) they halved tcp-echo
// throughput and tripled its p99 latency. Measured again on 2026-12-06 with
// the loop blocking in epoll_wait by default (bench/results/fdpath-2026-12-06.md:
// build with -tags calloop_rawsock for the raw variant, io_raw_linux.go),
// they were not faster: in alternated rounds, tcp-echo gave more requests
// per second in 1 of 8 rounds unpinned and 2 of 4 with the server pinned
// (CPU per request lower in some sets, higher in another), and the
// package's EchoTCP64 benchmark was faster in 0 of 4 and then 3 of 4, all
// on a machine shared with other work. In netpoller mode they were no longer worse (more
// requests in 3 of 4 rounds, a lower p99 in 4 of 4). Until a quiet machine
// shows a gain in the default mode, the package keeps the ordinary calls;
// callers of calloop.ReadFD/WriteFD choose the raw path themselves.

func read(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func write(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
