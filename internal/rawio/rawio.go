// Package rawio reads and writes ready non-blocking descriptors with as
// little runtime bookkeeping as the system allows. On Linux, in builds
// without the race detector, Read and Write are raw system calls: the
// calling goroutine keeps its P and the runtime's entersyscall/exitsyscall
// are skipped. On the other Unix systems (where Go reaches the kernel
// through libc, or where the raw path is not tested) and under the race
// detector (whose happens-before edges for I/O live in the x/sys wrappers)
// they are the ordinary x/sys calls. Elsewhere they fail with an error
// wrapping errors.ErrUnsupported.
//
// On every system the contract is the same: at most MaxChunk bytes per call,
// EINTR retried, any other failure returned as the system's raw errno (a
// syscall.Errno) with a count of 0, and a descriptor number outside the
// kernel's range reported as EBADF instead of being truncated into another
// descriptor's number.
package rawio

// MaxChunk is the most bytes one Read or Write transfers: it bounds the
// time a raw call spends copying, during which the runtime cannot stop the
// goroutine (a garbage collection's stop-the-world waits for it).
const MaxChunk = 256 << 10

// maxFD is the largest descriptor number the kernel's int argument holds.
const maxFD = 1<<31 - 1

func clip(p []byte) []byte {
	if len(p) > MaxChunk {
		return p[:MaxChunk]
	}
	return p
}
