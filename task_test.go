package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/calloop-go/calloop"
)

func taskSpawn[S any](t testing.TB, l *calloop.Loop[S], body func(*calloop.Task[S]) error) *calloop.Task[S] {
	t.Helper()
	tk, err := calloop.Spawn(l, body)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	return tk
}

func TestTaskSleepInterleavesWithCallbacks(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	finished := false
	// Absolute deadlines, 25 ms apart, alternating between the task and a
	// timer callback: the order holds however late an iteration runs.
	base := time.Now()
	const step = 25 * time.Millisecond
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		for i := range 3 {
			tk.State().log = append(tk.State().log, fmt.Sprint("task", i))
			if err := tk.Sleep(time.Until(base.Add(time.Duration(2*i+2) * step))); err != nil {
				return err
			}
		}
		finished = true
		return nil
	})
	l.AddTimerAt(base.Add(step), func(s *asyncState, deadline time.Time) calloop.TimerAction {
		s.log = append(s.log, "timer")
		if len(s.log) < 6 {
			return calloop.At(deadline.Add(2 * step))
		}
		return calloop.Drop()
	})
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return finished })
	got := strings.Join(s.log, ",")
	if got != "task0,timer,task1,timer,task2,timer" {
		t.Fatalf("log = %s", got)
	}
}

// TestTaskSharedState mutates one state from tasks, timer callbacks and
// future callbacks at once: the race detector must stay quiet and the counts
// must be exact.
func TestTaskSharedState(t *testing.T) {
	type st struct {
		byTasks, byTimer, byFutures int
		m                           map[int]int
	}
	l := newLoop[st](t)
	s := st{m: map[int]int{}}
	const tasks, steps, futures = 50, 20, 100
	left := tasks
	for i := range tasks {
		taskSpawn(t, l, func(tk *calloop.Task[st]) error {
			for j := range steps {
				s := tk.State()
				s.byTasks++
				s.m[i*steps+j]++
				if j%2 == 0 {
					if err := tk.Sleep(0); err != nil {
						return err
					}
				} else {
					v, err := calloop.AwaitGo(tk, func(ctx context.Context) (int, error) { return j, nil })
					if err != nil || v != j {
						return fmt.Errorf("AwaitGo = %d, %v", v, err)
					}
				}
			}
			tk.State().m[-1]++
			left--
			return nil
		})
	}
	ticks := 0
	l.AddTimer(0, func(s *st, _ time.Time) calloop.TimerAction {
		s.byTimer++
		s.m[-2]++
		if ticks++; left == 0 {
			return calloop.Drop()
		}
		return calloop.Again(100 * time.Microsecond)
	})
	for i := range futures {
		calloop.Go(l, func(ctx context.Context) (int, error) { return i, nil }, func(s *st, v int, err error) {
			s.byFutures++
			s.m[-3] += v
		})
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return left == 0 && s.byFutures == futures })
	if s.byTasks != tasks*steps || s.m[-1] != tasks || s.m[-3] != futures*(futures-1)/2 || s.byTimer != s.m[-2] {
		t.Fatalf("byTasks=%d done=%d futures sum=%d timer %d/%d", s.byTasks, s.m[-1], s.m[-3], s.byTimer, s.m[-2])
	}
	for k := range tasks * steps {
		if s.m[k] != 1 {
			t.Fatalf("m[%d] = %d", k, s.m[k])
		}
	}
}

func TestTaskAwaitFuture(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	var got string
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		f, err := calloop.Go(l, func(ctx context.Context) (string, error) { return "hello", nil }, nil)
		if err != nil {
			return err
		}
		v, err := calloop.Await(tk, f)
		if err != nil {
			return err
		}
		// Awaiting a resolved future returns at once.
		v2, _ := calloop.Await(tk, f)
		got = v + " " + v2
		return nil
	})
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return got != "" })
	if got != "hello hello" {
		t.Fatalf("got %q", got)
	}
}

