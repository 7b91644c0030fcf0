package main

import (
	"github.com/panjf2000/gnet/v2"
)

// gnetEcho is gnet's own echo handler, as in its README.
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
	return gnet.Run(&gnetEcho{ready: ready}, "tcp://"+addr,
		gnet.WithNumEventLoop(1), gnet.WithMulticore(false), gnet.WithReusePort(false),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay))
}
