package main

import (
	"context"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// serveStream is the echo server on one calloop loop with the library's
// stream package: a listener and buffered connections, written as the
// package documentation shows (OnData writes what it got and consumes it).
func serveStream(addr string, ready func()) error {
	type server struct{}
	l, err := calloop.New[server](loopOptions...)
	if err != nil {
		return err
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", addr, stream.Config{}, stream.Handler[server]{
		OnData: func(_ *server, c *stream.Conn[server], in []byte) int {
			c.Write(in)
			return len(in)
		},
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	ready()
	return l.Run(context.Background(), &server{})
}
