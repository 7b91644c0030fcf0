package stream_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Accepted and dialled TCP connections have TCP_NODELAY set.
func TestNoDelay(t *testing.T) {
	var st dialState
	var conns []*stream.Conn[dialState]
	h := dialHandler()
	h.OnOpen = func(s *dialState, c *stream.Conn[dialState]) {
		s.opened++
		conns = append(conns, c)
	}
	e := start(t, &st, func(l *calloop.Loop[dialState]) {
		ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
		_ = ln // closed with the loop (stop, in the cleanup)
		if _, err := stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, h); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("both open", func(s *dialState) bool { return s.opened == 2 })
	e.do(func(s *dialState) {
		for _, c := range conns {
			v, err := syscall.GetsockoptInt(c.FD(), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
			if err != nil || v == 0 {
				t.Errorf("%v: TCP_NODELAY %d, %v", c.LocalAddr(), v, err)
			}
			c.Abort()
		}
	})
}
