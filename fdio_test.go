//go:build linux

package calloop_test

import (
	"bytes"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

func TestReadWriteFDRoundTrip(t *testing.T) {
	a, b := socketPair(t)
	n, err := calloop.WriteFD(a.fd, []byte("hello"))
	if n != 5 || err != nil {
		t.Fatalf("WriteFD = %d, %v; want 5, nil", n, err)
	}
	buf := make([]byte, 16)
	n, err = calloop.ReadFD(b.fd, buf)
	if n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("ReadFD = %d, %v, %q; want 5, nil, hello", n, err, buf[:n])
	}
	// A short buffer takes what fits; the rest stays for the next read.
	writeFD(t, a, "abcdef")
	n, err = calloop.ReadFD(b.fd, buf[:4])
	if n != 4 || err != nil || string(buf[:4]) != "abcd" {
		t.Fatalf("short ReadFD = %d, %v, %q; want 4, nil, abcd", n, err, buf[:n])
	}
	if got := drainFD(b.fd); got != "ef" {
		t.Fatalf("left after the short read: %q, want ef", got)
	}
}

func TestReadFDEmptyIsEAGAIN(t *testing.T) {
	_, b := socketPair(t)
	n, err := calloop.ReadFD(b.fd, make([]byte, 8))
	if n != 0 || err != unix.EAGAIN {
		t.Fatalf("ReadFD on an empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	if err != unix.EWOULDBLOCK {
		t.Fatalf("EAGAIN %v is not EWOULDBLOCK", err)
	}
}

func TestWriteFDFullIsEAGAIN(t *testing.T) {
	a, _ := socketPair(t)
	chunk := make([]byte, 64<<10)
	total := 0
	for {
		n, err := calloop.WriteFD(a.fd, chunk)
		if err == unix.EAGAIN {
			if n != 0 {
				t.Fatalf("WriteFD returned %d bytes with EAGAIN", n)
			}
			break
		}
		if err != nil || n <= 0 {
			t.Fatalf("WriteFD = %d, %v while filling", n, err)
		}
		total += n
		if total > 1<<30 {
			t.Fatal("the socket took 1 GiB without filling up")
		}
	}
	if total == 0 {
		t.Fatal("the socket took nothing before EAGAIN")
	}
}

func TestReadFDEOF(t *testing.T) {
	a, b := socketPair(t)
	writeFD(t, a, "x")
	a.Close()
	buf := make([]byte, 8)
	if n, err := calloop.ReadFD(b.fd, buf); n != 1 || err != nil {
		t.Fatalf("ReadFD before EOF = %d, %v; want 1, nil", n, err)
	}
	for i := range 2 { // EOF stays EOF
		if n, err := calloop.ReadFD(b.fd, buf); n != 0 || err != nil {
			t.Fatalf("ReadFD at EOF (%d) = %d, %v; want 0, nil", i, n, err)
		}
	}
	if n, err := calloop.WriteFD(b.fd, []byte("y")); n != 0 || err != unix.EPIPE {
		t.Fatalf("WriteFD to a closed peer = %d, %v; want 0, EPIPE", n, err)
	}
}

func TestReadWriteFDBadDescriptor(t *testing.T) {
	a, b := socketPair(t)
	closed := b.fd
	b.Close()
	buf := make([]byte, 8)
	fds := []int{closed, -1, -1 << 31}
	if strconv.IntSize == 64 {
		// Numbers past the kernel's 32-bit argument must not be truncated
		// into a live descriptor's number: a has no data, but its peer
		// is closed, so a read of a itself would return EOF (0, nil), and
		// a write would fail with EPIPE.
		big := int64(a.fd) + 1<<32
		fds = append(fds, int(big), int(big|-1<<63))
	}
	for _, fd := range fds {
		if n, err := calloop.ReadFD(fd, buf); n != 0 || err != unix.EBADF {
			t.Errorf("ReadFD(%d) = %d, %v; want 0, EBADF", fd, n, err)
		}
		if n, err := calloop.WriteFD(fd, buf); n != 0 || err != unix.EBADF {
			t.Errorf("WriteFD(%d) = %d, %v; want 0, EBADF", fd, n, err)
		}
	}
}

func TestReadWriteFDZeroLength(t *testing.T) {
	a, b := socketPair(t)
	for _, p := range [][]byte{nil, {}, make([]byte, 4)[:0]} {
		if n, err := calloop.WriteFD(a.fd, p); n != 0 || err != nil {
			t.Errorf("WriteFD(len 0, nil=%v) = %d, %v; want 0, nil", p == nil, n, err)
		}
		if n, err := calloop.ReadFD(b.fd, p); n != 0 || err != nil {
			t.Errorf("ReadFD(len 0, nil=%v) on an empty socket = %d, %v; want 0, nil", p == nil, n, err)
		}
	}
	// Nothing was written: the socket is still empty, and data still flows.
	if n, err := calloop.ReadFD(b.fd, make([]byte, 4)); n != 0 || err != unix.EAGAIN {
		t.Fatalf("ReadFD after zero-length writes = %d, %v; want 0, EAGAIN", n, err)
	}
	// A closed descriptor is reported even for a zero-length buffer.
	closed := a.fd
	a.Close()
	if n, err := calloop.ReadFD(closed, nil); n != 0 || err != unix.EBADF {
		t.Fatalf("ReadFD(closed, nil) = %d, %v; want 0, EBADF", n, err)
	}
}

// A pipe enlarged to 1 MiB takes a 1 MiB write whole, so only the bound
// can make the counts short.
func TestReadWriteFDChunkBound(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := &testFD{p[0]}, &testFD{p[1]}
	t.Cleanup(func() { r.Close(); w.Close() })
	size, err := unix.FcntlInt(uintptr(w.fd), unix.F_SETPIPE_SZ, 1<<20)
	if err != nil || size < 1<<20 {
		t.Fatalf("F_SETPIPE_SZ 1 MiB: %d, %v", size, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	n, err := calloop.WriteFD(w.fd, big)
	if n != calloop.MaxFDChunk || err != nil {
		t.Fatalf("WriteFD of 1 MiB = %d, %v; want %d, nil", n, err, calloop.MaxFDChunk)
	}
	if n, err := calloop.WriteFD(w.fd, big[n:]); n != calloop.MaxFDChunk || err != nil {
		t.Fatalf("second WriteFD = %d, %v; want %d, nil", n, err, calloop.MaxFDChunk)
	}
	got := make([]byte, 1<<20)
	for i := range 2 {
		n, err := calloop.ReadFD(r.fd, got)
		if n != calloop.MaxFDChunk || err != nil {
			t.Fatalf("ReadFD %d with 512 KiB in the pipe = %d, %v; want %d, nil", i, n, err, calloop.MaxFDChunk)
		}
		if want := big[i*n : (i+1)*n]; !bytes.Equal(got[:n], want) {
			t.Fatalf("ReadFD %d returned the wrong bytes", i)
		}
	}
	if n, err := calloop.ReadFD(r.fd, got); n != 0 || err != unix.EAGAIN {
		t.Fatalf("ReadFD of the emptied pipe = %d, %v; want 0, EAGAIN", n, err)
	}
}

func TestReadWriteFDAllocateNothing(t *testing.T) {
	a, b := socketPair(t)
	msg, buf := []byte("ping"), make([]byte, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		if n, err := calloop.WriteFD(a.fd, msg); n != 4 || err != nil {
			t.Fatalf("WriteFD = %d, %v", n, err)
		}
		if n, err := calloop.ReadFD(b.fd, buf); n != 4 || err != nil {
			t.Fatalf("ReadFD = %d, %v", n, err)
		}
		if _, err := calloop.ReadFD(b.fd, buf); err != unix.EAGAIN {
			t.Fatalf("ReadFD of the empty socket: %v", err)
		}
		if _, err := calloop.ReadFD(-1, buf); err != unix.EBADF {
			t.Fatalf("ReadFD(-1): %v", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read, want 0", allocs)
	}
}

// ReadFD and WriteFD in the callbacks of a loop, the use they are made for:
// a thousand one-byte round trips between the two ends of a socketpair.
func TestReadWriteFDInCallbacks(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		type state struct{ trips, fails int }
		l := newLoop[state](t, opts...)
		a, b := socketPair(t)
		var buf [4]byte
		echo := func(fd int, count bool) func(s *state, _ calloop.Events) calloop.Action {
			return func(s *state, _ calloop.Events) calloop.Action {
				n, err := calloop.ReadFD(fd, buf[:])
				if err == unix.EAGAIN {
					return calloop.Continue
				}
				if n != 1 || err != nil {
					s.fails++
					return calloop.Remove
				}
				if count {
					if s.trips++; s.trips == 1000 {
						return calloop.Continue
					}
				}
				if n, err := calloop.WriteFD(fd, buf[:1]); n != 1 || err != nil {
					s.fails++
				}
				return calloop.Continue
			}
		}
		_, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, echo(a.fd, true))
		must(t, err)
		_, err = l.AddFD(b.fd, calloop.Readable, calloop.Level, echo(b.fd, false))
		must(t, err)
		writeFD(t, a, "x")
		var s state
		dispatchUntil(t, l, &s, func() bool { return s.trips == 1000 || s.fails > 0 })
		if s.fails != 0 || s.trips != 1000 {
			t.Fatalf("%d round trips, %d failures; want 1000, 0", s.trips, s.fails)
		}
	})
}

// A descriptor read in fixed units (an eventfd's 8-byte counter) fails with
// EINVAL for a shorter p, a zero-length one included, as read(2) does: the
// 0, nil of a zero-length read is a socket's or pipe's.
func TestReadFDShortOfUnit(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if n, err := calloop.WriteFD(fd, one); n != 8 || err != nil {
		t.Fatalf("WriteFD(eventfd) = %d, %v", n, err)
	}
	for _, p := range [][]byte{nil, make([]byte, 4)} {
		if n, err := calloop.ReadFD(fd, p); n != 0 || err != unix.EINVAL {
			t.Errorf("ReadFD(eventfd, len %d) = %d, %v; want 0, EINVAL", len(p), n, err)
		}
	}
	if n, err := calloop.ReadFD(fd, make([]byte, 8)); n != 8 || err != nil {
		t.Fatalf("ReadFD(eventfd, len 8) = %d, %v", n, err)
	}
}
