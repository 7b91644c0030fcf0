//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// ReadFD and WriteFD in fd callbacks: one end of a socketpair echoes what it
// reads in upper case, the other prints the reply.
func ExampleReadFD() {
	type app struct{ replies int }
	l, err := calloop.New[app]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	client, server := sv[0], sv[1]
	defer unix.Close(client)
	defer unix.Close(server)
	for _, fd := range sv {
		if err := unix.SetNonblock(fd, true); err != nil { // ReadFD's requirement
			log.Fatal(err)
		}
	}

	buf := make([]byte, 512) // one buffer, reused by every callback
	l.AddFD(server, calloop.Readable, calloop.Level, func(_ *app, _ calloop.Events) calloop.Action {
		n, err := calloop.ReadFD(server, buf)
		switch {
		case err == unix.EAGAIN:
			return calloop.Continue // nothing after all
		case err != nil || n == 0:
			return calloop.Remove // error or end of file
		}
		calloop.WriteFD(server, bytes.ToUpper(buf[:n])) // small: the socket takes it whole
		return calloop.Continue
	})
	l.AddFD(client, calloop.Readable, calloop.Level, func(a *app, _ calloop.Events) calloop.Action {
		n, err := calloop.ReadFD(client, buf)
		if err != nil || n == 0 {
			return calloop.Continue
		}
		fmt.Printf("%s\n", buf[:n])
		if a.replies++; a.replies == 2 {
			l.Stop()
		} else {
			calloop.WriteFD(client, []byte("second"))
		}
		return calloop.Continue
	})

	calloop.WriteFD(client, []byte("first"))
	if err := l.Run(context.Background(), &app{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// FIRST
	// SECOND
}
