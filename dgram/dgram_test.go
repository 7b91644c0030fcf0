//go:build linux

package dgram

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

type app struct {
	got     [][]byte
	from    []Addr
	errs    []error
	closed  int
	closeEr error
	drains  int
	trunc   [][]byte
}

func newLoop(t testing.TB) *calloop.Loop[app] {
	t.Helper()
	l, err := calloop.New[app]()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// until dispatches l until cond holds, failing after 10 s.
func until(t testing.TB, l *calloop.Loop[app], s *app, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 10s")
		}
		if err := l.Dispatch(20*time.Millisecond, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
	}
}

// eachMode runs f with recvmmsg/sendmmsg and with the portable path.
func eachMode(t *testing.T, f func(t *testing.T)) {
	t.Run("mmsg", f)
	t.Run("portable", func(t *testing.T) {
		forcePortable = true
		defer func() { forcePortable = false }()
		f(t)
	})
}

func collect() Handler[app] {
	return Handler[app]{
		OnPacket: func(a *app, c *Conn[app], p []byte, from Addr) {
			a.got = append(a.got, bytes.Clone(p))
			a.from = append(a.from, from)
		},
		OnError: func(a *app, c *Conn[app], err error) { a.errs = append(a.errs, err) },
		OnClose: func(a *app, c *Conn[app], err error) { a.closed++; a.closeEr = err },
		OnDrain: func(a *app, c *Conn[app]) { a.drains++ },
	}
}

func echoHandler() Handler[app] {
	return Handler[app]{
		OnPacket: func(a *app, c *Conn[app], p []byte, from Addr) {
			if err := c.SendTo(p, from); err != nil {
				a.errs = append(a.errs, err)
			}
		},
	}
}

// TestEchoMany sends many numbered datagrams through an echo server in
// windows of 64 (loopback UDP may drop what overflows a receive buffer),
// and checks every echo, its order within the window and its source.
func TestEchoMany(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		const total, window = 64 * 320, 64
		buf := make([]byte, 8)
		for sent := 0; sent < total; {
			for i := 0; i < window; i++ {
				binary.BigEndian.PutUint64(buf, uint64(sent))
				if err := cli.Send(buf[:1+sent%8]); err != nil {
					t.Fatalf("Send %d: %v", sent, err)
				}
				sent++
			}
			until(t, l, &s, func() bool { return len(s.got) == sent })
		}
		for i, p := range s.got {
			want := make([]byte, 8)
			binary.BigEndian.PutUint64(want, uint64(i))
			if !bytes.Equal(p, want[:1+i%8]) {
				t.Fatalf("echo %d = %x, want %x", i, p, want[:1+i%8])
			}
			if s.from[i] != srv.LocalAddr() {
				t.Fatalf("echo %d from %v, want %v", i, s.from[i], srv.LocalAddr())
			}
		}
		if st := srv.Stats(); st.Received != total || st.Sent != total || st.Dropped != 0 {
			t.Fatalf("server stats %+v", st)
		}
		if len(s.errs) != 0 {
			t.Fatalf("errors: %v", s.errs)
		}
	})
}

// TestSourceAddresses checks the source address of datagrams from several
// plain sockets, and that answering it reaches the right one.
func TestSourceAddresses(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		srv, err := Listen(l, "udp4", "127.0.0.1:0", Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		var peers []*net.UDPConn
		for i := 0; i < 3; i++ {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			peers = append(peers, pc)
			if _, err := pc.WriteTo([]byte{byte(i)}, srv.LocalAddr().NetAddr()); err != nil {
				t.Fatal(err)
			}
		}
		until(t, l, &s, func() bool { return len(s.got) == 3 })
		for i, from := range s.from {
			k := s.got[i][0]
			want := peers[k].LocalAddr().(*net.UDPAddr).AddrPort()
			if from.IP != netip.AddrPortFrom(want.Addr().Unmap(), want.Port()) {
				t.Fatalf("datagram %d from %v, want %v", k, from, want)
			}
			if err := srv.SendTo([]byte{k + 100}, from); err != nil {
				t.Fatal(err)
			}
		}
		for i, pc := range peers {
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 10)
			n, _, err := pc.ReadFrom(b)
			if err != nil || n != 1 || b[0] != byte(i+100) {
				t.Fatalf("peer %d read %v %x", i, err, b[:n])
			}
		}
	})
}

