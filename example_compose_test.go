//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
)

// IdleConn is a composite source: a line-protocol connection made of a
// descriptor and an idle timer, both children of one source. Each line
// re-arms the timer; a peer silent for the idle time is disconnected. The
// user holds one token: Disable pauses the reading and the idle clock
// together, Remove takes both away.
type IdleConn[S any] struct {
	l      *calloop.Loop[S]
	reg    *calloop.Registrar // kept from Register: valid until removal
	tok    calloop.Token
	fd     int
	idle   time.Duration
	timer  calloop.Token
	buf    []byte
	OnLine func(s *S, c *IdleConn[S], line string)
	OnIdle func(s *S)
}

// AddIdleConn adds an IdleConn reading fd (non-blocking; the caller closes
// it after the connection is removed).
func AddIdleConn[S any](l *calloop.Loop[S], fd int, idle time.Duration,
	onLine func(*S, *IdleConn[S], string), onIdle func(*S)) (*IdleConn[S], error) {
	c := &IdleConn[S]{l: l, fd: fd, idle: idle, OnLine: onLine, OnIdle: onIdle}
	tok, err := l.AddSource(c)
	if err != nil {
		return nil, err
	}
	c.tok = tok
	// The children: created as usual, then adopted. Their callbacks are
	// method values made once, so an event allocates nothing.
	fdTok, err := l.AddFD(fd, calloop.Readable, calloop.Level, c.readable)
	if err == nil {
		err = c.reg.Adopt(fdTok)
	}
	if err == nil {
		c.timer, err = l.AddTimer(idle, c.expired)
	}
	if err == nil {
		err = c.reg.Adopt(c.timer)
	}
	if err != nil {
		l.Remove(tok) // and whichever children were adopted
		return nil, err
	}
	return c, nil
}

// Token returns the connection's token.
func (c *IdleConn[S]) Token() calloop.Token { return c.tok }

// Write sends a line to the peer.
func (c *IdleConn[S]) Write(line string) {
	syscall.Write(c.fd, []byte(line+"\n"))
}

// The parent itself registers nothing: its children do the work.
func (c *IdleConn[S]) Register(r *calloop.Registrar) error { c.reg = r; return nil }
func (c *IdleConn[S]) Unregister(*calloop.Registrar) error { return nil }
func (c *IdleConn[S]) Process(*S, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

func (c *IdleConn[S]) readable(s *S, _ calloop.Events) calloop.Action {
	var tmp [512]byte
	n, err := syscall.Read(c.fd, tmp[:])
	if n <= 0 && !errors.Is(err, syscall.EAGAIN) {
		c.l.Remove(c.tok) // end of file or error: the whole connection goes
		return calloop.Continue
	}
	if n > 0 {
		c.buf = append(c.buf, tmp[:n]...)
		c.l.ResetTimer(c.timer, c.idle)
	}
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			return calloop.Continue
		}
		line := string(c.buf[:i])
		c.buf = c.buf[i+1:]
		c.OnLine(s, c, line)
	}
}

func (c *IdleConn[S]) expired(s *S, _ time.Time) calloop.TimerAction {
	c.OnIdle(s)
	c.l.Remove(c.tok) // removes this timer too
	return calloop.Drop()
}

func Example_composite() {
	type App struct{ closed bool }
	l, _ := calloop.New[App]()
	defer l.Close()
	fds, _ := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	syscall.SetNonblock(fds[0], true)
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])

	conn, _ := AddIdleConn(l, fds[0], 50*time.Millisecond,
		func(a *App, c *IdleConn[App], line string) {
			fmt.Printf("got %q\n", line)
			c.Write("ok " + line)
		},
		func(a *App) {
			fmt.Println("idle: disconnecting")
			a.closed = true
		})
	var app App

	syscall.Write(fds[1], []byte("PING\nECHO hi\n"))
	l.Dispatch(time.Second, &app)

	// Disabled, the connection neither reads nor times out.
	l.Disable(conn.Token())
	syscall.Write(fds[1], []byte("LATE\n"))
	time.Sleep(80 * time.Millisecond) // longer than the idle time
	l.Dispatch(0, &app)
	fmt.Println("disabled: nothing delivered")
	l.Enable(conn.Token())

	for !app.closed {
		l.Dispatch(time.Second, &app)
	}
	replies := make([]byte, 100)
	n, _ := syscall.Read(fds[1], replies)
	fmt.Printf("peer read %q\n", replies[:n])
	fmt.Println("after the disconnect:", l.Remove(conn.Token()))
	// Output:
	// got "PING"
	// got "ECHO hi"
	// disabled: nothing delivered
	// got "LATE"
	// idle: disconnecting
	// peer read "ok PING\nok ECHO hi\nok LATE\n"
	// after the disconnect: calloop: invalid token
}

// group is a parent with no descriptor of its own: it only holds children.
type group struct{ reg *calloop.Registrar }

func (g *group) Register(r *calloop.Registrar) error { g.reg = r; return nil }
func (g *group) Unregister(*calloop.Registrar) error { return nil }
func (g *group) Process(*struct{}, uint16, calloop.Events) (calloop.Action, error) {
	return calloop.Continue, nil
}

// Children follow their parent: a ping raised while the parent is disabled
// is delivered once, after its Enable; removing the parent removes the ping.
func ExampleRegistrar_Adopt() {
	l, _ := calloop.New[struct{}]()
	defer l.Close()
	g := &group{}
	gtok, _ := l.AddSource(g)
	p, _ := calloop.NewPing(l, func(*struct{}) { fmt.Println("ping") })
	if err := g.reg.Adopt(p.Token()); err != nil {
		fmt.Println(err)
	}
	var s struct{}

	l.Disable(gtok)
	p.Ping()
	l.Dispatch(0, &s)
	fmt.Println("parent disabled: nothing yet")
	l.Enable(gtok)
	l.Dispatch(0, &s)

	l.Remove(gtok)
	fmt.Println("ping after its parent's removal:", l.Remove(p.Token()))
	// Output:
	// parent disabled: nothing yet
	// ping
	// ping after its parent's removal: calloop: invalid token
}
