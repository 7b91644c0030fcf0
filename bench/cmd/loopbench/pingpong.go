package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/calloop-go/calloop"
	"golang.org/x/sys/unix"
)

// ping-pong: a second goroutine wakes the loop with a calloop Ping; the ping's
// callback answers on a plain blocking eventfd, which the goroutine reads
// before the next ping. This mirrors the anchors, which all answer on a
// blocking eventfd, so that only the wakeup source differs. Time is taken in
// the pinging goroutine, first ping to last answer.
//
// With -answer=chan (diagnostics, not the shared workload) the loop answers
// on an unbuffered Go channel instead, so that the pinging goroutine never
// blocks its thread in a system call.
func pingPong(n uint64) (result, error) {
	if pingAnswer == "chan" {
		return pingPongChan(n)
	}
	type state struct{ count uint64 }

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()

	answer, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking
	if err != nil {
		return result{}, fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(answer)

	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	var cbErr error
	p, err := calloop.NewPing(l, func(s *state) {
		s.count++
		if err := efdWrite(answer, one[:]); err != nil {
			cbErr = err
			l.Stop()
			return
		}
		if s.count == n {
			l.Stop()
		}
	})
	if err != nil {
		return result{}, err
	}

	var elapsed time.Duration
	errc := make(chan error, 1)
	go func() {
		var buf [8]byte
		t0 := time.Now()
		for i := uint64(0); i < n; i++ {
			p.Ping()
			if err := efdRead(answer, buf[:]); err != nil {
				errc <- err
				return
			}
			if v := binary.NativeEndian.Uint64(buf[:]); v != 1 {
				errc <- fmt.Errorf("round trip %d got answer %d (want 1)", i, v)
				return
			}
		}
		elapsed = time.Since(t0)
		errc <- nil
	}()

	var s state
	if err := l.Run(context.Background(), &s); err != nil {
		return result{}, err
	}
	if err := <-errc; err != nil {
		return result{}, err
	}
	if cbErr != nil {
		return result{}, cbErr
	}
	if s.count != n {
		return result{}, fmt.Errorf("loop saw %d pings, want %d", s.count, n)
	}
	return result{ops: n, elapsed: elapsed}, nil
}

func efdWrite(fd int, b []byte) error {
	for {
		_, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

func efdRead(fd int, b []byte) error {
	for {
		_, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

// pingAnswer is set by loopbench's -answer flag.
var pingAnswer = "eventfd"

// pingPongChan is ping-pong answered on a Go channel (-answer=chan).
func pingPongChan(n uint64) (result, error) {
	type state struct{ count uint64 }

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()

	answer := make(chan uint64)
	p, err := calloop.NewPing(l, func(s *state) {
		s.count++
		answer <- s.count
		if s.count == n {
			l.Stop()
		}
	})
	if err != nil {
		return result{}, err
	}

	var elapsed time.Duration
	errc := make(chan error, 1)
	go func() {
		t0 := time.Now()
		for i := uint64(1); i <= n; i++ {
			p.Ping()
			if v := <-answer; v != i {
				errc <- fmt.Errorf("round trip %d got answer %d", i, v)
				l.Stop()
				return
			}
		}
		elapsed = time.Since(t0)
		errc <- nil
	}()

	var s state
	if err := l.Run(context.Background(), &s); err != nil {
		return result{}, err
	}
	if err := <-errc; err != nil {
		return result{}, err
	}
	if s.count != n {
		return result{}, fmt.Errorf("loop saw %d pings, want %d", s.count, n)
	}
	return result{ops: n, elapsed: elapsed}, nil
}