// TestDualStack checks that a "udp" socket listening on the unspecified
// address reports IPv4 peers as plain IPv4 addresses and answers them.
func TestDualStack(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp", ":0", Config{}, echoHandler())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(l, "udp4", "", "127.0.0.1:"+itoa(int(srv.LocalAddr().IP.Port())), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	var srvFrom Addr
	srv.h.OnPacket = func(a *app, c *Conn[app], p []byte, from Addr) {
		srvFrom = from
		c.SendTo(p, from)
	}
	if err := cli.Send([]byte("v4")); err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.got) == 1 })
	if !srvFrom.IP.Addr().Is4() || srvFrom.IP.Port() != cli.LocalAddr().IP.Port() {
		t.Fatalf("server saw %v, client is %v", srvFrom, cli.LocalAddr())
	}
}

func TestIPv6(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp6", "[::1]:0", Config{}, echoHandler())
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cli, err := Listen(l, "udp6", "[::1]:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SendTo([]byte("six"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.got) == 1 })
	if string(s.got[0]) != "six" || s.from[0] != srv.LocalAddr() {
		t.Fatalf("got %q from %v", s.got[0], s.from[0])
	}
	if err := cli.SendTo([]byte("x"), UDPAddr(netip.MustParseAddrPort("127.0.0.1:9"))); err == nil {
		// A v6-only socket cannot reach an IPv4 address; the kernel says so.
		t.Fatalf("SendTo an IPv4 address from a udp6 socket: no error")
	}
}

func TestUnixgram(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		dir := t.TempDir()
		spath, cpath := filepath.Join(dir, "srv"), filepath.Join(dir, "cli")
		l := newLoop(t)
		var s app
		srv, err := Listen(l, "unixgram", spath, Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Listen(l, "unixgram", spath, Config{}, echoHandler()); err == nil {
			t.Fatal("second Listen on an existing socket file: no error")
		}
		cli, err := Dial(l, "unixgram", cpath, spath, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		if cli.LocalAddr() != UnixAddr(cpath) || srv.LocalAddr() != UnixAddr(spath) {
			t.Fatalf("addresses %v %v", cli.LocalAddr(), srv.LocalAddr())
		}
		for i := 0; i < 100; i++ {
			if err := cli.Send([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := cli.Send(nil); err != nil { // an empty datagram is a datagram
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.got) == 101 })
		for i, p := range s.got[:100] {
			if len(p) != 1 || p[0] != byte(i) || s.from[i] != UnixAddr(spath) {
				t.Fatalf("datagram %d: %x from %v", i, p, s.from[i])
			}
		}
		if len(s.got[100]) != 0 {
			t.Fatalf("empty datagram came back as %x", s.got[100])
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(spath); !os.IsNotExist(err) {
			t.Fatalf("socket file after Close: %v", err)
		}
		cli.Close()
	})
}

func TestAbstractUnixgram(t *testing.T) {
	l := newLoop(t)
	var s app
	name := "@calloop-dgram-test-" + itoa(os.Getpid())
	srv, err := Listen(l, "unixgram", name, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(l, "unixgram", name+"-cli", name, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	cli.Send([]byte("abstract"))
	until(t, l, &s, func() bool { return len(s.got) == 1 })
	if s.from[0] != UnixAddr(name+"-cli") {
		t.Fatalf("from %q", s.from[0].Name)
	}
	srv.SendTo([]byte("back"), s.from[0])
	until(t, l, &s, func() bool { return len(s.got) == 2 })
	if string(s.got[1]) != "back" {
		t.Fatalf("got %q", s.got[1])
	}
}

// TestTruncated sends datagrams longer than ReadSize: they reach
// OnTruncated (or OnError), never OnPacket, and the next one is whole.
func TestTruncated(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		for _, withCallback := range []bool{true, false} {
			l := newLoop(t)
			var s app
			h := collect()
			if withCallback {
				h.OnTruncated = func(a *app, c *Conn[app], p []byte, from Addr) {
					a.trunc = append(a.trunc, bytes.Clone(p))
				}
			}
			srv, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadSize: 100}, h)
			if err != nil {
				t.Fatal(err)
			}
			cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("x"), 150)
			cli.Send(big)
			cli.Send(bytes.Repeat([]byte("y"), 100)) // exactly ReadSize: whole
			cli.Send([]byte("after"))
			until(t, l, &s, func() bool { return len(s.got) == 2 })
			if string(s.got[0]) != string(bytes.Repeat([]byte("y"), 100)) || string(s.got[1]) != "after" {
				t.Fatalf("got %q", s.got)
			}
			if srv.Stats().Truncated != 1 {
				t.Fatalf("stats %+v", srv.Stats())
			}
			if withCallback {
				if len(s.trunc) != 1 || !bytes.Equal(s.trunc[0], big[:100]) || len(s.errs) != 0 {
					t.Fatalf("truncated %q, errs %v", s.trunc, s.errs)
				}
			} else {
				var te *TruncatedError
				if len(s.errs) != 1 || !errors.As(s.errs[0], &te) || !errors.Is(s.errs[0], ErrTruncated) ||
					te.Kept != 100 || te.From != cli.LocalAddr() {
					t.Fatalf("errors %v", s.errs)
				}
			}
			l.Close()
		}
	})
}

