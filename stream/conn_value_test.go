//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"errors"
	"net"
	"testing"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

type session struct{ name string }

var (
	sessionKey = stream.NewConnKey[*session]("session")
	otherKey   = stream.NewConnKey[*session]("session") // same name and type: another key
	countKey   = stream.NewConnKey[int]("count")
	errKey     = stream.NewConnKey[error]("err")
)

type valState struct {
	conn    *stream.Conn[valState]
	inClose *session
	count   int
	closed  int
}

func TestConnKey(t *testing.T) {
	var st valState
	var ln *stream.Listener[valState]
	e := start(t, &st, func(l *calloop.Loop[valState]) {
		var err error
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[valState]{
			OnOpen: func(s *valState, c *stream.Conn[valState]) {
				s.conn = c
				sessionKey.Set(c, &session{name: "a"})
			},
			OnData: func(s *valState, c *stream.Conn[valState], in []byte) int {
				countKey.Set(c, countKey.Get(c)+len(in))
				return len(in)
			},
			OnClose: func(s *valState, c *stream.Conn[valState], err error) {
				s.closed++
				s.inClose = sessionKey.Get(c)
				s.count = countKey.Get(c)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	defer e.do(func(*valState) { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	e.waitFor("input", func(s *valState) bool { return s.conn != nil && countKey.Get(s.conn) == 5 })
	e.do(func(s *valState) {
		c := s.conn
		if got := sessionKey.Get(c); got == nil || got.name != "a" {
			t.Fatalf("sessionKey.Get = %v", got)
		}
		// A key with the same name and type is another key.
		if v, ok := otherKey.Lookup(c); ok || v != nil {
			t.Fatalf("otherKey.Lookup = %v %v, want nothing", v, ok)
		}
		otherKey.Set(c, &session{name: "b"})
		if sessionKey.Get(c).name != "a" || otherKey.Get(c).name != "b" {
			t.Fatal("two keys share a value")
		}
		otherKey.Delete(c)
		otherKey.Delete(c) // deleting nothing does nothing
		if _, ok := otherKey.Lookup(c); ok {
			t.Fatal("Delete left the value")
		}
		if sessionKey.Get(c).name != "a" || countKey.Get(c) != 5 {
			t.Fatal("Delete of one key removed another")
		}
		// A nil interface value is a value.
		errKey.Set(c, nil)
		if v, ok := errKey.Lookup(c); !ok || v != nil {
			t.Fatalf("errKey.Lookup = %v %v, want nil true", v, ok)
		}
		errKey.Set(c, errors.New("x"))
		if errKey.Get(c) == nil {
			t.Fatal("errKey lost its value")
		}
		if sessionKey.String() != "session" {
			t.Fatalf("String = %q", sessionKey.String())
		}
		// Get, Lookup and a Set of a pointer allocate nothing.
		sess := &session{}
		if n := testing.AllocsPerRun(100, func() {
			sessionKey.Set(c, sess)
			_ = sessionKey.Get(c)
			_, _ = countKey.Lookup(c)
		}); n != 0 {
			t.Fatalf("%v allocations per Set/Get", n)
		}
		// The deprecated Context still works.
		c.SetContext("ctx")
		if c.Context() != "ctx" {
			t.Fatal("Context lost its value")
		}
	})
	c.Close()
	e.waitFor("close", func(s *valState) bool { return s.closed == 1 })
	e.do(func(s *valState) {
		if s.inClose == nil || s.count != 5 {
			t.Fatalf("in OnClose: session %v, count %d", s.inClose, s.count)
		}
		// Dropped after OnClose; Set is ignored from then on.
		if v, ok := sessionKey.Lookup(s.conn); ok || v != nil {
			t.Fatalf("after OnClose: %v %v", v, ok)
		}
		sessionKey.Set(s.conn, &session{})
		if _, ok := sessionKey.Lookup(s.conn); ok {
			t.Fatal("Set after OnClose kept a value")
		}
	})
}
