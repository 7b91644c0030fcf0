package main

import (
	"context"
	"errors"
	"sync"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
	"github.com/panjf2000/gnet/v2"
)

// serveStreamLoops is the go-stream echo server on n loops, each running on
// its own goroutine with its own listener on the same port
// (stream.Config.ReusePort: SO_REUSEPORT, the kernel spreads the
// connections over the listeners). The loops share nothing.
func serveStreamLoops(addr string, n int, ready func()) error {
	type server struct{}
	handler := stream.Handler[server]{
		OnData: func(_ *server, c *stream.Conn[server], in []byte) int {
			c.Write(in)
			return len(in)
		},
	}
	loops := make([]*calloop.Loop[server], 0, n)
	defer func() {
		for _, l := range loops {
			l.Close()
		}
	}()
	for range n {
		l, err := calloop.New[server](loopOptions...)
		if err != nil {
			return err
		}
		loops = append(loops, l)
		ln, err := stream.Listen(l, "tcp", addr, stream.Config{ReusePort: true}, handler)
		if err != nil {
			return err
		}
		defer ln.Close()
	}
	ready()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Go(func() { errs[i] = l.Run(context.Background(), &server{}) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serveGnetLoops is gnet v2 with n event loops, each with its own
// SO_REUSEPORT listener (gnet's WithReusePort mode on Linux), the same
// arrangement as serveStreamLoops.
func serveGnetLoops(addr string, n int, ready func()) error {
	return gnet.Run(&gnetEcho{ready: ready}, "tcp://"+addr,
		gnet.WithNumEventLoop(n), gnet.WithMulticore(n > 1), gnet.WithReusePort(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay))
}
