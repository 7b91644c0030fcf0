//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// The decoder of the terminal source, fed through a pipe.
func TestTerminalKeys(t *testing.T) {
	l, err := calloop.New[int]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	term, err := newTerminal(l, p[0], p[1], 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	keys := term.Keys()
	if err := keys.Adopt(term.Token()); err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Sink(func(_ *int, k string, ok bool) {
		if ok {
			got = append(got, k)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var s int
	expect := func(input string, want ...string) {
		t.Helper()
		got = nil
		if _, err := unix.Write(p[1], []byte(input)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			if err := l.Dispatch(10*time.Millisecond, &s); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %q, want %q", input, got, want)
		}
	}
	expect("ab\r", "a", "b", "Enter")
	expect("\x03\x7f", "Ctrl-C", "Backspace")
	expect("\x1b[A\x1b[B\x1bOC\x1b[1;5D", "Up", "Down", "Right", "Left")
	expect("\x1bx", "Alt-x")
	// A lone ESC is the Esc key once nothing follows within the timeout;
	// two in a row are two.
	start := time.Now()
	expect("\x1b", "Esc")
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("Esc decided after %v, before the timeout", el)
	}
	expect("\x1b\x1b", "Esc", "Esc")
	// An incomplete sequence times out into its bytes.
	expect("\x1b[", "Esc", "[")
	// An endless sequence is cut off.
	expect("\x1b["+strings.Repeat("1", 40)+"A", append(append([]string{"Esc?"}, strings.Split(strings.Repeat("1", 10), "")...), "A")...)
	// Removing the one token takes the whole input away: descriptor,
	// timer and signal watch.
	if err := l.Remove(tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(term.Token()); err != calloop.ErrInvalidToken {
		t.Fatalf("terminal source kept: %v", err)
	}
	if _, err := l.AddFD(p[0], calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action { return calloop.Continue }); err != nil {
		t.Fatalf("the descriptor is still registered: %v", err)
	}
}
