package calloop_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/calloop-go/calloop"
)

var testKey = calloop.NewKey("calloop_test.registry")

// registry is a per-loop value whose type depends on the loop's state type.
type registry[S any] struct {
	l      *calloop.Loop[S]
	closed *int
}

func (r *registry[S]) Close() error {
	*r.closed++
	return nil
}

func TestValueCreatedOncePerLoop(t *testing.T) {
	a := newLoop[int](t)
	b := newLoop[string](t)
	created := 0
	var closedA, closedB int
	ra, err := calloop.Value(a, testKey, func() (*registry[int], error) {
		created++
		return &registry[int]{l: a, closed: &closedA}, nil
	})
	must(t, err)
	ra2, err := calloop.Value(a, testKey, func() (*registry[int], error) {
		created++
		return nil, errors.New("must not be called")
	})
	must(t, err)
	if ra != ra2 || created != 1 {
		t.Fatalf("second Value: same=%v created=%d, want same value, created once", ra == ra2, created)
	}
	// The same key on a loop of another state type holds another type.
	rb, err := calloop.Value(b, testKey, func() (*registry[string], error) {
		created++
		return &registry[string]{l: b, closed: &closedB}, nil
	})
	must(t, err)
	if rb.l != b || created != 2 {
		t.Fatalf("Value on loop b: created=%d", created)
	}
	if got, ok := calloop.LookupValue[int, *registry[int]](a, testKey); !ok || got != ra {
		t.Fatalf("LookupValue = %v, %v", got, ok)
	}
	must(t, a.Close())
	if closedA != 1 || closedB != 0 {
		t.Fatalf("after a.Close: closedA=%d closedB=%d, want 1 0", closedA, closedB)
	}
	if _, ok := calloop.LookupValue[int, *registry[int]](a, testKey); ok {
		t.Fatal("value still there after Close")
	}
	if _, err := calloop.Value(a, testKey, func() (*registry[int], error) { return nil, nil }); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Value on a closed loop: %v, want ErrClosed", err)
	}
	must(t, a.Close()) // idempotent: nothing closed twice
	if closedA != 1 {
		t.Fatalf("closed %d times", closedA)
	}
}

func TestValueMisuse(t *testing.T) {
	l := newLoop[int](t)
	if _, err := calloop.Value(l, nil, func() (int, error) { return 1, nil }); err == nil {
		t.Fatal("nil key accepted")
	}
	if _, err := calloop.Value[int, int](l, testKey, nil); err == nil {
		t.Fatal("nil create accepted")
	}
	// A failing create stores nothing; the next call tries again.
	boom := errors.New("boom")
	if _, err := calloop.Value(l, testKey, func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("create error: %v", err)
	}
	if _, ok := calloop.LookupValue[int, int](l, testKey); ok {
		t.Fatal("failed create stored a value")
	}
	// Re-entrant creation of the same key.
	_, err := calloop.Value(l, testKey, func() (int, error) {
		_, err := calloop.Value(l, testKey, func() (int, error) { return 2, nil })
		if err == nil {
			t.Error("re-entrant Value succeeded")
		}
		return 1, nil
	})
	must(t, err)
	// Another type for the same key is an error, not a panic.
	if _, err := calloop.Value(l, testKey, func() (string, error) { return "", nil }); err == nil || !strings.Contains(err.Error(), "holds a int") {
		t.Fatalf("wrong type: %v", err)
	}
	if _, ok := calloop.LookupValue[int, string](l, testKey); ok {
		t.Fatal("LookupValue with the wrong type succeeded")
	}
}

func TestValueCloseOrderAndErrors(t *testing.T) {
	l, err := calloop.New[int]()
	must(t, err)
	var order []string
	keys := []*calloop.Key{calloop.NewKey("first"), calloop.NewKey("second"), calloop.NewKey("third")}
	for i, k := range keys {
		_, err := calloop.Value(l, k, func() (closerFunc, error) {
			return func() error {
				order = append(order, k.String())
				// The loop is closed for the values: sources cannot be added.
				if _, err := l.AddIdle(func(*int) {}); !errors.Is(err, calloop.ErrClosed) {
					t.Errorf("AddIdle from a value's Close: %v", err)
				}
				if i == 1 {
					return errors.New("second failed")
				}
				return nil
			}, nil
		})
		must(t, err)
	}
	// DeleteValue closes at once, and only once.
	del := calloop.NewKey("deleted")
	deleted := 0
	_, err = calloop.Value(l, del, func() (closerFunc, error) {
		return func() error { deleted++; return nil }, nil
	})
	must(t, err)
	must(t, calloop.DeleteValue(l, del))
	must(t, calloop.DeleteValue(l, del))
	err = l.Close()
	if err == nil || !strings.Contains(err.Error(), "second failed") {
		t.Fatalf("Close = %v, want the value's error", err)
	}
	if got := strings.Join(order, ","); got != "third,second,first" || deleted != 1 {
		t.Fatalf("close order %q deleted=%d, want third,second,first and 1", got, deleted)
	}
}

// TestValueClosedAfterSources checks that a value outlives the sources of
// its loop: a source's removal during Close may still use it.
func TestValueClosedAfterSources(t *testing.T) {
	l, err := calloop.New[int]()
	must(t, err)
	var log []string
	_, err = calloop.Value(l, testKey, func() (closerFunc, error) {
		return func() error { log = append(log, "value"); return nil }, nil
	})
	must(t, err)
	_, err = calloop.NewPing(l, func(*int) {})
	must(t, err)
	tx, err := calloop.NewChannel(l, func(_ *int, _ int, ok bool) {})
	must(t, err)
	must(t, l.Close())
	if err := tx.Send(1); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if len(log) != 1 {
		t.Fatalf("value closed %d times", len(log))
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// A package that layers on the loop keeps its per-loop state under a
// package-level key. The value's type may depend on the loop's state type.
func ExampleValue() {
	type App struct{}
	l, _ := calloop.New[App]()

	type counter[S any] struct{ n int }
	get := func() *counter[App] {
		c, _ := calloop.Value(l, exampleKey, func() (*counter[App], error) {
			fmt.Println("created")
			return &counter[App]{}, nil
		})
		return c
	}
	get().n++
	get().n++
	fmt.Println(get().n)
	l.Close()
	// Output:
	// created
	// 2
}

var exampleKey = calloop.NewKey("example.counter")
