package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// asyncValue is work that returns v.
func asyncValue[T any](v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) { return v, nil }
}

// asyncBlock is work that waits for its context and reports that it saw it
// cancelled.
func asyncBlock[T any](cancelled chan<- error) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		<-ctx.Done()
		cancelled <- ctx.Err()
		var zero T
		return zero, ctx.Err()
	}
}

func asyncGo[S, T any](t testing.TB, l *calloop.Loop[S], work func(context.Context) (T, error)) *calloop.Future[T] {
	t.Helper()
	f, err := calloop.Go(l, work, nil)
	if err != nil {
		t.Fatalf("Go: %v", err)
	}
	return f
}

// asyncResult dispatches until f is resolved and returns its result.
func asyncResult[S, T any](t testing.TB, l *calloop.Loop[S], s *S, f *calloop.Future[T]) (T, error) {
	t.Helper()
	var (
		v    T
		err  error
		done bool
	)
	if e := calloop.When(l, f, func(_ *S, fv T, ferr error) { v, err, done = fv, ferr, true }); e != nil {
		t.Fatalf("When: %v", e)
	}
	dispatchUntilTimeout(t, l, s, 100*time.Millisecond, func() bool { return done })
	return v, err
}

func TestMapThen(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	f := calloop.Map(
		calloop.Then(asyncGo(t, l, asyncValue("21")), func(str string) (*calloop.Future[int], error) {
			n, err := strconv.Atoi(str)
			if err != nil {
				return nil, err
			}
			return calloop.Go(l, asyncValue(n*2), nil)
		}),
		func(n int) (string, error) { return "=" + strconv.Itoa(n), nil })
	v, err := asyncResult(t, l, &s, f)
	if err != nil || v != "=42" {
		t.Fatalf("got %q, %v", v, err)
	}

	// Errors pass through without calling the functions.
	boom := errors.New("boom")
	called := false
	g := calloop.Map(asyncGo(t, l, func(context.Context) (int, error) { return 0, boom }),
		func(int) (int, error) { called = true; return 0, nil })
	if _, err := asyncResult(t, l, &s, g); !errors.Is(err, boom) || called {
		t.Fatalf("err=%v called=%v", err, called)
	}
}

func TestAll(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	vs, err := asyncResult(t, l, &s, calloop.All(
		asyncGo(t, l, asyncValue(1)), asyncGo(t, l, asyncValue(2)), asyncGo(t, l, asyncValue(3))))
	if err != nil || len(vs) != 3 || vs[0] != 1 || vs[1] != 2 || vs[2] != 3 {
		t.Fatalf("got %v, %v", vs, err)
	}

	// The first error wins and cancels the rest.
	boom := errors.New("boom")
	cancelled := make(chan error, 1)
	_, err = asyncResult(t, l, &s, calloop.All(
		asyncGo(t, l, asyncBlock[int](cancelled)),
		asyncGo(t, l, func(context.Context) (int, error) { return 0, boom })))
	if !errors.Is(err, boom) {
		t.Fatalf("All = %v", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("other work: %v", err)
	}

	vs, err = asyncResult(t, l, &s, calloop.All[int]())
	if err != nil || len(vs) != 0 {
		t.Fatalf("All() = %v, %v", vs, err)
	}
}

func TestFirst(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	cancelled := make(chan error, 1)
	v, err := asyncResult(t, l, &s, calloop.First(
		asyncGo(t, l, asyncBlock[string](cancelled)), asyncGo(t, l, asyncValue("fast"))))
	if err != nil || v != "fast" {
		t.Fatalf("First = %q, %v", v, err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("loser: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	cancelled := make(chan error, 1)
	start := time.Now()
	_, err := asyncResult(t, l, &s, calloop.Timeout(asyncGo(t, l, asyncBlock[int](cancelled)), 20*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Timeout = %v", err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("timed out early, after %v", el)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("work: %v", err)
	}

	// In time: the value, and the timer is gone.
	v, err := asyncResult(t, l, &s, calloop.Timeout(asyncGo(t, l, asyncValue(5)), time.Hour))
	if err != nil || v != 5 {
		t.Fatalf("got %v, %v", v, err)
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
}

func TestComposedCancelPropagates(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	cancelled := make(chan error, 2)
	f := calloop.Timeout(calloop.Map(calloop.All(
		asyncGo(t, l, asyncBlock[int](cancelled)), asyncGo(t, l, asyncBlock[int](cancelled))),
		func(vs []int) (int, error) { return len(vs), nil }), time.Hour)
	go f.Cancel()
	if _, err := asyncResult(t, l, &s, f); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	for range 2 {
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Fatalf("work: %v", err)
		}
	}
}

func TestTaskAwaitsComposition(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	var got []int
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		a, b := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error { return tk.Sleep(time.Millisecond) }),
			taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error { return tk.Sleep(2 * time.Millisecond) })
		if _, err := calloop.Await(tk, calloop.All(a.Future(), b.Future())); err != nil {
			return err
		}
		vs, err := calloop.Await(tk, calloop.All(asyncGo(t, l, asyncValue(1)), asyncGo(t, l, asyncValue(2))))
		got = vs
		return err
	})
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return got != nil })
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestInbox(t *testing.T) {
	for _, capacity := range []int{0, 10} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) { asyncTestInbox(t, capacity) })
	}
}

