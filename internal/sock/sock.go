// Package sock holds the socket system calls of package stream: creating,
// binding, connecting and accepting non-blocking stream sockets, and the
// read, write and shutdown calls of a connection. It is the only code of the
// networking layer that depends on the operating system: Linux and the
// kqueue family (macOS, FreeBSD, DragonFly BSD, NetBSD, OpenBSD) are
// implemented; elsewhere every function fails with errors.ErrUnsupported.
//
// Descriptors are plain ints, non-blocking and close-on-exec. Read, Write
// and Writev return the raw error of the system call (a syscall.Errno) so
// that callers can compare it cheaply; [IsAgain] and friends classify it.
package sock
