package stream_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Running out of descriptors pauses accepting with a growing back-off
// instead of retrying at once (which would spin on a level-triggered
// listener); once descriptors are free again the connection is accepted.
func TestAcceptEMFILEBackoff(t *testing.T) {
	var attempts, emfile atomic.Int64
	stream.SetAcceptTrace(func(err error) {
		attempts.Add(1)
		if errors.Is(err, syscall.EMFILE) {
			emfile.Add(1)
		}
	})
	defer stream.SetAcceptTrace(nil)

	var st echoState
	var ln *stream.Listener[echoState]
	e := start(t, &st, func(l *calloop.Loop[echoState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
	})

	// Lower the descriptor limit and use up what is left of it, keeping
	// one descriptor for the client.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(openFDs(t) + 20)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	var filler []int
	release := func() {
		for _, fd := range filler {
			syscall.Close(fd)
		}
		filler = nil
	}
	defer release()
	for {
		fd, err := syscall.Dup(0)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		filler = append(filler, fd)
	}
	syscall.Close(filler[len(filler)-1])
	filler = filler[:len(filler)-1]
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The listener fails three times: at once, then after 10 ms, 20 ms.
	e.waitFor("three EMFILE", func(*echoState) bool { return emfile.Load() >= 3 })
	if a, m := attempts.Load(), emfile.Load(); a > m+1 {
		t.Errorf("%d accept calls for %d EMFILE failures: not backing off", a, m)
	}
	// The back-off timer is a child of the listener's source.
	var tm calloop.Token
	e.waitFor("a back-off timer", func(*echoState) bool { tm = ln.BackoffTimer(); return !tm.IsZero() })
	e.do(func(*echoState) {
		if p, ok, err := e.l.Parent(tm); err == nil && (!ok || p != ln.Token()) {
			t.Errorf("Parent(back-off timer) = %v %v, want the listener %v", p, ok, ln.Token())
		}
	})
	release()
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	e.waitFor("accepted", func(s *echoState) bool { return s.opened == 1 })
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	t.Logf("%d accept calls, %d EMFILE", attempts.Load(), emfile.Load())
	e.do(func(*echoState) { ln.Close() })
}
