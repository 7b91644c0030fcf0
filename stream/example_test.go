//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// An echo server and a line client dialled through the same loop: the
// client sends two lines, prints the echoes, and closes; the server sees
// the end of input and closes too, and the client, which waited for the
// server's end (see Conn.Close), is closed last.
func Example() {
	type App struct {
		lines int // lines the client received
		conns int // server connections open
	}

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) { a.conns++ },
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			c.Write(in) // echo everything
			return len(in)
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) {
			a.conns--
			fmt.Println("server: connection closed, err:", err)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) {
			c.WriteString("hello\n")
			c.WriteString("world\n") // both lines go out in one write
		},
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			n := 0 // consume whole lines only; a partial line is offered again
			for {
				i := bytes.IndexByte(in[n:], '\n')
				if i < 0 {
					return n
				}
				fmt.Printf("client: echo %q\n", in[n:n+i])
				n += i + 1
				if a.lines++; a.lines == 2 {
					c.Close()
				}
			}
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) {
			fmt.Println("client: closed, err:", err)
			l.Stop()
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	var app App
	if err := l.Run(context.Background(), &app); err != nil {
		log.Fatal(err)
	}
	fmt.Println("server connections open:", app.conns)
	// Output:
	// client: echo "hello"
	// client: echo "world"
	// server: connection closed, err: <nil>
	// client: closed, err: <nil>
	// server connections open: 0
}
