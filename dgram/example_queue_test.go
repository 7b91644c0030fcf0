//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package dgram_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/dgram"
)

// Backpressure on a Unix datagram socket: the receiver stops reading, the
// sender's send queue fills to HighWater and SendTo fails with ErrFull;
// once the receiver reads again, the queue drains, OnDrain says so, and
// every datagram SendTo accepted arrives.
func ExampleConn_SendTo() {
	type App struct{ received, drained int }

	dir, err := os.MkdirTemp("", "dgram-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	rcvPath := filepath.Join(dir, "receiver")
	rcv, err := dgram.Listen(l, "unixgram", rcvPath, dgram.Config{}, dgram.Handler[App]{
		OnPacket: func(a *App, c *dgram.Conn[App], p []byte, from dgram.Addr) { a.received++ },
	})
	if err != nil {
		log.Fatal(err)
	}
	snd, err := dgram.Dial(l, "unixgram", "", rcvPath, dgram.Config{HighWater: 64 << 10}, dgram.Handler[App]{
		OnPacket: func(*App, *dgram.Conn[App], []byte, dgram.Addr) {},
		OnDrain:  func(a *App, c *dgram.Conn[App]) { a.drained++ },
	})
	if err != nil {
		log.Fatal(err)
	}

	rcv.PauseReading()
	accepted := 0
	for {
		err := snd.Send(make([]byte, 1024))
		if errors.Is(err, dgram.ErrFull) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		accepted++
	}
	fmt.Println("queue full, bytes queued within HighWater:", snd.Queued() <= 64<<10)

	rcv.ResumeReading()
	var a App
	for deadline := time.Now().Add(10 * time.Second); a.received < accepted && time.Now().Before(deadline); {
		if err := l.Dispatch(100*time.Millisecond, &a); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("every accepted datagram arrived:", a.received == accepted)
	fmt.Println("OnDrain calls:", a.drained)
	// Output:
	// queue full, bytes queued within HighWater: true
	// every accepted datagram arrived: true
	// OnDrain calls: 1
}