// TestSendQueueFull fills a Unix receiver that does not read: the kernel
// refuses, the send queue fills to HighWater, further sends fail with
// ErrFull; once the receiver reads, every datagram accepted arrives in
// order and OnDrain is called.
func TestSendQueueFull(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		dir := t.TempDir()
		l := newLoop(t)
		var s app
		rcv, err := Listen(l, "unixgram", filepath.Join(dir, "rcv"), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		rcv.PauseReading()
		const high = 64 << 10
		snd, err := Dial(l, "unixgram", "", filepath.Join(dir, "rcv"), Config{HighWater: high, WriteBuffer: 4096}, collect())
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 1000)
		accepted, full := 0, 0
		for i := 0; i < 100000 && full < 10; i++ {
			binary.BigEndian.PutUint32(payload, uint32(accepted))
			switch err := snd.Send(payload); {
			case err == nil:
				accepted++
			case errors.Is(err, ErrFull):
				full++
			default:
				t.Fatalf("Send: %v", err)
			}
		}
		if full != 10 {
			t.Fatalf("no ErrFull after %d datagrams", accepted)
		}
		q := snd.Queued()
		if q == 0 || q+(q/len(payload))*QueueOverhead > high {
			t.Fatalf("queued %d bytes, HighWater %d", q, high)
		}
		if st := snd.Stats(); st.Dropped != 10 {
			t.Fatalf("stats %+v", st)
		}
		rcv.ResumeReading()
		until(t, l, &s, func() bool { return len(s.got) == accepted && s.drains == 1 })
		for i, p := range s.got {
			if binary.BigEndian.Uint32(p) != uint32(i) {
				t.Fatalf("datagram %d carries %d", i, binary.BigEndian.Uint32(p))
			}
		}
		if snd.Queued() != 0 {
			t.Fatalf("queue not empty: %d", snd.Queued())
		}
	})
}

// TestCloseInCallback closes the socket from OnPacket with more datagrams
// of the batch pending: none is delivered after Close, OnClose runs once,
// after the callback, and the socket refuses further use.
func TestCloseInCallback(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var inCallback bool
		var srv *Conn[app]
		h := collect()
		h.OnPacket = func(a *app, c *Conn[app], p []byte, from Addr) {
			a.got = append(a.got, bytes.Clone(p))
			inCallback = true
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := c.Close(); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v", err)
			}
			if err := c.SendTo(p, from); !errors.Is(err, ErrClosed) {
				t.Errorf("SendTo after Close: %v", err)
			}
			inCallback = false
		}
		h.OnClose = func(a *app, c *Conn[app], err error) {
			if inCallback {
				t.Errorf("OnClose inside OnPacket")
			}
			a.closed++
			a.closeEr = err
		}
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			cli.Send([]byte{byte(i)})
		}
		until(t, l, &s, func() bool { return s.closed == 1 })
		for i := 0; i < 5; i++ {
			l.Dispatch(0, &s)
		}
		if len(s.got) != 1 || s.closed != 1 || s.closeEr != nil {
			t.Fatalf("got %d datagrams, %d closes (%v)", len(s.got), s.closed, s.closeEr)
		}
	})
}