func asyncTestInbox(t *testing.T, capacity int) {
	l := newLoop[asyncState](t)
	var s asyncState
	in, tx, err := calloop.NewInbox[asyncState, int](l, capacity)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var got []int
	var end error
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		for {
			v, err := calloop.Recv(tk, in)
			if err != nil {
				end = err
				return nil
			}
			got = append(got, v)
			if len(got)%700 == 0 {
				tk.Sleep(0) // let the inbox fill up
				if capacity > 0 && in.Len() > capacity {
					return fmt.Errorf("inbox holds %d messages, capacity %d", in.Len(), capacity)
				}
			}
		}
	})
	go func() {
		for i := range n {
			if err := tx.Send(i); err != nil {
				t.Error(err)
			}
		}
		tx.Close()
	}()
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return end != nil })
	if !errors.Is(end, calloop.ErrClosed) || len(got) != n {
		t.Fatalf("end=%v, got %d", end, len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("got[%d] = %d", i, v)
		}
	}
}

func TestComposeErrorPaths(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	boom := errors.New("boom")

	// First: an error that comes first wins.
	cancelled := make(chan error, 1)
	_, err := asyncResult(t, l, &s, calloop.First(
		asyncGo(t, l, asyncBlock[int](cancelled)),
		asyncGo(t, l, func(context.Context) (int, error) { return 0, boom })))
	if !errors.Is(err, boom) {
		t.Fatalf("First = %v", err)
	}
	<-cancelled

	// Then: the function's error, and a failed input skips the function.
	_, err = asyncResult(t, l, &s, calloop.Then(asyncGo(t, l, asyncValue(1)),
		func(int) (*calloop.Future[int], error) { return nil, boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("Then = %v", err)
	}
	called := false
	_, err = asyncResult(t, l, &s, calloop.Then(asyncGo(t, l, func(context.Context) (int, error) { return 0, boom }),
		func(int) (*calloop.Future[int], error) { called = true; return nil, nil }))
	if !errors.Is(err, boom) || called {
		t.Fatalf("Then = %v, called %v", err, called)
	}

	// Timeout on a task's future cancels the task.
	var taskErr error
	tk := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		taskErr = tk.Sleep(time.Hour)
		return taskErr
	})
	_, err = asyncResult(t, l, &s, calloop.Timeout(tk.Future(), 5*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Timeout = %v", err)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return taskErr != nil })
	if !errors.Is(taskErr, context.Canceled) {
		t.Fatalf("task = %v", taskErr)
	}

	// Futures of another loop are refused.
	other := newLoop[asyncState](t)
	f := asyncGo(t, other, asyncValue(1))
	if err := calloop.When(l, f, func(*asyncState, int, error) {}); err == nil {
		t.Fatal("When accepted a future of another loop")
	}
	if _, err := asyncResult(t, l, &s, calloop.All(asyncGo(t, l, asyncValue(1)), f)); err == nil {
		t.Fatal("All accepted futures of two loops")
	}
	var oerr error
	done := false
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		_, oerr = calloop.Await(tk, f)
		done = true
		return nil
	})
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return done })
	if oerr == nil {
		t.Fatal("Await accepted a future of another loop")
	}
}
