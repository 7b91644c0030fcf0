//go:build linux

package poller

import (
	"errors"
	"go/build"
	"os"
	"testing"
	"time"

	"github.com/calloop-go/calloop/internal/leakcheck"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// TestReadiness: the table-driven translation of epoll's bits agrees with
// the definition, bit by bit, for every combination of the bits it reads
// and with unrelated bits set.
func TestReadiness(t *testing.T) {
	want := func(e uint32) Events {
		var r Events
		if e&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
			r |= Readable
		}
		if e&unix.EPOLLOUT != 0 {
			r |= Writable
		}
		if e&unix.EPOLLERR != 0 {
			r |= Error
		}
		if e&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			r |= Hangup
		}
		return r
	}
	for e := range uint32(1 << 16) {
		for _, extra := range []uint32{0, unix.EPOLLET, unix.EPOLLONESHOT, 1 << 31} {
			if got, w := readiness(e|extra), want(e|extra); got != w {
				t.Fatalf("readiness(%#x) = %04b, want %04b", e|extra, got, w)
			}
		}
	}
}

// TestWaitLookThenBlock: Wait(buf, 0) never blocks; Block after it waits
// for an event or the timeout; the wake eventfd is never reported, by
// either.
func TestWaitLookThenBlock(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var sv [2]int
	if sv, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sv[0])
	defer unix.Close(sv[1])
	if err := p.Add(sv[0], 42, Readable, Level); err != nil {
		t.Fatal(err)
	}
	buf := make([]Event, 4)
	if n, err := p.Wait(buf, 0); n != 0 || err != nil {
		t.Fatalf("Wait(0) on a quiet poller = %d, %v", n, err)
	}
	start := time.Now()
	if n, err := p.Block(buf, 20*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("Block(20ms) on a quiet poller = %d, %v", n, err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("Block(20ms) returned after %v", el)
	}
	// A wake alone: Wait(0) consumes it and reports nothing.
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Wait(buf, 0); n != 0 || err != nil {
		t.Fatalf("Wait(0) after Wake = %d, %v, want 0 events", n, err)
	}
	// A wake and an event: only the event is reported, by Block too.
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(sv[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	n, err := p.Block(buf, -1)
	if err != nil || n != 1 || buf[0].Key() != 42 || buf[0].Ready() != Readable {
		t.Fatalf("Block(-1) = %d %v %+v, want the one readable event", n, err, buf[:n])
	}
	n, err = p.Wait(buf, 0)
	if err != nil || n != 1 || buf[0].Key() != 42 || buf[0].Ready() != Readable {
		t.Fatalf("Wait(0) = %d %v %+v, want the level-triggered event again", n, err, buf[:n])
	}
}

// TestBlockTimeoutExpires: a Block with a short timeout on a quiet poller
// returns once the timeout has passed, on every architecture (epoll_pwait2
// reads its timeout as 64-bit fields, 32-bit systems included). A Block
// still waiting after a generous deadline is released with a wake and
// fails the test.
func TestBlockTimeoutExpires(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, d := range []time.Duration{time.Nanosecond, 5 * time.Millisecond, 1500 * time.Millisecond} {
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			buf := make([]Event, 4)
			n, err := p.Block(buf, d)
			if err == nil && n != 0 {
				err = errors.New("events on a quiet poller")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Block(%v): %v", d, err)
			}
			if el := time.Since(start); el < d {
				t.Fatalf("Block(%v) returned after %v", d, el)
			}
		case <-time.After(d + 10*time.Second):
			p.Wake()
			<-done
			t.Fatalf("Block(%v) on a quiet poller still waiting after %v", d, d+10*time.Second)
		}
	}
}

// TestWakeNeverWearsOut: every Wake makes a Block return, however many
// came before. The wake eventfd is never read, so each Wake must add one to
// its counter in the machine's byte order: a 1 written in the wrong order
// (2^56 on a big-endian system) fills the counter within 256 wakes, after
// which a write fails with EAGAIN, the edge-triggered eventfd reports
// nothing, and a sleeping loop is never woken.
func TestWakeNeverWearsOut(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	buf := make([]Event, 4)
	const limit = 10 * time.Second
	for i := range 1000 {
		if err := p.Wake(); err != nil {
			t.Fatalf("Wake %d: %v", i, err)
		}
		start := time.Now()
		if n, err := p.Block(buf, limit); n != 0 || err != nil {
			t.Fatalf("Block after Wake %d = %d, %v", i, n, err)
		}
		if el := time.Since(start); el >= limit {
			t.Fatalf("Wake %d did not end a Block: it timed out after %v", i, el)
		}
	}
}

// TestLookSyscallPerTarget: Wait's non-blocking look uses epoll_wait only
// where it may (look_amd64.go: Linux on amd64) and epoll_pwait everywhere
// else (look_other.go), Android on amd64 included: Android's seccomp
// policy for apps on x86-64 kills a process that calls epoll_wait. Exactly
// one of the two files is in each build.
func TestLookSyscallPerTarget(t *testing.T) {
	for _, c := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "look_amd64.go"},
		{"android", "amd64", "look_other.go"},
		{"linux", "arm64", "look_other.go"},
		{"android", "arm64", "look_other.go"},
		{"linux", "386", "look_other.go"},
		{"android", "386", "look_other.go"},
		{"linux", "riscv64", "look_other.go"},
	} {
		ctx := build.Default
		ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = c.goos, c.goarch, false
		var in []string
		for _, f := range []string{"look_amd64.go", "look_other.go"} {
			ok, err := ctx.MatchFile(".", f)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				in = append(in, f)
			}
		}
		if len(in) != 1 || in[0] != c.want {
			t.Errorf("%s/%s builds with %v, want only %s", c.goos, c.goarch, in, c.want)
		}
	}
}