// TestCloseOutsideCallback closes between dispatches: OnClose follows in
// the next iteration, and the port is free at once.
func TestCloseOutsideCallback(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.LocalAddr().String()
	srv.Close()
	if s.closed != 0 {
		t.Fatal("OnClose ran inside Close")
	}
	again, err := Listen(l, "udp", addr, Config{}, collect())
	if err != nil {
		t.Fatalf("port not free after Close: %v", err)
	}
	until(t, l, &s, func() bool { return s.closed == 1 })
	again.Close()
	until(t, l, &s, func() bool { return s.closed == 2 })
}

// TestRefused: a dialed UDP socket whose peer has no socket gets the ICMP
// error as an OnError (or from Send) and stays usable.
func TestRefused(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		tmp, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		addr := tmp.LocalAddr().String()
		tmp.Close()
		cli, err := Dial(l, "udp", "", addr, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		var sendErrs []error
		for i := 0; i < 3 && len(s.errs) == 0; i++ {
			if err := cli.Send([]byte("anyone?")); err != nil {
				sendErrs = append(sendErrs, err)
			}
			until(t, l, &s, func() bool { return true })
			l.Dispatch(50*time.Millisecond, &s)
		}
		all := append(s.errs, sendErrs...)
		if len(all) == 0 || !errors.Is(all[0], syscall.ECONNREFUSED) {
			t.Fatalf("errors %v", all)
		}
		if s.closed != 0 {
			t.Fatalf("socket closed by a refused datagram")
		}
	})
}

