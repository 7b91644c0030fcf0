//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// A server that answers each line with the line in upper case, and a
// client dialled through the same loop.
func ExampleListen() {
	type App struct{}
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Framed(stream.Lines(1024),
		func(_ *App, c *stream.Conn[App], line []byte) {
			c.Write(bytes.ToUpper(line))
			c.WriteString("\n")
		},
		stream.Handler[App]{}))
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnOpen: func(_ *App, c *stream.Conn[App]) { c.WriteString("hello, loop\n") },
		OnData: func(_ *App, c *stream.Conn[App], in []byte) int {
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				return 0 // wait for the whole line
			}
			fmt.Printf("%s\n", in[:i])
			l.Stop()
			return i + 1
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Run(context.Background(), &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// HELLO, LOOP
}

// Dial returns at once; OnOpen follows when the connection is established,
// or OnClose with the error when it fails. Output written before OnOpen
// is queued.
func ExampleDial() {
	type App struct{}
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[App]{
		OnData: func(_ *App, c *stream.Conn[App], in []byte) int {
			if bytes.Equal(in, []byte("ping")) {
				c.WriteString("pong")
				return len(in)
			}
			return 0
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	c, err := stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnOpen: func(*App, *stream.Conn[App]) { fmt.Println("connected") },
		OnData: func(_ *App, c *stream.Conn[App], in []byte) int {
			if len(in) < 4 {
				return 0
			}
			fmt.Printf("reply: %s\n", in)
			c.Close()
			return len(in)
		},
		OnClose: func(_ *App, _ *stream.Conn[App], err error) {
			fmt.Println("closed:", err)
			l.Stop()
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	c.WriteString("ping") // queued until the connection is established
	if err := l.Run(context.Background(), &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// connected
	// reply: pong
	// closed: <nil>
}

// A producer that streams 4 MiB to a client: it writes while the output
// is at or below HighWater, and writes more in OnDrain once the client has
// read enough. The output buffered never exceeds HighWater by more than
// one chunk, however slowly the client reads.
func ExampleHandler_onDrain() {
	const total, chunk, high = 4 << 20, 64 << 10, 256 << 10
	type App struct {
		sent, received, maxBuffered int
	}
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	data := make([]byte, chunk)
	produce := func(a *App, c *stream.Conn[App]) {
		for a.sent < total && c.Buffered() <= high {
			c.Write(data)
			a.sent += chunk
			a.maxBuffered = max(a.maxBuffered, c.Buffered())
		}
		if a.sent == total {
			c.Close() // after the buffered output is flushed
		}
	}
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{HighWater: high}, stream.Handler[App]{
		OnOpen:  produce,
		OnDrain: produce,
		OnData:  func(*App, *stream.Conn[App], []byte) int { return 0 },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			a.received += len(in)
			return len(in)
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) {
			fmt.Println("client received", a.received>>20, "MiB, err:", err)
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
	fmt.Println("output stayed within HighWater and one chunk:", app.maxBuffered <= high+chunk)
	// Output:
	// client received 4 MiB, err: <nil>
	// output stayed within HighWater and one chunk: true
}

// ReadTimeout closes a connection whose peer sends nothing for that long
// while the server waits for input; the error tells which timeout it was.
// (WriteTimeout and IdleTimeout work the same way.)
func ExampleConfig_readTimeout() {
	type App struct{}
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{ReadTimeout: 50 * time.Millisecond}, stream.Handler[App]{
		OnData: func(*App, *stream.Conn[App], []byte) int { return 0 },
		OnClose: func(_ *App, _ *stream.Conn[App], err error) {
			fmt.Println("server: read timeout:", errors.Is(err, stream.ErrReadTimeout))
			fmt.Println("server: deadline exceeded:", errors.Is(err, os.ErrDeadlineExceeded))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	// A client that connects and says nothing.
	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnData: func(*App, *stream.Conn[App], []byte) int { return 0 },
		OnClose: func(_ *App, _ *stream.Conn[App], err error) {
			fmt.Println("client: closed by the server, err:", err)
			l.Stop()
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Run(context.Background(), &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// server: read timeout: true
	// server: deadline exceeded: true
	// client: closed by the server, err: <nil>
}

// A length-prefixed protocol: each frame is a big-endian uint16 length and
// that many bytes. OnFrame gets the frames one at a time, without the
// prefix, however the bytes were split on the way.
func ExampleFramed() {
	type App struct{ frames int }
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Framed(stream.Uint16Frames(1024),
		func(a *App, c *stream.Conn[App], frame []byte) {
			fmt.Printf("frame %q\n", frame) // valid during the call only
			if a.frames++; a.frames == 3 {
				l.Stop()
			}
		},
		stream.Handler[App]{}))
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnOpen: func(_ *App, c *stream.Conn[App]) {
			c.Write([]byte("\x00\x05hello\x00\x00\x00\x05wor"))
			c.Write([]byte("ld"))
		},
		OnData: func(*App, *stream.Conn[App], []byte) int { return 0 },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Run(context.Background(), &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// frame "hello"
	// frame ""
	// frame "world"
}

// A typed value per connection: a session created in OnOpen and used in
// the other callbacks, without type assertions.
func ExampleConnKey() {
	type Session struct {
		user  string
		lines int
	}
	type App struct{}
	var sessionKey = stream.NewConnKey[*Session]("session")

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ln, err := stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Framed(stream.Lines(1024),
		func(_ *App, c *stream.Conn[App], line []byte) {
			sess := sessionKey.Get(c)
			if sess.user == "" {
				sess.user = string(line)
				return
			}
			sess.lines++
		},
		stream.Handler[App]{
			OnOpen: func(_ *App, c *stream.Conn[App]) { sessionKey.Set(c, &Session{}) },
			OnClose: func(_ *App, c *stream.Conn[App], err error) {
				sess := sessionKey.Get(c) // still readable in OnClose
				fmt.Printf("%s sent %d lines\n", sess.user, sess.lines)
				l.Stop()
			},
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	_, err = stream.Dial(l, "tcp", ln.Addr().String(), time.Second, stream.Config{}, stream.Handler[App]{
		OnOpen: func(_ *App, c *stream.Conn[App]) {
			c.WriteString("ann\nfirst\nsecond\n")
			c.Close()
		},
		OnData: func(*App, *stream.Conn[App], []byte) int { return 0 },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Run(context.Background(), &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// ann sent 2 lines
}
