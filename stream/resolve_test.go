//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
	"go.uber.org/goleak"
)

// lookupOf returns a Lookup that answers addrs for every name.
func lookupOf(addrs ...string) func(context.Context, string, string) ([]netip.Addr, error) {
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	return func(context.Context, string, string) ([]netip.Addr, error) { return as, nil }
}

// A host name is resolved off the loop: while the resolver is slow the
// loop keeps running its timers, and the connection completes once the
// addresses arrive; data written meanwhile is sent.
func TestDialHostSlowResolver(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	port := strconv.Itoa(nl.Addr().(*net.TCPAddr).Port)
	release := make(chan struct{})
	var gotHost, gotNet atomic.Value
	dc := stream.DialConfig{Timeout: 20 * time.Second, Lookup: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		gotNet.Store(network)
		gotHost.Store(host)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	var st dialState
	ticks := 0
	var c *stream.Conn[dialState]
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		l.AddTimer(time.Millisecond, func(*dialState, time.Time) calloop.TimerAction {
			ticks++
			return calloop.Again(time.Millisecond)
		})
		c, err = stream.DialWith(l, "tcp", "calloop.test:"+port, dc, stream.Config{}, dialHandler())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("early")); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("the loop to run while resolving", func(s *dialState) bool { return ticks >= 20 })
	e.do(func(s *dialState) {
		if s.opened+s.closed != 0 {
			t.Fatalf("opened %d closed %d before the name resolved", s.opened, s.closed)
		}
		if c.RemoteAddr() != nil {
			t.Errorf("RemoteAddr %v before the connection", c.RemoteAddr())
		}
	})
	close(release)
	e.waitFor("open", func(s *dialState) bool { return s.opened == 1 })
	pc, err := nl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 5)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := readFull(pc, buf); err != nil || string(buf) != "early" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	e.do(func(s *dialState) {
		if got := c.RemoteAddr().String(); got != "127.0.0.1:"+port {
			t.Errorf("RemoteAddr %s", got)
		}
		if gotHost.Load() != "calloop.test" || gotNet.Load() != "ip" {
			t.Errorf("Lookup(%v, %v)", gotNet.Load(), gotHost.Load())
		}
		c.Abort()
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A resolver that never answers ends the dial at its timeout with a clear
// error (a DNS timeout wrapping os.ErrDeadlineExceeded), and its context is
// cancelled.
func TestDialHostResolverNeverAnswers(t *testing.T) {
	canceled := make(chan struct{})
	dc := stream.DialConfig{Timeout: 100 * time.Millisecond, Lookup: func(ctx context.Context, _, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	}}
	var st dialState
	var begin time.Time
	var took time.Duration
	h := dialHandler()
	h.OnClose = func(s *dialState, _ *stream.Conn[dialState], err error) {
		took = time.Since(begin)
		s.closed++
		s.err = err
	}
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		begin = time.Now()
		if _, err := stream.DialWith(l, "tcp", "never.test:80", dc, stream.Config{}, h); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the resolver's context was not cancelled")
	}
	e.do(func(s *dialState) {
		var dnsErr *net.DNSError
		var op *net.OpError
		if !errors.Is(s.err, os.ErrDeadlineExceeded) || !errors.As(s.err, &dnsErr) || !dnsErr.Timeout() ||
			dnsErr.Name != "never.test" || !errors.As(s.err, &op) || op.Op != "dial" {
			t.Errorf("OnClose error %v, want a dial error with a DNS timeout", s.err)
		}
		if took < 100*time.Millisecond {
			t.Errorf("timed out after %v, before the timeout", took)
		}
		if s.opened != 0 {
			t.Error("OnOpen called")
		}
	})
}

// A failing resolver's error reaches OnClose as a *net.DNSError (wrapping
// it if it is not one).
func TestDialHostResolverFails(t *testing.T) {
	boom := errors.New("boom")
	notFound := &net.DNSError{Err: "no such host", Name: "nx.test", IsNotFound: true}
	for _, tc := range []struct {
		name    string
		network string
		lookup  func(context.Context, string, string) ([]netip.Addr, error)
		check   func(err error) bool
	}{
		{"error", "tcp", func(context.Context, string, string) ([]netip.Addr, error) { return nil, boom },
			func(err error) bool {
				var d *net.DNSError
				return errors.Is(err, boom) && errors.As(err, &d) && d.Name == "nx.test"
			}},
		{"dnserror", "tcp", func(context.Context, string, string) ([]netip.Addr, error) { return nil, notFound },
			func(err error) bool { var d *net.DNSError; return errors.As(err, &d) && d.IsNotFound }},
		{"empty", "tcp", lookupOf(),
			func(err error) bool { var d *net.DNSError; return errors.As(err, &d) && d.IsNotFound }},
		{"tcp6 with IPv4 only", "tcp6", lookupOf("127.0.0.1", "::ffff:127.0.0.1"),
			func(err error) bool { var d *net.DNSError; return errors.As(err, &d) && d.IsNotFound }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st dialState
			e := start(t, &st, func(l *calloop.Loop[dialState]) {
				dc := stream.DialConfig{Lookup: tc.lookup}
				if _, err := stream.DialWith(l, tc.network, "nx.test:80", dc, stream.Config{}, dialHandler()); err != nil {
					t.Fatal(err)
				}
			})
			e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
			e.do(func(s *dialState) {
				var op *net.OpError
				if !tc.check(s.err) || !errors.As(s.err, &op) || op.Op != "dial" {
					t.Errorf("OnClose error %v", s.err)
				}
				if s.opened != 0 {
					t.Error("OnOpen called")
				}
			})
		})
	}
}

