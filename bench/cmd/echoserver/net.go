package main

import (
	"net"
)

// serveNet is the echo server on Go's standard net package: one goroutine
// per connection, each reading and writing back.
func serveNet(addr string, ready func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ready()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				k, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:k]); err != nil {
					return
				}
			}
		}()
	}
}
