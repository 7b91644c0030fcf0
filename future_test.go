package calloop_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/calloop-go/calloop"
)

type asyncState struct {
	n    int
	log  []string
	errs []error
}

// asyncCatch dispatches until Dispatch panics or cond holds, and returns
// the recovered value.
func asyncCatch[S any](t testing.TB, l *calloop.Loop[S], s *S) (r any) {
	t.Helper()
	deadline := time.Now().Add(watchdogTimeout)
	for time.Now().Before(deadline) {
		func() {
			defer func() { r = recover() }()
			if err := l.Dispatch(100*time.Millisecond, s); err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
		}()
		if r != nil {
			return r
		}
	}
	t.Fatalf("no panic within %v", watchdogTimeout)
	return nil
}

func TestGoDeliversResult(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	done := false
	_, err := calloop.Go(l, func(ctx context.Context) (int, error) { return 42, nil },
		func(s *asyncState, v int, err error) {
			s.n, done = v, true
			if err != nil {
				t.Errorf("err = %v", err)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return done })
	if s.n != 42 {
		t.Fatalf("n = %d", s.n)
	}
}

func TestGoError(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	boom := errors.New("boom")
	_, err := calloop.Go(l, func(ctx context.Context) (int, error) { return 0, boom },
		func(s *asyncState, v int, err error) { s.errs = append(s.errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(s.errs) == 1 })
	if !errors.Is(s.errs[0], boom) {
		t.Fatalf("err = %v", s.errs[0])
	}
}

func TestGoCancelFromOtherGoroutine(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	started := make(chan struct{})
	workDone := make(chan error, 1)
	f, err := calloop.Go(l, func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		workDone <- ctx.Err()
		return 7, nil // discarded: the future was cancelled
	}, func(s *asyncState, v int, err error) {
		s.n = v
		s.errs = append(s.errs, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	var wg sync.WaitGroup
	wg.Add(1)
	var won bool
	go func() { defer wg.Done(); won = f.Cancel() }()
	wg.Wait()
	if !won {
		t.Fatal("Cancel lost")
	}
	if f.Cancel() {
		t.Fatal("second Cancel won")
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(s.errs) == 1 })
	if !errors.Is(s.errs[0], context.Canceled) || s.n != 0 {
		t.Fatalf("n=%d err=%v", s.n, s.errs[0])
	}
	if err := <-workDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("work ctx err = %v", err)
	}
	// done is called once only.
	for range 3 {
		l.Dispatch(0, &s)
	}
	if len(s.errs) != 1 {
		t.Fatalf("done called %d times", len(s.errs))
	}
}

func TestGoCancelAfterResult(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	f, _ := calloop.Go(l, func(ctx context.Context) (int, error) { return 1, nil },
		func(s *asyncState, v int, err error) { s.n = v; s.errs = append(s.errs, err) })
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(s.errs) == 1 })
	if f.Cancel() {
		t.Fatal("Cancel after delivery won")
	}
	if s.n != 1 || s.errs[0] != nil {
		t.Fatalf("n=%d err=%v", s.n, s.errs[0])
	}
}

func asyncPanickingWork(ctx context.Context) (int, error) {
	panic("work exploded")
}

func TestGoPanicReraisedOnLoop(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	called := false
	_, err := calloop.Go(l, asyncPanickingWork, func(*asyncState, int, error) { called = true })
	if err != nil {
		t.Fatal(err)
	}
	r := asyncCatch(t, l, &s)
	pe, ok := r.(*calloop.PanicError)
	if !ok {
		t.Fatalf("recovered %T %v", r, r)
	}
	if pe.Value != "work exploded" {
		t.Fatalf("Value = %v", pe.Value)
	}
	if !strings.Contains(string(pe.Stack), "asyncPanickingWork") {
		t.Fatalf("stack lacks the work function:\n%s", pe.Stack)
	}
	// The loop stays usable, and the done callback still runs with the error.
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return called })
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
}

func TestGoPanicAfterCancelNotSwallowed(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	release := make(chan struct{})
	f, _ := calloop.Go(l, func(ctx context.Context) (int, error) {
		<-release
		panic(errors.New("late"))
	}, nil)
	f.Cancel()
	close(release)
	r := asyncCatch(t, l, &s)
	pe, ok := r.(*calloop.PanicError)
	if !ok || pe.Unwrap() == nil || pe.Unwrap().Error() != "late" {
		t.Fatalf("recovered %v", r)
	}
}

func TestGoCloseCancelsAndWaits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := calloop.New[asyncState]()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ended := 0
	called := false
	for range 10 {
		_, err := calloop.Go(l, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			mu.Lock()
			ended++
			mu.Unlock()
			return 0, ctx.Err()
		}, func(*asyncState, int, error) { called = true })
		if err != nil {
			t.Fatal(err)
		}
	}
	var s asyncState
	l.Dispatch(0, &s)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := ended
	mu.Unlock()
	if n != 10 {
		t.Fatalf("%d of 10 work goroutines ended by Close", n)
	}
	if called {
		t.Fatal("done called after Close")
	}
	if _, err := calloop.Go(l, func(ctx context.Context) (int, error) { return 0, nil }, nil); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Go after Close: %v", err)
	}
}

func TestGoLimit(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	if err := calloop.LimitGo(l, 2); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	work := func(ctx context.Context) (int, error) { <-release; return 1, nil }
	done := func(s *asyncState, v int, err error) { s.n += v }
	for range 2 {
		if _, err := calloop.Go(l, work, done); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := calloop.Go(l, work, done); !errors.Is(err, calloop.ErrGoLimit) {
		t.Fatalf("third Go: %v", err)
	}
	close(release)
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return s.n == 2 })
	if _, err := calloop.Go(l, work, done); err != nil {
		t.Fatalf("Go after the others finished: %v", err)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return s.n == 3 })
}

func TestWhen(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	f, _ := calloop.Go(l, func(ctx context.Context) (string, error) { return "x", nil }, nil)
	if err := calloop.When(l, f, func(s *asyncState, v string, err error) { s.log = append(s.log, "1"+v) }); err != nil {
		t.Fatal(err)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(s.log) == 1 })
	// On a resolved future: called in the next iteration, not inside When.
	calloop.When(l, f, func(s *asyncState, v string, err error) { s.log = append(s.log, "2"+v) })
	if len(s.log) != 1 {
		t.Fatal("When ran its callback synchronously")
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(s.log) == 2 })
	if strings.Join(s.log, ",") != "1x,2x" {
		t.Fatalf("log = %v", s.log)
	}
}

// A panic in a done callback propagates out of Dispatch; the other results
// delivered in the same iteration are not lost.
func TestGoDonePanicKeepsOthers(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	release := make(chan struct{})
	var futures []*calloop.Future[int]
	for i := range 5 {
		f, err := calloop.Go(l, func(context.Context) (int, error) { <-release; return i, nil },
			func(s *asyncState, v int, err error) {
				if v == 2 {
					panic("done exploded")
				}
				s.n++
			})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	// Deliver all five in one iteration.
	all := calloop.All(futures...)
	close(release)
	if r := asyncCatch(t, l, &s); r != "done exploded" {
		t.Fatalf("recovered %v", r)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return s.n == 4 })
	vs, err := asyncResult(t, l, &s, all)
	if err != nil || len(vs) != 5 {
		t.Fatalf("All = %v, %v", vs, err)
	}
}
