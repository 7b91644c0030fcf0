//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package dgram_test

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/dgram"
)

// An echo server that answers in upper case, and a client that sends it
// three datagrams.
func Example() {
	type App struct{ replies int }

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	srv, err := dgram.Listen(l, "udp", "127.0.0.1:0", dgram.Config{}, dgram.Handler[App]{
		OnPacket: func(a *App, c *dgram.Conn[App], p []byte, from dgram.Addr) {
			// Replies sent from the callback leave together when it returns.
			c.SendTo([]byte(strings.ToUpper(string(p))), from)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	cli, err := dgram.Dial(l, "udp", "", srv.LocalAddr().String(), dgram.Config{}, dgram.Handler[App]{
		OnPacket: func(a *App, c *dgram.Conn[App], p []byte, from dgram.Addr) {
			a.replies++
			fmt.Printf("reply %q from the server: %v\n", p, from == srv.LocalAddr())
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{"one", "two", "three"} {
		if err := cli.Send([]byte(m)); err != nil {
			log.Fatal(err)
		}
	}

	var app App
	deadline := time.Now().Add(5 * time.Second)
	for app.replies < 3 && time.Now().Before(deadline) {
		if err := l.Dispatch(100*time.Millisecond, &app); err != nil {
			log.Fatal(err)
		}
	}
	cli.Close()
	srv.Close()
	// Output:
	// reply "ONE" from the server: true
	// reply "TWO" from the server: true
	// reply "THREE" from the server: true
}
