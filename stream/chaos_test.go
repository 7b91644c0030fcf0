//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Clients that misbehave at random (reset, close at once, half-close, stop
// reading, send garbage) against a server that replies a lot and closes,
// aborts or pauses connections at random: every accepted connection gets
// exactly one OnClose, no callback runs after it, and nothing panics.
func TestChaos(t *testing.T) {
	type state struct {
		opened, closed int
		dead           map[uint64]bool
		r              *rand.Rand
	}
	st := state{dead: map[uint64]bool{}, r: rand.New(rand.NewPCG(5, 6))}
	big := make([]byte, 256<<10)
	var ln *stream.Listener[state]
	check := func(s *state, c *stream.Conn[state], what string) {
		if s.dead[c.ID()] {
			t.Errorf("%s after OnClose", what)
		}
	}
	e := start(t, &st, func(l *calloop.Loop[state]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{HighWater: 64 << 10, MaxOutput: 4 << 20, MaxInput: 1 << 20, CloseTimeout: time.Second}, stream.Handler[state]{
			OnOpen: func(s *state, c *stream.Conn[state]) {
				check(s, c, "OnOpen")
				s.opened++
			},
			OnData: func(s *state, c *stream.Conn[state], in []byte) int {
				check(s, c, "OnData")
				switch s.r.IntN(20) {
				case 0:
					c.Close()
				case 1:
					c.Abort()
				case 2:
					c.CloseWrite()
				case 3:
					c.PauseReading()
					l.AddTimer(time.Millisecond, func(*state, time.Time) calloop.TimerAction {
						c.ResumeReading()
						return calloop.Drop()
					})
				case 4:
					return 0 // keep everything (MaxInput)
				default:
					c.Write(big[:s.r.IntN(len(big))])
				}
				return s.r.IntN(len(in) + 1)
			},
			OnReadClosed: func(s *state, c *stream.Conn[state]) {
				check(s, c, "OnReadClosed")
				c.Write([]byte("bye"))
				c.Close()
			},
			OnClose: func(s *state, c *stream.Conn[state], err error) {
				check(s, c, "OnClose")
				s.dead[c.ID()] = true
				s.closed++
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	const clients = 200
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 9))
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 64<<10)
			for range 1 + r.IntN(20) {
				c.Write(buf[:1+r.IntN(len(buf))])
				if r.IntN(2) == 0 {
					c.Read(buf)
				}
			}
			switch r.IntN(4) {
			case 0:
				c.(*net.TCPConn).SetLinger(0) // reset
			case 1:
				c.(*net.TCPConn).CloseWrite()
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	e.waitFor("every connection closed", func(s *state) bool { return s.opened == clients && s.closed == clients })
	e.do(func(s *state) { ln.Close() })
}