// TestTaskCancelAtEveryAwait cancels a task parked at each kind of await,
// from the loop and from another goroutine.
func TestTaskCancelAtEveryAwait(t *testing.T) {
	type await func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	awaits := map[string]await{
		"Sleep": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			return tk.Sleep(time.Hour)
		},
		"WaitFD": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			_, err := tk.WaitFD(int(r.Fd()), calloop.Readable)
			return err
		},
		"Await": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			f, err := calloop.Go(l, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }, nil)
			if err != nil {
				return err
			}
			defer f.Cancel()
			_, err = calloop.Await(tk, f)
			return err
		},
		"AwaitGo": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			_, err := calloop.AwaitGo(tk, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
			return err
		},
		"Join": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			other := taskSpawn(t, l, func(o *calloop.Task[asyncState]) error { return o.Sleep(time.Hour) })
			defer other.Cancel()
			return tk.Join(other)
		},
		"Recv": func(t *testing.T, l *calloop.Loop[asyncState], tk *calloop.Task[asyncState]) error {
			in, tx, err := calloop.NewInbox[asyncState, int](l, 0)
			if err != nil {
				return err
			}
			defer tx.Close()
			_, err = calloop.Recv(tk, in)
			return err
		},
	}
	for name, aw := range awaits {
		for _, from := range []string{"loop", "goroutine"} {
			t.Run(name+"/"+from, func(t *testing.T) {
				l := newLoop[asyncState](t)
				var s asyncState
				var got error
				reached, after := false, false
				tk := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
					reached = true
					got = aw(t, l, tk)
					// Every await after the cancellation fails at once.
					if err := tk.Sleep(0); !errors.Is(err, context.Canceled) {
						t.Errorf("Sleep after cancel: %v", err)
					}
					after = true
					return got
				})
				fut := tk.Future()
				dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return reached })
				l.Dispatch(0, &s) // let the await settle in
				if from == "loop" {
					if !tk.Cancel() {
						t.Fatal("Cancel lost")
					}
				} else {
					ch := make(chan bool)
					go func() { ch <- tk.Cancel() }()
					if !<-ch {
						t.Fatal("Cancel lost")
					}
				}
				dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return after })
				if !errors.Is(got, context.Canceled) {
					t.Fatalf("await returned %v", got)
				}
				var ferr error
				calloop.When(l, fut, func(_ *asyncState, _ struct{}, err error) { ferr = err })
				dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return ferr != nil })
				if !errors.Is(ferr, context.Canceled) {
					t.Fatalf("future: %v", ferr)
				}
			})
		}
	}
}

func TestTaskCancelBeforeStart(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	ran := false
	tk := taskSpawn(t, l, func(*calloop.Task[asyncState]) error { ran = true; return nil })
	tk.Cancel()
	var ferr error
	calloop.When(l, tk.Future(), func(_ *asyncState, _ struct{}, err error) { ferr = err })
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return ferr != nil })
	l.Dispatch(0, &s)
	if ran || !errors.Is(ferr, context.Canceled) {
		t.Fatalf("ran=%v err=%v", ran, ferr)
	}
}

func TestTaskErrorFailsLoopUnlessObserved(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	boom := errors.New("boom")
	taskSpawn(t, l, func(*calloop.Task[asyncState]) error { return boom })
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		err = l.Dispatch(0, &s)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Dispatch = %v", err)
	}

	// A joiner takes the error instead.
	var joined error
	done := false
	child := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error { tk.Sleep(0); return boom })
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		joined = tk.Join(child)
		done = true
		return nil
	})
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return done })
	if !errors.Is(joined, boom) {
		t.Fatalf("Join = %v", joined)
	}
}

func taskPanickingBody(*calloop.Task[asyncState]) error { panic("body exploded") }

func TestTaskPanic(t *testing.T) {
	t.Run("unjoined", func(t *testing.T) {
		l := newLoop[asyncState](t)
		var s asyncState
		taskSpawn(t, l, taskPanickingBody)
		r := asyncCatch(t, l, &s)
		pe, ok := r.(*calloop.PanicError)
		if !ok || pe.Value != "body exploded" || !strings.Contains(string(pe.Stack), "taskPanickingBody") {
			t.Fatalf("recovered %v", r)
		}
		if err := l.Dispatch(0, &s); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("joined", func(t *testing.T) {
		l := newLoop[asyncState](t)
		var s asyncState
		child := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
			tk.Sleep(0) // the joiner joins first
			return taskPanickingBody(tk)
		})
		reached := false
		taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
			defer func() { reached = true }()
			return tk.Join(child) // re-panics here, then out of Dispatch
		})
		r := asyncCatch(t, l, &s)
		pe, ok := r.(*calloop.PanicError)
		if !ok || pe.Value != "body exploded" || !reached {
			t.Fatalf("recovered %v, joiner reached %v", r, reached)
		}
	})
	t.Run("callback", func(t *testing.T) {
		// A panicking ordinary callback leaves the tasks intact.
		l := newLoop[asyncState](t)
		var s asyncState
		n := 0
		taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
			for range 5 {
				tk.Sleep(time.Millisecond)
				n++
			}
			return nil
		})
		l.AddTimer(2*time.Millisecond, func(*asyncState, time.Time) calloop.TimerAction { panic("cb") })
		if r := asyncCatch(t, l, &s); r != "cb" {
			t.Fatalf("recovered %v", r)
		}
		dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return n == 5 })
	})
}

