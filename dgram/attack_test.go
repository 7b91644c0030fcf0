//go:build linux

package dgram

import (
	"bytes"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// TestNoStaleBytes: the slice given to OnPacket reaches no byte beyond the
// datagram: not even through its capacity can a callback see the rest of a
// longer datagram received earlier into the same buffer, by this socket or
// another of the loop.
func TestNoStaleBytes(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var leaked []int
		h := collect()
		h.OnPacket = func(a *app, c *Conn[app], p []byte, from Addr) {
			a.got = append(a.got, bytes.Clone(p))
			if n := bytes.Count(p[len(p):cap(p)], []byte{0xAA}); n > 0 {
				leaked = append(leaked, n)
			}
		}
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{Batch: 1}, h)
		if err != nil {
			t.Fatal(err)
		}
		other, err := Listen(l, "udp", "127.0.0.1:0", Config{Batch: 1}, h)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		cli2, err := Dial(l, "udp", "", other.LocalAddr().String(), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		cli.Send(bytes.Repeat([]byte{0xAA}, 1000)) // a secret, say
		until(t, l, &s, func() bool { return len(s.got) == 1 })
		cli.Send([]byte("short"))
		until(t, l, &s, func() bool { return len(s.got) == 2 })
		cli2.Send(nil)
		until(t, l, &s, func() bool { return len(s.got) == 3 })
		if len(leaked) != 0 {
			t.Fatalf("callbacks saw %v bytes of an earlier datagram beyond p", leaked)
		}
	})
}

// TestUnixgramBlockedNoSpin: a Unix socket without a peer whose receiver
// does not read gets EAGAIN, but Linux keeps reporting it writable: the
// blocked queue must not make the loop spin (it is retried on a timer
// that backs off), and once the receiver reads, every queued datagram
// arrives, in order.
func TestUnixgramBlockedNoSpin(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		dir := t.TempDir()
		l := newLoop(t)
		var s app
		rpath := filepath.Join(dir, "r")
		rcv, err := Listen(l, "unixgram", rpath, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		rcv.PauseReading()
		var sndErrs []error
		h := collect()
		h.OnPacket = func(*app, *Conn[app], []byte, Addr) {}
		h.OnError = func(a *app, c *Conn[app], err error) { sndErrs = append(sndErrs, err) }
		snd, err := Listen(l, "unixgram", filepath.Join(dir, "s"), Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for snd.Queued() == 0 && sent < 1<<20 {
			if err := snd.SendTo([]byte{byte(sent)}, UnixAddr(rpath)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		for i := 0; i < 10; i++ { // more behind it
			snd.SendTo([]byte{byte(sent)}, UnixAddr(rpath))
			sent++
		}
		if snd.Queued() == 0 {
			t.Fatal("the receiver took everything")
		}
		iters := 0
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); iters++ {
			if err := l.Dispatch(50*time.Millisecond, &s); err != nil {
				t.Fatal(err)
			}
		}
		if iters > 100 {
			t.Fatalf("%d loop iterations in 300 ms with nothing to do: the blocked socket spins", iters)
		}
		rcv.ResumeReading()
		until(t, l, &s, func() bool { return len(s.got) == sent })
		for i, p := range s.got {
			if len(p) != 1 || p[0] != byte(i) {
				t.Fatalf("datagram %d: %x", i, p)
			}
		}
		if snd.Queued() != 0 || len(sndErrs) != 0 {
			t.Fatalf("queued %d, errors %v", snd.Queued(), sndErrs)
		}
	})
}

// TestHighWaterBelowDatagram: a HighWater smaller than a datagram does not
// forbid sending it from a callback (where sends are queued, and the
// queue would refuse it): with nothing queued before it, it is sent at
// once, as outside a callback.
func TestHighWaterBelowDatagram(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var sendErrs []error
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{HighWater: 10}, Handler[app]{
			OnPacket: func(a *app, c *Conn[app], p []byte, from Addr) {
				for i := 0; i < 2; i++ {
					if err := c.SendTo(p, from); err != nil {
						sendErrs = append(sendErrs, err)
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("e"), 200)
		if err := cli.Send(msg); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.got) == 2 || len(sendErrs) > 0 })
		if len(sendErrs) != 0 || !bytes.Equal(s.got[0], msg) || !bytes.Equal(s.got[1], msg) {
			t.Fatalf("echo: %v, got %d datagrams", sendErrs, len(s.got))
		}
		if st := srv.Stats(); st.Sent != 2 || st.Dropped != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestMappedAddresses: an IPv4 peer written as an IPv4-mapped IPv6
// address is the same peer: SendTo from an IPv4 or dual-stack socket
// reaches it, and a socket dialed to it accepts it in SendTo.
func TestMappedAddresses(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp4", "127.0.0.1:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	port := srv.LocalAddr().IP.Port()
	mapped := UDPAddr(netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), port))
	v4, err := Listen(l, "udp4", "127.0.0.1:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	dual, err := Listen(l, "udp", ":0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	dialed, err := Dial(l, "udp", "", mapped.String(), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []*Conn[app]{v4, dual} {
		if err := c.SendTo([]byte{byte(i)}, mapped); err != nil {
			t.Fatalf("SendTo %v from socket %d: %v", mapped, i, err)
		}
	}
	if err := dialed.SendTo([]byte{2}, mapped); err != nil {
		t.Fatalf("SendTo the dialed peer as a mapped address: %v", err)
	}
	until(t, l, &s, func() bool { return len(s.got) == 3 })
	for _, f := range s.from {
		if !f.IP.Addr().Is4() {
			t.Fatalf("source %v: not a plain IPv4 address", f)
		}
	}
}

// TestSizes: datagrams of 0 bytes, ReadSize, ReadSize+1, and the largest
// and one past the largest UDP payload over IPv4.
func TestSizes(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		h := collect()
		h.OnTruncated = func(a *app, c *Conn[app], p []byte, from Addr) { a.trunc = append(a.trunc, bytes.Clone(p)) }
		small, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadSize: 512, ReadBuffer: 1 << 20}, h)
		if err != nil {
			t.Fatal(err)
		}
		big, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadBuffer: 1 << 20}, h)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Listen(l, "udp", "127.0.0.1:0", Config{WriteBuffer: 1 << 20}, collect())
		if err != nil {
			t.Fatal(err)
		}
		fill := func(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }
		for _, n := range []int{0, 512, 513} {
			if err := cli.SendTo(fill(n), small.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		if err := cli.SendTo(fill(65507), big.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if err := cli.SendTo(fill(65508), big.LocalAddr()); !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("65508 bytes over IPv4: %v", err)
		}
		until(t, l, &s, func() bool { return len(s.got) == 3 && len(s.trunc) == 1 })
		slices.SortFunc(s.got, func(a, b []byte) int { return len(a) - len(b) })
		for i, n := range []int{0, 512, 65507} {
			if !bytes.Equal(s.got[i], fill(n)) {
				t.Fatalf("datagram %d: %d bytes, want %d", i, len(s.got[i]), n)
			}
		}
		if !bytes.Equal(s.trunc[0], fill(513)[:512]) {
			t.Fatalf("truncated: %d bytes", len(s.trunc[0]))
		}
	})
}

