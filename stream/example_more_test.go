//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// Both ends of a pipe wrapped on one loop: the writer sends a large value
// by reference (WriteRef: no copy; release says when the bytes are free
// again) and half-closes; the reader counts the bytes and sees the end.
func ExampleWrap() {
	type App struct{ got int }

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	// The connections own their descriptors: hand over duplicates and
	// close the files.
	rfd, wfd := dup(r), dup(w)

	value := make([]byte, 1<<20)
	_, err = stream.Wrap(l, wfd, stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) {
			c.WriteRef(value, func() { fmt.Println("writer: value released") })
			c.CloseWrite() // the reader gets EOF after the value
		},
		OnData:  func(a *App, c *stream.Conn[App], in []byte) int { return len(in) },
		OnClose: func(a *App, c *stream.Conn[App], err error) { fmt.Println("writer: closed, err:", err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = stream.Wrap(l, rfd, stream.Config{}, stream.Handler[App]{
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			a.got += len(in)
			return len(in)
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) {
			fmt.Println("reader: got", a.got, "bytes, err:", err)
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
	// writer: value released
	// writer: closed, err: <nil>
	// reader: got 1048576 bytes, err: <nil>
}

func dup(f *os.File) int {
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	fd := -1
	sc.Control(func(raw uintptr) { fd, err = dupCloexec(int(raw)) })
	if err != nil {
		log.Fatal(err)
	}
	return fd
}

// A server that handles one request per OnData call and asks for the rest
// with OfferAgain, shut down with Listener.Shutdown once its client has
// its replies.
func ExampleListener_Shutdown() {
	type App struct {
		ln      *stream.Listener[App]
		replies int
	}

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	app := &App{}
	app.ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[App]{
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			c.Write(in[:1]) // one request (a byte) per call...
			c.OfferAgain()  // ...and the rest offered again, without new data
			return 1
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) { fmt.Println("server: connection closed, err:", err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = stream.Dial(l, "tcp", app.ln.Addr().String(), 0, stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) { c.WriteString("abc") },
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			if a.replies += len(in); a.replies == 3 {
				fmt.Println("client: 3 replies")
				a.ln.Shutdown(0, func(a *App, err error) {
					fmt.Println("server: shut down, err:", err)
					l.Stop()
				})
			}
			return len(in)
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) { fmt.Println("client: closed, err:", err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Run(context.Background(), app); err != nil {
		log.Fatal(err)
	}
	// Output:
	// client: 3 replies
	// client: closed, err: <nil>
	// server: connection closed, err: <nil>
	// server: shut down, err: <nil>
}