func TestBadInput(t *testing.T) {
	l := newLoop(t)
	h := collect()
	cases := []struct{ network, laddr, raddr string }{
		{"tcp", "127.0.0.1:0", ""},
		{"udp", "127.0.0.1:99999", ""},
		{"udp", "not an address", ""},
		{"udp4", "[::1]:0", ""},
		{"udp6", "127.0.0.1:0", ""},
		{"unixgram", "", ""},
		{"unixgram", filepath.Join(t.TempDir(), "nodir", "x"), ""},
		{"unixgram", "/" + string(bytes.Repeat([]byte("p"), 200)), ""},
		{"udp", "", "127.0.0.1:0x"},
	}
	for _, c := range cases {
		var err error
		if c.raddr != "" {
			_, err = Dial(l, c.network, c.laddr, c.raddr, Config{}, h)
		} else {
			_, err = Listen(l, c.network, c.laddr, Config{}, h)
		}
		if err == nil {
			t.Errorf("%q %q %q: no error", c.network, c.laddr, c.raddr)
		}
	}
	if _, err := Dial(l, "udp", "", "", Config{}, h); err == nil {
		t.Error("Dial without address: no error")
	}
	if _, err := Listen(l, "udp", "127.0.0.1:0", Config{}, Handler[app]{}); err == nil {
		t.Error("Listen without OnPacket: no error")
	}
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(l, "udp", srv.LocalAddr().String(), Config{}, h); err == nil {
		t.Error("Listen on a port in use: no error")
	}
	if err := srv.Send([]byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send on a listening socket: %v", err)
	}
	if err := srv.SendTo([]byte("x"), UnixAddr("/tmp/x")); err == nil {
		t.Error("SendTo a Unix address from UDP: no error")
	}
	if err := srv.SendTo([]byte("x"), Addr{}); err == nil {
		t.Error("SendTo the zero Addr: no error")
	}
	if err := srv.SendTo(make([]byte, 70000), srv.LocalAddr()); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("SendTo 70000 bytes: %v", err)
	}
	cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SendTo([]byte("x"), UDPAddr(netip.MustParseAddrPort("127.0.0.1:1"))); err == nil {
		t.Error("SendTo another address on a dialed socket: no error")
	}
	if err := cli.SendTo([]byte("x"), cli.RemoteAddr()); err != nil {
		t.Errorf("SendTo the dialed address: %v", err)
	}
	// Extreme configuration values: accepted ones are normalised within
	// bounds, refused ones wrap ErrConfig, and Listen refuses them before
	// opening anything.
	for _, n := range []int{-1, 0, 1, 1 << 30, math.MaxInt, math.MinInt} {
		for _, cfg := range []Config{
			{ReadSize: n, Batch: n, ReadBudget: n, HighWater: n, LowWater: n},
			{ReadSize: n}, {Batch: n}, {ReadBudget: n}, {HighWater: n}, {LowWater: n},
			{ReadBuffer: n}, {WriteBuffer: n},
		} {
			c, err := cfg.norm()
			if err != nil {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("norm(%+v): %v, not ErrConfig", cfg, err)
				}
				if _, lerr := Listen(l, "udp", "127.0.0.1:0", cfg, h); !errors.Is(lerr, ErrConfig) {
					t.Errorf("Listen with %+v: %v, want ErrConfig", cfg, lerr)
				}
				continue
			}
			if n < 0 {
				t.Errorf("norm(%+v) accepted a negative value: %+v", cfg, c)
			}
			if c.readSize <= 0 || c.readSize > maxReadSize || c.batch <= 0 || c.batch > maxBatch || c.batch*c.readSize > maxSlots ||
				c.readBudget <= 0 || c.high <= 0 || c.low < 0 || c.low >= c.high || c.rcvbuf < 0 || c.sndbuf < 0 {
				t.Errorf("norm(%+v) = %+v", cfg, c)
			}
		}
	}
	for _, cfg := range []Config{{ReadSize: maxReadSize + 1}, {HighWater: 100, LowWater: 100}, {LowWater: defaultHighWater}} {
		if _, err := cfg.norm(); !errors.Is(err, ErrConfig) {
			t.Errorf("norm(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

// TestLoopClose closes the loop with sockets open and a queue full:
// descriptors close (the leak check counts them), OnClose is not called.
func TestLoopClose(t *testing.T) {
	l, err := calloop.New[app]()
	if err != nil {
		t.Fatal(err)
	}
	var s app
	dir := t.TempDir()
	if _, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect()); err != nil {
		t.Fatal(err)
	}
	rcv, err := Listen(l, "unixgram", filepath.Join(dir, "r"), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	rcv.PauseReading()
	snd, err := Dial(l, "unixgram", "", filepath.Join(dir, "r"), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	for snd.Queued() == 0 {
		if err := snd.Send(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
	}
	l.Dispatch(0, &s)
	l.Close()
	if s.closed != 0 {
		t.Fatalf("OnClose called %d times on loop close", s.closed)
	}
	if err := snd.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after the loop closed: %v", err)
	}
}

// TestNoAllocs: an echo round trip (receive, callback, queued reply, flush)
// allocates nothing in steady state.
func TestNoAllocs(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, echoHandler())
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: int(srv.LocalAddr().IP.Port())}); err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	msg, buf := []byte("ping"), make([]byte, 16)
	round := func() {
		want := srv.Stats().Sent + 1
		unix.Write(fd, msg)
		for i := 0; srv.Stats().Sent < want && i < 100; i++ {
			l.Dispatch(50*time.Millisecond, &s)
		}
		if n, err := unix.Read(fd, buf); n != len(msg) {
			t.Fatalf("read %d: %v", n, err)
		}
	}
	for i := 0; i < 100; i++ {
		round()
	}
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Fatalf("%v allocations per echo", n)
	}
}