// flood sends datagrams to addr from n sockets of their own goroutines
// until the returned stop is called (which waits for them).
func flood(t *testing.T, n int, addr string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			msg := []byte("flood-" + itoa(i))
			for {
				select {
				case <-done:
					return
				default:
				}
				c.Write(msg) // refused once the socket is closed: go on
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestFloodTimerCloseInCallback: a socket flooded by many peers does not
// starve a timer of the same loop; the callback answers each datagram,
// then closes the socket in the middle of a batch: nothing is delivered
// after Close, OnClose runs once, and the descriptor is gone (the leak
// check counts it).
func TestFloodTimerCloseInCallback(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		const closeAt = 5000
		var afterClose, sendErrs int
		closed := false
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{Batch: 64}, Handler[app]{
			OnPacket: func(a *app, c *Conn[app], p []byte, from Addr) {
				if closed {
					afterClose++
					return
				}
				a.got = append(a.got, nil)
				if err := c.SendTo(p, from); err != nil && !errors.Is(err, ErrFull) {
					sendErrs++
				}
				if len(a.got) == closeAt {
					closed = true
					c.Close()
				}
			},
			OnClose: func(a *app, c *Conn[app], err error) { a.closed++ },
		})
		if err != nil {
			t.Fatal(err)
		}
		stop := flood(t, 4, srv.LocalAddr().String())
		ticks := 0
		if _, err := l.AddTimer(time.Millisecond, func(*app, time.Time) calloop.TimerAction {
			ticks++
			return calloop.Again(time.Millisecond)
		}); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.got) >= 1000 })
		start := ticks
		deadline := time.Now().Add(10 * time.Second)
		for ticks < start+20 && time.Now().Before(deadline) {
			l.Dispatch(10*time.Millisecond, &s)
		}
		if ticks < start+20 {
			t.Fatalf("the timer fired %d times in 10 s of flood", ticks-start)
		}
		until(t, l, &s, func() bool { return s.closed == 1 })
		stop()
		for i := 0; i < 5; i++ {
			l.Dispatch(0, &s)
		}
		if afterClose != 0 || s.closed != 1 || sendErrs != 0 || srv.Stats().Received != closeAt {
			t.Fatalf("%d datagrams after Close, %d closes, %d send errors, stats %+v", afterClose, s.closed, sendErrs, srv.Stats())
		}
	})
}

