package main

import (
	"context"
	"fmt"
	"time"

	"github.com/calloop-go/calloop"
	"golang.org/x/sys/unix"
)

// fdRead and fdWrite are the callbacks' read(2) and write(2): by default
// calloop.ReadFD and calloop.WriteFD, the library's fastest safe way to read
// and write a ready non-blocking descriptor (raw system calls on Linux), as a
// user after speed would write them; with loopbench -io unix, unix.Read and
// unix.Write (through the Go scheduler's entersyscall/exitsyscall).
var (
	fdRead  = calloop.ReadFD
	fdWrite = calloop.WriteFD
)

// fd-pingpong: one non-blocking AF_UNIX socketpair (a, b), both ends added
// with AddFD for read readiness, level-triggered. One byte is written to a;
// b's callback reads it and writes one byte back; a's callback reads that and
// writes again, until N round trips. Round trips and bytes are checked.
func fdPingPong(n uint64) (result, error) { return fdPingPongRun(n, 0) }

// fdPingPongRun is fd-pingpong with idlePairs further socketpairs registered
// (both ends), which must never fire (many-sources).
func fdPingPongRun(n uint64, idlePairs int) (result, error) {
	type state struct {
		count, bBytes, idleHits uint64
	}

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()

	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	pair := func() (int, int, error) {
		sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("socketpair: %w", err)
		}
		fds = append(fds, sv[0], sv[1])
		return sv[0], sv[1], nil
	}

	idle := func(s *state, _ calloop.Events) calloop.Action {
		s.idleHits++
		return calloop.Continue
	}
	for range idlePairs {
		x, y, err := pair()
		if err != nil {
			return result{}, err
		}
		if _, err := l.AddFD(x, calloop.Readable, calloop.Level, idle); err != nil {
			return result{}, err
		}
		if _, err := l.AddFD(y, calloop.Readable, calloop.Level, idle); err != nil {
			return result{}, err
		}
	}

	a, b, err := pair()
	if err != nil {
		return result{}, err
	}
	var failure error
	fail := func(err error) calloop.Action {
		if failure == nil {
			failure = err
		}
		l.Stop()
		return calloop.Remove
	}
	ping, pong := []byte{1}, []byte{2}
	var buf [16]byte
	if _, err := l.AddFD(b, calloop.Readable, calloop.Level, func(s *state, _ calloop.Events) calloop.Action {
		k, err := fdRead(b, buf[:])
		if err == unix.EAGAIN {
			return calloop.Continue
		}
		if k != 1 {
			return fail(fmt.Errorf("b read %d bytes (%v), want 1", k, err))
		}
		s.bBytes++
		if _, err := fdWrite(b, pong); err != nil {
			return fail(fmt.Errorf("write b: %w", err))
		}
		return calloop.Continue
	}); err != nil {
		return result{}, err
	}
	if _, err := l.AddFD(a, calloop.Readable, calloop.Level, func(s *state, _ calloop.Events) calloop.Action {
		k, err := fdRead(a, buf[:])
		if err == unix.EAGAIN {
			return calloop.Continue
		}
		if k != 1 {
			return fail(fmt.Errorf("a read %d bytes (%v), want 1", k, err))
		}
		s.count++
		if s.count == n {
			l.Stop()
			return calloop.Continue
		}
		if _, err := fdWrite(a, ping); err != nil {
			return fail(fmt.Errorf("write a: %w", err))
		}
		return calloop.Continue
	}); err != nil {
		return result{}, err
	}

	var s state
	cpu0 := cpuTime()
	t0 := time.Now()
	if _, err := unix.Write(a, ping); err != nil {
		return result{}, fmt.Errorf("first write: %w", err)
	}
	if err := l.Run(context.Background(), &s); err != nil {
		return result{}, err
	}
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0

	if failure != nil {
		return result{}, failure
	}
	if s.count != n || s.bBytes != n {
		return result{}, fmt.Errorf("%d round trips, %d bytes at b, want %d", s.count, s.bBytes, n)
	}
	if s.idleHits != 0 {
		return result{}, fmt.Errorf("idle sources fired %d times", s.idleHits)
	}
	return result{ops: n, elapsed: elapsed, cpu: cpu}, nil
}
