package calloop

import "github.com/calloop-go/calloop/internal/rawio"

// MaxFDChunk is the most bytes one [ReadFD] or [WriteFD] call transfers.
const MaxFDChunk = rawio.MaxChunk

// ReadFD reads up to len(p) bytes from the non-blocking descriptor fd with
// one read(2), for a callback that was just told fd is [Readable]. It is
// the cheapest way to read a ready descriptor: on Linux it is a raw system
// call, without the Go scheduler's bookkeeping around an ordinary one
// (entersyscall/exitsyscall), which is a large part of the user-space work
// of a loop that does small reads and writes. The system calls themselves
// are the same. It may be called from any goroutine, and it allocates
// nothing.
//
// fd must be non-blocking (O_NONBLOCK: a socket, pipe, eventfd or terminal
// made non-blocking). A raw call that blocks keeps its goroutine's P: the
// runtime cannot run other goroutines there, and a garbage collection's
// stop-the-world, and with it every goroutine of the process, waits until
// the call returns. Regular files ignore O_NONBLOCK and may wait for the
// disk: read them with the os package. ReadFD does not check the flag (that
// would cost a system call); [Loop.AddFD]'s callers set it when they create the
// descriptor (SOCK_NONBLOCK, O_NONBLOCK, unix.SetNonblock).
//
// At most [MaxFDChunk] bytes are read per call, which bounds the time the
// runtime cannot preempt it; like any read of a non-blocking descriptor,
// the count may be short. It returns n > 0 and a nil error for data, 0 and
// nil at end of file, and 0 and the system's error otherwise, as a
// syscall.Errno (the same value as golang.org/x/sys/unix's constants):
// unix.EAGAIN (equal to unix.EWOULDBLOCK) when nothing is there to read,
// unix.EBADF for a closed or negative descriptor or one beyond the kernel's
// range. EINTR is retried. A p of length 0 still makes the call (a closed
// descriptor is reported): for a socket or pipe it returns 0 and nil, which
// then does not mean end of file; a descriptor read in fixed units (an
// eventfd's 8-byte counter) fails with unix.EINVAL for a p shorter than the
// unit, a zero-length one included, as read(2) does.
//
// Built with the race detector, and on the kqueue systems (macOS and
// OpenBSD, where Go calls the kernel through libc, and the other BSDs), it
// is the ordinary unix.Read with the same contract. On systems without a poller (where [New] fails) it returns an
// error wrapping errors.ErrUnsupported.
func ReadFD(fd int, p []byte) (int, error) { return rawio.Read(fd, p) }

// WriteFD writes up to len(p) bytes of p to the non-blocking descriptor fd
// with one write(2), for a callback that was just told fd is [Writable] (or
// that writes a small reply it expects the socket buffer to take). It is the
// write side of [ReadFD], with the same contract: non-blocking descriptors
// only, a raw system call on Linux, at most [MaxFDChunk] bytes per call,
// EINTR retried, no allocation. The count may be short: write the rest
// when fd is writable again. It returns 0 and unix.EAGAIN when the
// descriptor cannot take any byte now, unix.EPIPE when the reading side is
// gone (the SIGPIPE that comes with it does not kill the program: Go
// ignores it for descriptors other than 1 and 2, or delivers it to a
// channel given to signal.Notify), and unix.EBADF for a closed or invalid
// descriptor.
func WriteFD(fd int, p []byte) (int, error) { return rawio.Write(fd, p) }
