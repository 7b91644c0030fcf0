//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type pingState struct {
	rounds, want, got int
	msg               []byte
}

// benchEcho measures round trips of size-byte messages between a stream
// client and a stream echo server on one loop, driven by Dispatch.
func benchEcho(b *testing.B, network string, size int) {
	benchEchoCfg(b, network, size, stream.Config{})
}

// cpuTime returns the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEchoCfg is benchEcho with cfg on both sides. Besides the wall time
// it reports the process's CPU time per round trip (cpu-ns/op), which a
// machine busy with other work disturbs less.
func benchEchoCfg(b *testing.B, network string, size int, cfg stream.Config) {
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = sockPath(b)
	}
	l, err := calloop.New[pingState]()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, network, addr, cfg, stream.Handler[pingState]{
		OnData: func(_ *pingState, c *stream.Conn[pingState], in []byte) int {
			c.Write(in)
			return len(in)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	st := pingState{msg: make([]byte, size), want: size}
	_, err = stream.Dial(l, network, ln.Addr().String(), time.Second, cfg, stream.Handler[pingState]{
		OnOpen: func(s *pingState, c *stream.Conn[pingState]) { c.Write(s.msg) },
		OnData: func(s *pingState, c *stream.Conn[pingState], in []byte) int {
			s.got += len(in)
			if s.got == s.want {
				s.got = 0
				s.rounds++
				c.Write(s.msg)
			}
			return len(in)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	for st.rounds < 100 { // warm up: connect, grow the buffers
		if err := l.Dispatch(-1, &st); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(2 * size))
	b.ReportAllocs()
	b.ResetTimer()
	st.rounds = 0
	cpu := cpuTime()
	for st.rounds < b.N {
		if err := l.Dispatch(-1, &st); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	ln.Close()
}

// BenchmarkEchoTCP64Timeouts is EchoTCP64 with the three timeouts set on
// both sides: the cost of timing the activity (a clock reading per read
// and per write, no timer operation).
func BenchmarkEchoTCP64Timeouts(b *testing.B) {
	benchEchoCfg(b, "tcp", 64, stream.Config{IdleTimeout: time.Hour, ReadTimeout: time.Hour, WriteTimeout: time.Hour})
}

func BenchmarkEchoTCP64(b *testing.B)    { benchEcho(b, "tcp", 64) }
func BenchmarkEchoUnix64(b *testing.B)   { benchEcho(b, "unix", 64) }
func BenchmarkEchoTCP16K(b *testing.B)   { benchEcho(b, "tcp", 16<<10) }
func BenchmarkEchoTCP256K(b *testing.B)  { benchEcho(b, "tcp", 256<<10) }
func BenchmarkEchoUnix256K(b *testing.B) { benchEcho(b, "unix", 256<<10) }

// BenchmarkEchoTCP64Peer has the stream echo server on the loop and a
// net.Conn client on another goroutine, as with an external client.
func BenchmarkEchoTCP64Peer(b *testing.B) {
	var st echoState
	l, err := calloop.New[echoState]()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, echoHandler())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(b.Context(), &st) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	l.Stop()
	<-done
	l.Close()
}

// BenchmarkNetEchoTCP64 is the same ping-pong with the net package and a
// goroutine per connection, for comparison.
func BenchmarkNetEchoTCP64(b *testing.B) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer nl.Close()
	go func() {
		s, err := nl.Accept()
		if err != nil {
			return
		}
		io.Copy(s, s)
		s.Close()
	}()
	c, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
