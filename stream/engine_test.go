//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream

import (
	"testing"

	"github.com/calloop-go/calloop"
)

// The engine is the loop's per-loop value while the loop has listeners or
// connections of this package, and is gone after the last one closes:
// the package keeps no process-global state.
func TestEnginePerLoopValue(t *testing.T) {
	type S struct{}
	l, err := calloop.New[S]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := Handler[S]{OnData: func(*S, *Conn[S], []byte) int { return 0 }}
	ln, err := Listen(l, "tcp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := Listen(l, "tcp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := calloop.LookupValue[S, *engine[S]](l, engineKey)
	if !ok || e != ln.e || e != ln2.e {
		t.Fatalf("engine value %v %v, listeners' engines %p %p", e, ok, ln.e, ln2.e)
	}
	ln.Close()
	if _, ok := calloop.LookupValue[S, *engine[S]](l, engineKey); !ok {
		t.Fatal("engine gone while a listener remains")
	}
	ln2.Close()
	if _, ok := calloop.LookupValue[S, *engine[S]](l, engineKey); ok {
		t.Fatal("engine kept after the last listener closed")
	}

	// Another loop of the same state type has an engine of its own.
	l2, err := calloop.New[S]()
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	a, err := Listen(l, "tcp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen(l2, "tcp", "127.0.0.1:0", Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if a.e == b.e {
		t.Fatal("two loops share an engine")
	}
	a.Close()
	b.Close()
}
