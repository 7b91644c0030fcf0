package calloop_test

import (
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// Helpers of the composition tests (value_test.go, token_test.go,
// children_test.go, wake_test.go).

// mkLoop creates a loop closed at the end of the test.
func mkLoop[S any](t testing.TB) *calloop.Loop[S] {
	t.Helper()
	l, err := calloop.New[S]()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// spinUntil dispatches l until cond holds, failing the test after a
// watchdog of five seconds.
func spinUntil[S any](t testing.TB, l *calloop.Loop[S], s *S, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within the watchdog")
		}
		if err := l.Dispatch(10*time.Millisecond, s); err != nil {
			t.Fatalf("Dispatch: %v", err)
		}
	}
}

// must fails the test on a non-nil error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