// The addresses are tried in order: a refused first one is followed by
// the next, and when all refuse OnClose gets the first one's error.
func TestDialHostAddressesInOrder(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	port := nl.Addr().(*net.TCPAddr).Port
	// Nothing listens on 127.0.0.2 and 127.0.0.3 at that port (the
	// listener is bound to 127.0.0.1): they refuse.
	var st dialState
	var c *stream.Conn[dialState]
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		dc := stream.DialConfig{Lookup: lookupOf("127.0.0.2", "127.0.0.3", "127.0.0.1")}
		c, err = stream.DialWith(l, "tcp4", "multi.test:"+strconv.Itoa(port), dc, stream.Config{}, dialHandler())
		if err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("open", func(s *dialState) bool { return s.opened == 1 })
	e.do(func(s *dialState) {
		if got := c.RemoteAddr().(*net.TCPAddr); !got.IP.Equal(net.IPv4(127, 0, 0, 1)) || got.Port != port {
			t.Errorf("RemoteAddr %v", got)
		}
		c.Abort()
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })

	var st2 dialState
	e2 := start(t, &st2, func(l *calloop.Loop[dialState]) {
		dc := stream.DialConfig{Lookup: lookupOf("127.0.0.2", "127.0.0.3")}
		if _, err := stream.DialWith(l, "tcp", "refused.test:"+strconv.Itoa(port), dc, stream.Config{}, dialHandler()); err != nil {
			t.Fatal(err)
		}
	})
	e2.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	e2.do(func(s *dialState) {
		var op *net.OpError
		if !errors.Is(s.err, syscall.ECONNREFUSED) || !errors.As(s.err, &op) || op.Addr.String() != "127.0.0.2:"+strconv.Itoa(port) {
			t.Errorf("OnClose error %v, want the first address's refusal", s.err)
		}
	})
}

// Closing the Conn while its name is being resolved cancels the
// resolution: OnClose(nil), and the resolver's context is done.
func TestDialHostCloseCancels(t *testing.T) {
	canceled := make(chan struct{})
	dc := stream.DialConfig{Lookup: func(ctx context.Context, _, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		close(canceled)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil // ignored
	}}
	var st dialState
	e := start(t, &st, nil)
	e.do(func(s *dialState) {
		c, err := stream.DialWith(e.l, "tcp", "close.test:1", dc, stream.Config{}, dialHandler())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	e.waitFor("close", func(s *dialState) bool { return s.closed == 1 })
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the resolver's context was not cancelled")
	}
	e.do(func(s *dialState) {
		if s.err != nil || s.opened != 0 {
			t.Errorf("err %v, opened %d", s.err, s.opened)
		}
	})
}

// Closing the loop while a name is being resolved cancels the resolution
// and waits for its goroutine; no goroutine or descriptor is left.
func TestDialHostLoopClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	before := openFDs(t)
	canceled := make(chan struct{})
	l, err := calloop.New[dialState]()
	if err != nil {
		t.Fatal(err)
	}
	dc := stream.DialConfig{Lookup: func(ctx context.Context, _, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	}}
	var st dialState
	if _, err := stream.DialWith(l, "tcp", "loopclose.test:1", dc, stream.Config{}, dialHandler()); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(0, &st); err != nil {
		t.Fatal(err)
	}
	l.Close()
	select {
	case <-canceled:
	default:
		t.Fatal("Close returned before the resolver's context was cancelled")
	}
	if st.closed != 0 {
		t.Error("OnClose called by the loop's Close")
	}
	if n := openFDs(t); n != before {
		t.Errorf("%d descriptors open, %d before", n, before)
	}
}

// An IP address or a Unix path is dialled without the resolver; a host
// name through the default resolver (localhost) works.
func TestDialLiteralsSkipResolver(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		for {
			c, err := nl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(nl.Addr().(*net.TCPAddr).Port)
	var called atomic.Bool
	dc := stream.DialConfig{Lookup: func(context.Context, string, string) ([]netip.Addr, error) {
		called.Store(true)
		return nil, errors.New("not to be called")
	}}
	var st dialState
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		for _, a := range []string{"127.0.0.1:" + port, "[::ffff:127.0.0.1]:" + port} {
			if _, err := stream.DialWith(l, "tcp", a, dc, stream.Config{}, dialHandler()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := stream.DialWith(l, "tcp", "localhost:"+port, stream.DialConfig{Timeout: 10 * time.Second}, stream.Config{}, dialHandler()); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("three opens", func(s *dialState) bool { return s.opened == 3 })
	if called.Load() {
		t.Error("the resolver was called for an IP address")
	}
}

// Negative durations in a DialConfig are errors of DialWith.
func TestDialConfigErrors(t *testing.T) {
	l, err := calloop.New[dialState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, dc := range []stream.DialConfig{{Timeout: -1}, {AttemptTimeout: -time.Second}} {
		if _, err := stream.DialWith(l, "tcp", "x.test:1", dc, stream.Config{}, dialHandler()); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("%+v: %v", dc, err)
		}
	}
	if _, err := stream.DialWith(l, "tcp", "x.test", stream.DialConfig{}, stream.Config{}, dialHandler()); err == nil {
		t.Error("an address without a port accepted")
	}
}
