//go:build linux

package dgram

import (
	"bytes"
	"testing"
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
