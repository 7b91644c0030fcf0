//go:build darwin || openbsd

package sock

import "golang.org/x/sys/unix"

// On macOS and OpenBSD system calls go through libc (x/sys does it).

func read(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func write(fd int, p []byte) (int, error) { return unix.Write(fd, p) }

func writev(fd int, a, b []byte) (int, error) {
	return unix.Writev(fd, [][]byte{a, b})
}
