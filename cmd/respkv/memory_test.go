package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// peakRSS returns the peak resident set of process pid (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// bigConn is a RESP connection for large requests and replies.
type bigConn struct {
	net.Conn
	r *bufio.Reader
}

func dialBig(t *testing.T, addr string) *bigConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &bigConn{c, bufio.NewReaderSize(c, 1<<20)}
}

// send writes a command; a large argument is written in pieces.
func (c *bigConn) send(t *testing.T, args ...[]byte) {
	t.Helper()
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&hdr, "$%d\r\n", len(a))
		if len(a) < 1<<20 {
			hdr.Write(a)
			hdr.WriteString("\r\n")
			continue
		}
		if _, err := c.Write(hdr.Bytes()); err != nil {
			t.Fatal(err)
		}
		hdr.Reset()
		for off := 0; off < len(a); off += 1 << 20 {
			if _, err := c.Write(a[off:min(off+1<<20, len(a))]); err != nil {
				t.Fatal(err)
			}
		}
		hdr.WriteString("\r\n")
	}
	if _, err := c.Write(hdr.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// line reads one reply line.
func (c *bigConn) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// bulk reads a bulk reply into a new slice.
func (c *bigConn) bulk(t *testing.T) []byte {
	t.Helper()
	l := c.line(t)
	n, err := strconv.Atoi(strings.TrimPrefix(l, "$"))
	if err != nil || l[0] != '$' {
		t.Fatalf("not a bulk reply: %q", l)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, b); err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// skipBulk reads a bulk reply and checks that it is n bytes of fill.
func (c *bigConn) skipBulk(t *testing.T, n int, fill byte) {
	t.Helper()
	if l := c.line(t); l != "$"+strconv.Itoa(n) {
		t.Fatalf("bulk header %q, want $%d", l, n)
	}
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		k, err := c.r.Read(buf[:min(len(buf), left)])
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(buf[:k], []byte{fill}) != k {
			t.Fatalf("bulk of %d bytes: unexpected content", n)
		}
		left -= k
	}
	if _, err := c.r.Discard(2); err != nil {
		t.Fatal(err)
	}
}

// TestLargeValueMemory: a 64 MiB SET, then MGET of it four times (256 MiB
// of replies), cost at most 1.5 times the value in peak RSS (plus the
// process's small baseline): the value is received into one buffer of its
// size and kept, and replies send it from the keyspace.
func TestLargeValueMemory(t *testing.T) {
	t.Run("no AOF", func(t *testing.T) { largeValueMemory(t) })
	// With the AOF, the writer writes the value from where it is kept.
	t.Run("AOF", func(t *testing.T) {
		largeValueMemory(t, "-aof", filepath.Join(t.TempDir(), "appendonly.aof"), "-appendfsync", "always")
	})
}

func largeValueMemory(t *testing.T, args ...string) {
	p := startProc(t, args...)
	const size = 64 << 20
	val := bytes.Repeat([]byte{'v'}, size)
	c := dialBig(t, p.addr)
	c.send(t, []byte("SET"), []byte("big"), val)
	if l := c.line(t); l != "+OK" {
		t.Fatalf("SET: %s", l)
	}
	base := int64(24 << 20) // the runtime, the binary, buffers
	afterSet := peakRSS(t, p.cmd.Process.Pid)
	c.send(t, []byte("MGET"), []byte("big"), []byte("big"), []byte("big"), []byte("big"))
	if l := c.line(t); l != "*4" {
		t.Fatalf("MGET: %s", l)
	}
	for range 4 {
		c.skipBulk(t, size, 'v')
	}
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("peak RSS after SET %d MiB, after MGET x4 %d MiB", afterSet>>20, peak>>20)
	if limit := base + size*3/2; afterSet > limit || peak > limit {
		t.Fatalf("peak RSS %d MiB after SET, %d MiB after MGET, of a %d MiB value (limit %d MiB)", afterSet>>20, peak>>20, size>>20, limit>>20)
	}
}

// TestReplyByReferenceIsStable: a large value sent by reference is not
// changed by the commands after it in the same read batch (they run before
// the batch's replies are written).
func TestReplyByReferenceIsStable(t *testing.T) {
	addr := startServer(t, Config{})
	const size = 3 << 20 // below the output high-water mark: one batch
	c := dialBig(t, addr)
	orig := bytes.Repeat([]byte{'o'}, size)
	c.send(t, []byte("SET"), []byte("v"), orig)
	if l := c.line(t); l != "+OK" {
		t.Fatalf("SET: %s", l)
	}
	var pipe bytes.Buffer
	for _, cmd := range [][]string{
		{"GET", "v"}, {"SETRANGE", "v", "0", "ZZ"}, {"SETBIT", "v", "100", "0"}, {"APPEND", "v", "tail"},
		{"GET", "v"},
	} {
		fmt.Fprintf(&pipe, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(&pipe, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := c.Write(pipe.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got := c.bulk(t); !bytes.Equal(got, orig) {
		t.Fatalf("GET v changed by the commands after it: %q...", got[:16])
	}
	for _, want := range []string{":3145728", ":1", ":3145732"} {
		if l := c.line(t); l != want {
			t.Fatalf("reply %q, want %q", l, want)
		}
	}
	got := c.bulk(t)
	if len(got) != size+4 || string(got[:2]) != "ZZ" || got[12] != 'o'&^0x08 || string(got[size:]) != "tail" {
		t.Fatalf("GET v after the changes: %q ... %q", got[:16], got[len(got)-8:])
	}
}

// TestKeptInputIsStable: large values received into buffers of their own
// and kept as they are stay intact whatever follows them in the pipeline,
// and each key keeps its own.
func TestKeptInputIsStable(t *testing.T) {
	addr := startServer(t, Config{})
	c := dialBig(t, addr)
	a := bytes.Repeat([]byte{'a'}, 3<<20)
	b := bytes.Repeat([]byte{'b'}, 2<<20+7)
	c.send(t, []byte("MSET"), []byte("a"), a, []byte("b"), b)
	c.send(t, []byte("SET"), []byte("c"), a[:keepMin], []byte("EX"), []byte("1000"))
	c.send(t, []byte("SETRANGE"), []byte("a"), []byte("1"), []byte("XY"))
	c.send(t, []byte("APPEND"), []byte("c"), []byte("++"))
	c.send(t, []byte("SET"), []byte("d"), b)
	c.send(t, []byte("SET"), []byte("d"), a)
	for _, want := range []string{"+OK", "+OK", ":3145728", fmt.Sprintf(":%d", keepMin+2), "+OK", "+OK"} {
		if l := c.line(t); l != want {
			t.Fatalf("reply %q, want %q", l, want)
		}
	}
	want := map[string][]byte{
		"a": append(append([]byte("a"), "XY"...), a[3:]...),
		"b": b,
		"c": append(append([]byte(nil), a[:keepMin]...), "++"...),
		"d": a,
	}
	for k, v := range want {
		c.send(t, []byte("GET"), []byte(k))
		if got := c.bulk(t); !bytes.Equal(got, v) {
			t.Fatalf("%s: %d bytes %q..., want %d bytes %q...", k, len(got), got[:8], len(v), v[:8])
		}
	}
}

func TestPendingNeed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"GET x\r\n", 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\nabc", 4 + 9 + 7 + 10 + 1048576 + 2},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\nabc", 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10485760", 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n", 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999999999999\r\n", 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9223372036854775807\r\n", 0},
		{"*-1\r\n", 0},
		{"*2\r\n:3\r\n", 0},
	} {
		if got := pendingNeed([]byte(tc.in), 512<<20); got != tc.want {
			t.Errorf("pendingNeed(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// fakeTaker records the reservations asked of a connection.
type fakeTaker struct {
	netConn
	reserved int
}

func (f *fakeTaker) ReserveInput(n int) { f.reserved = n }
func (f *fakeTaker) TakeInput() []byte  { return nil }

// TestReserveOnlyAuthenticated: a client that has not authenticated (with
// a password required) gets no buffer sized by its header.
func TestReserveOnlyAuthenticated(t *testing.T) {
	head := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n")
	for _, tc := range []struct {
		pass string
		auth bool
		want bool
	}{{"", false, true}, {"secret", false, false}, {"secret", true, true}} {
		s := newServer(Config{MaxReq: 512 << 20, RequirePass: tc.pass})
		f := &fakeTaker{}
		c := s.newClient(f)
		c.authenticated = tc.auth || tc.pass == ""
		s.reserveInput(c, head)
		if got := f.reserved > 0; got != tc.want {
			t.Errorf("requirepass %q, authenticated %v: reserved %d", tc.pass, tc.auth, f.reserved)
		}
	}
}

// TestAOFLargeValuesByReference: large values written to the AOF from the
// input buffers they are kept in come back intact after a kill -9, also
// when they were changed after being written.
func TestAOFLargeValuesByReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appendonly.aof")
	p := startProc(t, "-aof", path, "-appendfsync", "always")
	c := dialBig(t, p.addr)
	fill := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	want := map[string][]byte{}
	c.send(t, []byte("SET"), []byte("a"), fill(4<<20, 'a'))
	c.send(t, []byte("SET"), []byte("b"), fill(3<<20, 'b'), []byte("EX"), []byte("1000"))
	c.send(t, []byte("MSET"), []byte("c"), fill(2<<20, 'c'), []byte("d"), fill(2<<20+1, 'd'))
	c.send(t, []byte("APPEND"), []byte("e"), fill(2<<20, 'e'))
	c.send(t, []byte("SETRANGE"), []byte("a"), []byte("0"), []byte("ZZ"))
	c.send(t, []byte("APPEND"), []byte("c"), []byte("++"))
	for range 6 {
		if l := c.line(t); l[0] == '-' {
			t.Fatal(l)
		}
	}
	want["a"] = append([]byte("ZZ"), fill(4<<20-2, 'a')...)
	want["b"] = fill(3<<20, 'b')
	want["c"] = append(fill(2<<20, 'c'), "++"...)
	want["d"] = fill(2<<20+1, 'd')
	want["e"] = fill(2<<20, 'e')
	p.kill9(t)
	p2 := startProc(t, "-aof", path)
	c2 := dialBig(t, p2.addr)
	for k, v := range want {
		c2.send(t, []byte("GET"), []byte(k))
		if got := c2.bulk(t); !bytes.Equal(got, v) {
			t.Fatalf("%s after a restart: %d bytes %q..., want %d bytes %q...", k, len(got), got[:min(8, len(got))], len(v), v[:8])
		}
	}
}