// TestReadBudget: a socket with more datagrams waiting than its budget
// yields: a timer due meanwhile runs between the batches.
func TestReadBudget(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadBudget: 10, Batch: 4}, collect())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		cli.Send([]byte{byte(i)})
	}
	var seen []int
	_, err = l.AddTimer(0, func(a *app, _ time.Time) calloop.TimerAction {
		seen = append(seen, len(a.got))
		if len(a.got) < 100 {
			return calloop.Again(0)
		}
		return calloop.Drop()
	})
	if err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.got) == 100 })
	for i := 1; i < len(seen); i++ {
		if seen[i]-seen[i-1] > 10 {
			t.Fatalf("one iteration delivered %d datagrams, budget 10 (%v)", seen[i]-seen[i-1], seen)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestQueuedRefused: datagrams waiting in the send queue when the peer goes
// away are refused by the kernel when flushed: each is reported to OnError
// and dropped, the socket stays open, and the queue empties.
func TestQueuedRefused(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		dir := t.TempDir()
		l := newLoop(t)
		var s app
		rpath := filepath.Join(dir, "rcv")
		rcv, err := Listen(l, "unixgram", rpath, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		rcv.PauseReading()
		snd, err := Dial(l, "unixgram", "", rpath, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		for snd.Queued() == 0 {
			if err := snd.Send(make([]byte, 512)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 3; i++ {
			if err := snd.Send(make([]byte, 512)); err != nil {
				t.Fatal(err)
			}
		}
		rcv.Close()
		until(t, l, &s, func() bool { return snd.Queued() == 0 })
		if len(s.errs) == 0 {
			t.Fatal("queued datagrams dropped without an error")
		}
		for _, err := range s.errs {
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOTCONN) {
				t.Fatalf("error %v", err)
			}
		}
		if st := snd.Stats(); st.Errors != uint64(len(s.errs)) || s.closed != 1 { // the receiver's close
			t.Fatalf("stats %+v, %d errors, %d closed", st, len(s.errs), s.closed)
		}
		if err := snd.Send([]byte("x")); errors.Is(err, ErrClosed) || err == nil {
			t.Fatalf("Send to the vanished peer: %v", err)
		}
	})
}

// TestSharedSlots: the sockets of a loop share one set of receive buffers;
// sockets with different read sizes take turns on it, each seeing its own
// datagrams whole or truncated at its own size, and the memory goes when
// the last socket closes.
func TestSharedSlots(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		small, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadSize: 10, Batch: 8}, collect())
		if err != nil {
			t.Fatal(err)
		}
		big, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadSize: 3000, Batch: 2}, collect())
		if err != nil {
			t.Fatal(err)
		}
		var many []*Conn[app]
		for i := 0; i < 50; i++ {
			c, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
			if err != nil {
				t.Fatal(err)
			}
			many = append(many, c)
		}
		cli, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		rs := small.sys.rs
		for _, c := range append(many, big, cli) {
			if c.sys.rs != rs {
				t.Fatal("sockets of one loop with different receive slots")
			}
		}
		for round := 0; round < 20; round++ {
			cli.SendTo(bytes.Repeat([]byte{'s'}, 5+round%10), small.LocalAddr()) // 5..14: truncated from 11
			cli.SendTo(bytes.Repeat([]byte{'b'}, 2000+round), big.LocalAddr())
		}
		until(t, l, &s, func() bool { return small.Stats().Received+small.Stats().Truncated == 20 && big.Stats().Received == 20 })
		for i, p := range s.got {
			switch p[0] {
			case 's':
				if len(p) > 10 || s.from[i] != cli.LocalAddr() {
					t.Fatalf("small socket got %d bytes", len(p))
				}
			case 'b':
				if len(p) < 2000 || len(p) >= 2020 || !bytes.Equal(p, bytes.Repeat([]byte{'b'}, len(p))) {
					t.Fatalf("big socket got %d bytes", len(p))
				}
			}
		}
		if st := small.Stats(); st.Truncated != 8 || st.Received != 12 {
			t.Fatalf("small socket stats %+v", st)
		}
		for _, c := range append(many, small, big, cli) {
			c.Close()
		}
		if rs.bufs != nil || rs.refs != 0 {
			t.Fatalf("receive slots kept after the last socket closed: %d bytes, %d refs", len(rs.bufs), rs.refs)
		}
	})
}
