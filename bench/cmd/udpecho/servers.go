//go:build linux

package main

import (
	"context"

	"github.com/panjf2000/gnet/v2"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/dgram"
)

// serveDgram is the echo server on calloop with package dgram.
func serveDgram(addr string, ready func()) error {
	type state struct{}
	l, err := calloop.New[state]()
	if err != nil {
		return err
	}
	defer l.Close()
	_, err = dgram.Listen(l, "udp", addr, dgram.Config{}, dgram.Handler[state]{
		OnPacket: func(_ *state, c *dgram.Conn[state], p []byte, from dgram.Addr) {
			c.SendTo(p, from)
		},
	})
	if err != nil {
		return err
	}
	ready()
	return l.Run(context.Background(), &state{})
}

// gnetEcho is gnet's echo handler for UDP.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	ready func()
}

func (e *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	e.ready()
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

// serveGnet is the echo server on gnet v2 with one event loop.
func serveGnet(addr string, ready func()) error {
	return gnet.Run(&gnetEcho{ready: ready}, "udp://"+addr,
		gnet.WithNumEventLoop(1), gnet.WithMulticore(false), gnet.WithReusePort(false))
}