// TestPauseInBatch: PauseReading from OnPacket stops the deliveries at
// once, even with more datagrams of the same batch received; they are
// delivered, in order, after ResumeReading (and a pause while they are
// delivered stops them again).
func TestPauseInBatch(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		l := newLoop(t)
		var s app
		var afterPause int
		paused := false
		h := collect()
		h.OnPacket = func(a *app, c *Conn[app], p []byte, from Addr) {
			if paused {
				afterPause++
			}
			a.got = append(a.got, bytes.Clone(p))
			if len(a.got) == 1 || len(a.got) == 5 {
				c.PauseReading()
				paused = true
			}
		}
		srv, err := Listen(l, "udp", "127.0.0.1:0", Config{Batch: 16}, h)
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
		until(t, l, &s, func() bool { return len(s.got) == 1 })
		for i := 0; i < 5; i++ {
			l.Dispatch(time.Millisecond, &s)
		}
		if afterPause != 0 {
			t.Fatalf("%d datagrams delivered after PauseReading", afterPause)
		}
		for _, want := range []int{5, 10} {
			paused = false
			srv.ResumeReading()
			until(t, l, &s, func() bool { return len(s.got) == want })
			for i := 0; i < 5; i++ {
				l.Dispatch(time.Millisecond, &s)
			}
			if afterPause != 0 || len(s.got) != want {
				t.Fatalf("%d datagrams delivered after PauseReading (%d in all)", afterPause, len(s.got))
			}
		}
		for i, p := range s.got {
			if len(p) != 1 || p[0] != byte(i) {
				t.Fatalf("datagram %d: %x", i, p)
			}
		}
	})
}

