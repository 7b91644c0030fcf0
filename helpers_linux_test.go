//go:build linux

package calloop_test

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// testFD is a descriptor closed at the end of the test unless closed before.
type testFD struct{ fd int }

func (f *testFD) Close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// socketPair returns a connected non-blocking AF_UNIX stream socketpair.
func socketPair(t testing.TB) (a, b *testFD) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	a, b = &testFD{fds[0]}, &testFD{fds[1]}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// writeFD writes p to fd, failing the test on error.
func writeFD(t testing.TB, fd *testFD, p string) {
	t.Helper()
	if _, err := unix.Write(fd.fd, []byte(p)); err != nil {
		t.Fatalf("write fd %d: %v", fd.fd, err)
	}
}

// drainFD reads fd until EAGAIN and returns what it read.
func drainFD(fd int) string {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
			continue
		}
		if err == unix.EINTR {
			continue
		}
		return string(out)
	}
}

// countFDs returns the number of open descriptors of the process.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents) - 1 // the directory's own descriptor
}