func TestTaskWaitFD(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var got []string
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		buf := make([]byte, 16)
		for range 3 {
			ev, err := tk.WaitFD(int(r.Fd()), calloop.Readable)
			if err != nil {
				return err
			}
			if ev&calloop.Readable == 0 {
				return fmt.Errorf("events %v", ev)
			}
			n, err := r.Read(buf)
			if err != nil {
				return err
			}
			got = append(got, string(buf[:n]))
		}
		return nil
	})
	for i := range 3 {
		l.Dispatch(0, &s)
		fmt.Fprintf(w, "m%d", i)
		dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return len(got) == i+1 })
	}
	if strings.Join(got, ",") != "m0,m1,m2" {
		t.Fatalf("got %v", got)
	}
}

func TestTaskLockOSThreadRefused(t *testing.T) {
	l := newLoop[asyncState](t, calloop.WithLockOSThread())
	if _, err := calloop.Spawn(l, func(*calloop.Task[asyncState]) error { return nil }); err == nil {
		t.Fatal("Spawn on a WithLockOSThread loop succeeded")
	}
}

func TestTaskMethodOutsideBody(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	tk := taskSpawn(t, l, func(t *calloop.Task[asyncState]) error { return t.Sleep(time.Hour) })
	l.Dispatch(0, &s)
	if err := tk.Sleep(0); err == nil {
		t.Fatal("Sleep outside the body succeeded")
	}
}

func TestTaskCloseStopsTasks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := calloop.New[asyncState]()
	if err != nil {
		t.Fatal(err)
	}
	var s asyncState
	var errs []error
	for range 20 {
		if _, err := calloop.Spawn(l, func(tk *calloop.Task[asyncState]) error {
			_, err := calloop.AwaitGo(tk, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, nil })
			errs = append(errs, err)
			errs = append(errs, tk.Sleep(0))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Dispatch(0, &s); err != nil {
		t.Fatal(err)
	}
	// And some never started.
	for range 5 {
		calloop.Spawn(l, func(tk *calloop.Task[asyncState]) error { t.Error("ran"); return nil })
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 40 {
		t.Fatalf("%d awaits ended", len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, calloop.ErrClosed) || !errors.Is(err, context.Canceled) {
			t.Fatalf("await after Close: %v", err)
		}
	}
}

func TestTaskManySleepers(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	// 3000 tasks keep this within its deadline under -race on a loaded
	// 2-core machine (each new coroutine costs tens of microseconds there);
	// BenchmarkTasks100k covers the large count.
	n := 3000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
			if err := tk.Sleep(time.Duration(i%10) * time.Millisecond); err != nil {
				return err
			}
			tk.State().n++
			return nil
		})
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return s.n == n })
}

func TestTaskWaitFDHangup(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got calloop.Events
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		ev, err := tk.WaitFD(int(r.Fd()), calloop.Readable)
		got = ev
		return err
	})
	l.Dispatch(0, &s)
	w.Close()
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return got != 0 })
	if got&calloop.Hangup == 0 || got&calloop.Readable == 0 {
		t.Fatalf("events %v", got)
	}
}

func TestTaskContext(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	var ctx context.Context
	tk := taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		ctx = tk.Context()
		return nil
	})
	fut := tk.Future()
	done := false
	calloop.When(l, fut, func(*asyncState, struct{}, error) { done = true })
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return done })
	if ctx.Err() == nil {
		t.Fatal("the context of a finished task is not cancelled")
	}
}

// A task sleeping in a loop re-arms its own timer from the timer's callback.
// A panic later in the same callback (another continuation) makes the loop
// drop that timer: the task's sleep must survive it.
func TestTaskSleepRearmSurvivesPanic(t *testing.T) {
	l := newLoop[asyncState](t)
	var s asyncState
	f, _ := calloop.Go(l, func(context.Context) (int, error) { return 1, nil }, nil)
	fdone := false
	calloop.When(l, f, func(*asyncState, int, error) { fdone = true })
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return fdone })
	rounds := 0
	taskSpawn(t, l, func(tk *calloop.Task[asyncState]) error {
		for rounds < 5 {
			if rounds == 2 {
				// Queued behind this body in the drain of its timer callback.
				calloop.When(l, f, func(*asyncState, int, error) { panic("continuation") })
			}
			rounds++
			if err := tk.Sleep(time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
	if r := asyncCatch(t, l, &s); r != "continuation" {
		t.Fatalf("recovered %v", r)
	}
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return rounds == 5 })
}