// TestSocketFailureReleasesSlots: a Listen that fails because no
// descriptor is left (EMFILE) leaves no reference on the loop's shared
// receive buffers, which are dropped when the last socket closes.
func TestSocketFailureReleasesSlots(t *testing.T) {
	l := newLoop(t)
	var s app
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	cli.Send([]byte("x"))
	until(t, l, &s, func() bool { return len(s.got) == 1 })

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(len(ents)) // every number below is taken, or nearly
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var failed int
	for i := 0; i < 4; i++ {
		c, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
		if err != nil {
			failed++
			continue
		}
		defer c.Close()
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if failed == 0 {
		t.Fatal("no Listen failed with the descriptor limit reached")
	}
	srv.Close()
	cli.Close()
	until(t, l, &s, func() bool { return s.closed == 2 })
	rs, err := calloop.Value(l, slotsKey, newRecvSlots)
	if err != nil {
		t.Fatal(err)
	}
	if open := 4 - failed; rs.refs != open {
		t.Fatalf("%d references on the receive slots with %d sockets open", rs.refs, open)
	}
}

// TestUnixNameWithNUL: a socket path with a NUL byte is refused (the
// system would cut it there and reach another file); an abstract name may
// hold any byte.
func TestUnixNameWithNUL(t *testing.T) {
	dir := t.TempDir()
	l := newLoop(t)
	var s app
	target := filepath.Join(dir, "a")
	srv, err := Listen(l, "unixgram", target, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Listen(l, "unixgram", filepath.Join(dir, "b\x00c"), Config{}, collect()); err == nil {
		c.Close()
		t.Fatal("Listen on a path with a NUL byte: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); err == nil {
		t.Fatal("a socket file was made at the path cut at the NUL byte")
	}
	if _, err := Dial(l, "unixgram", "", target+"\x00x", Config{}, collect()); err == nil {
		t.Fatal("Dial a path with a NUL byte: no error")
	}
	cli, err := Listen(l, "unixgram", filepath.Join(dir, "cli"), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SendTo([]byte("x"), UnixAddr(target+"\x00evil")); err == nil {
		t.Fatal("SendTo a path with a NUL byte: no error")
	}
	name := "@calloop-nul\x00inside-" + itoa(os.Getpid())
	abs, err := Listen(l, "unixgram", name, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.SendTo([]byte("y"), UnixAddr(name)); err != nil {
		t.Fatal(err)
	}
	until(t, l, &s, func() bool { return len(s.got) == 1 })
	if srv.Stats().Received != 0 || abs.Stats().Received != 1 {
		t.Fatalf("received: %d by the path, %d by the abstract name", srv.Stats().Received, abs.Stats().Received)
	}
}

// TestHugeSocketBuffers: socket buffer sizes past what the system call
// takes (an int32) ask for the most the system allows, not for what the
// truncated number says (1<<32 used to become 0: the smallest buffer).
func TestHugeSocketBuffers(t *testing.T) {
	l := newLoop(t)
	def, err := Listen(l, "udp", "127.0.0.1:0", Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	defRcv, _ := unix.GetsockoptInt(def.sys.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	defSnd, _ := unix.GetsockoptInt(def.sys.fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	sizes := []int{math.MaxInt}
	if strconv.IntSize == 64 {
		one := 1 // a variable: the shifts below would not compile for 32-bit targets as constants
		sizes = append(sizes, one<<32, one<<32+1)
	}
	for _, n := range sizes {
		c, err := Listen(l, "udp", "127.0.0.1:0", Config{ReadBuffer: n, WriteBuffer: n}, collect())
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		rcv, _ := unix.GetsockoptInt(c.sys.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ := unix.GetsockoptInt(c.sys.fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		if rcv < defRcv || snd < defSnd {
			t.Fatalf("buffers of %d asked: %d and %d, below the defaults %d and %d", n, rcv, snd, defRcv, defSnd)
		}
		c.Close()
	}
}

// TestLoopCloseMidState: closing the loop with datagrams held by a pause
// and a Unix socket waiting on its retry timer: no callback, no panic,
// descriptors and socket files gone.
func TestLoopCloseMidState(t *testing.T) {
	dir := t.TempDir()
	l, err := calloop.New[app]()
	if err != nil {
		t.Fatal(err)
	}
	var s app
	h := collect()
	h.OnPacket = func(a *app, c *Conn[app], p []byte, from Addr) {
		a.got = append(a.got, bytes.Clone(p))
		c.PauseReading()
	}
	srv, err := Listen(l, "udp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(l, "udp", "", srv.LocalAddr().String(), Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		cli.Send([]byte{byte(i)})
	}
	until(t, l, &s, func() bool { return len(s.got) == 1 })
	rpath, spath := filepath.Join(dir, "r"), filepath.Join(dir, "s")
	rcv, err := Listen(l, "unixgram", rpath, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	rcv.PauseReading()
	snd, err := Listen(l, "unixgram", spath, Config{}, collect())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; snd.Queued() == 0 && i < 1<<20; i++ {
		snd.SendTo([]byte("x"), UnixAddr(rpath))
	}
	if snd.Queued() == 0 || !snd.retryArmed {
		t.Fatalf("queued %d, retry armed %v", snd.Queued(), snd.retryArmed)
	}
	l.Dispatch(time.Millisecond, &s)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if s.closed != 0 || len(s.got) != 1 {
		t.Fatalf("closes %d, datagrams %d after the loop closed", s.closed, len(s.got))
	}
	for _, p := range []string{rpath, spath} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s left", p)
		}
	}
}

// TestAbstractTrailingNUL: abstract names are counted, not terminated: a
// peer named "@x\x00" is not "@x", and an answer to it reaches it, not a
// socket named "@x". Linux's recvmmsg path only: the portable path serves
// systems without abstract names (x/sys's Recvmsg cuts a name at its first
// NUL).
func TestAbstractTrailingNUL(t *testing.T) {
	func(t *testing.T) {
		l := newLoop(t)
		var s app
		base := "@calloop-trail-" + itoa(os.Getpid())
		srv, err := Listen(l, "unixgram", base+"-srv", Config{}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		plain, err := Listen(l, "unixgram", base, Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		nul, err := Listen(l, "unixgram", base+"\x00", Config{}, collect())
		if err != nil {
			t.Fatal(err)
		}
		if nul.LocalAddr() != UnixAddr(base+"\x00") {
			t.Fatalf("LocalAddr %q", nul.LocalAddr().Name)
		}
		if err := nul.SendTo([]byte("who"), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		until(t, l, &s, func() bool { return len(s.got) == 1 })
		if nul.Stats().Received != 1 || plain.Stats().Received != 0 || s.from[0] != srv.LocalAddr() {
			t.Fatalf("the answer reached %q (received: %d by the NUL name, %d by the plain one)",
				base, nul.Stats().Received, plain.Stats().Received)
		}
	}(t)
}
