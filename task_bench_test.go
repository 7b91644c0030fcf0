package calloop_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// asyncBenchRun dispatches until done.
func asyncBenchRun[S any](b *testing.B, l *calloop.Loop[S], s *S, done func() bool) {
	for !done() {
		if err := l.Dispatch(time.Second, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAwaitResolved awaits a future that is already resolved: no
// switch, no allocation.
func BenchmarkAwaitResolved(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	f, _ := calloop.Go(l, func(context.Context) (int, error) { return 1, nil }, nil)
	done := false
	calloop.When(l, f, func(*asyncState, int, error) { done = true })
	asyncBenchRun(b, l, &s, func() bool { return done })
	finished := false
	b.ReportAllocs()
	b.ResetTimer()
	calloop.Spawn(l, func(t *calloop.Task[asyncState]) error {
		sum := 0
		for range b.N {
			v, _ := calloop.Await(t, f)
			sum += v
		}
		finished = sum == b.N
		return nil
	})
	asyncBenchRun(b, l, &s, func() bool { return finished })
}

// BenchmarkGoRoundTrip starts work in a goroutine and waits for its result
// on the loop, one at a time.
func BenchmarkGoRoundTrip(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	work := func(context.Context) (int, error) { return 1, nil }
	done := func(s *asyncState, v int, err error) { s.n += v }
	b.ReportAllocs()
	for i := range b.N {
		if _, err := calloop.Go(l, work, done); err != nil {
			b.Fatal(err)
		}
		asyncBenchRun(b, l, &s, func() bool { return s.n == i+1 })
	}
}

// BenchmarkGoParallel has 64 futures in flight at a time.
func BenchmarkGoParallel(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	work := func(context.Context) (int, error) { return 1, nil }
	started := 0
	var done func(s *asyncState, v int, err error)
	done = func(s *asyncState, v int, err error) {
		s.n += v
		if started < b.N {
			started++
			calloop.Go(l, work, done)
		}
	}
	b.ReportAllocs()
	for ; started < min(64, b.N); started++ {
		calloop.Go(l, work, done)
	}
	asyncBenchRun(b, l, &s, func() bool { return s.n == b.N })
}

// BenchmarkSpawn spawns tasks whose body returns at once, and runs them.
func BenchmarkSpawn(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	body := func(t *calloop.Task[asyncState]) error { t.State().n++; return nil }
	b.ReportAllocs()
	for i := 0; i < b.N; i += 1000 {
		n := min(1000, b.N-i)
		for range n {
			if _, err := calloop.Spawn(l, body); err != nil {
				b.Fatal(err)
			}
		}
		asyncBenchRun(b, l, &s, func() bool { return s.n == i+n })
	}
}

// BenchmarkTaskSleep0 is one task switching out and back in through a loop
// timer: Sleep(0) resumes in the next iteration.
func BenchmarkTaskSleep0(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	finished := false
	b.ReportAllocs()
	calloop.Spawn(l, func(t *calloop.Task[asyncState]) error {
		for range b.N {
			if err := t.Sleep(0); err != nil {
				return err
			}
		}
		finished = true
		return nil
	})
	asyncBenchRun(b, l, &s, func() bool { return finished })
}

// BenchmarkTimerCallbackSleep0 is the callback equivalent of
// BenchmarkTaskSleep0, for comparison: a timer re-armed with zero delay.
func BenchmarkTimerCallbackSleep0(b *testing.B) {
	l := newLoop[asyncState](b)
	var s asyncState
	b.ReportAllocs()
	l.AddTimer(0, func(s *asyncState, _ time.Time) calloop.TimerAction {
		if s.n++; s.n == b.N {
			return calloop.Drop()
		}
		return calloop.Again(0)
	})
	asyncBenchRun(b, l, &s, func() bool { return s.n == b.N })
}

// BenchmarkTasks100k runs 100,000 concurrent tasks, each sleeping on its
// own timer once; one op is the whole batch. It reports the cost per task
// and the peak heap in use while they sleep.
func BenchmarkTasks100k(b *testing.B) {
	const n = 100_000
	l := newLoop[asyncState](b)
	var s asyncState
	body := func(t *calloop.Task[asyncState]) error {
		if err := t.Sleep(10 * time.Millisecond); err != nil {
			return err
		}
		t.State().n++
		return nil
	}
	b.ReportAllocs()
	var peak uint64
	for range b.N {
		s.n = 0
		for range n {
			if _, err := calloop.Spawn(l, body); err != nil {
				b.Fatal(err)
			}
		}
		// One iteration starts them all; they are now parked on timers.
		if err := l.Dispatch(0, &s); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse+ms.StackInuse)
		b.StartTimer()
		asyncBenchRun(b, l, &s, func() bool { return s.n == n })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/task")
	b.ReportMetric(float64(peak)/n, "peak-B/task")
}

// BenchmarkTaskSwitch1000 has 1000 tasks each doing Sleep(0) in a loop, so
// that one loop iteration resumes 1000 of them: the per-op time is one
// task step (a timer fired, a switch into the body and back), with the
// iteration's own cost amortized.
func BenchmarkTaskSwitch1000(b *testing.B) {
	const tasks = 1000
	l := newLoop[asyncState](b)
	var s asyncState
	rounds := b.N/tasks + 1
	left := tasks
	b.ReportAllocs()
	for range tasks {
		calloop.Spawn(l, func(t *calloop.Task[asyncState]) error {
			for range rounds {
				if err := t.Sleep(0); err != nil {
					return err
				}
			}
			left--
			return nil
		})
	}
	asyncBenchRun(b, l, &s, func() bool { return left == 0 })
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*tasks), "ns/switch")
}

// BenchmarkTimerCallback1000 is BenchmarkTaskSwitch1000 with timer callbacks
// instead of tasks, for comparison.
func BenchmarkTimerCallback1000(b *testing.B) {
	const timers = 1000
	l := newLoop[asyncState](b)
	var s asyncState
	rounds := b.N/timers + 1
	left := timers
	b.ReportAllocs()
	for range timers {
		n := 0
		l.AddTimer(0, func(s *asyncState, _ time.Time) calloop.TimerAction {
			if n++; n == rounds {
				left--
				return calloop.Drop()
			}
			return calloop.Again(0)
		})
	}
	asyncBenchRun(b, l, &s, func() bool { return left == 0 })
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*timers), "ns/callback")
}
