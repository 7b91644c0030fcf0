package calloop_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// TestTaskStress runs tasks that await at random (timers, goroutine work,
// joins of other tasks, composed futures) while other tasks, callbacks and
// goroutines cancel them at random. Every task must end, exactly once, with
// nil or a cancellation error, and the loop must not fail.
func TestTaskStress(t *testing.T) {
	type st struct {
		ended   int
		results map[int]error
	}
	l := newLoop[st](t)
	s := st{results: map[int]error{}}
	n := 400
	if testing.Short() {
		n = 100
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var tasks []*calloop.Task[st]
	var futs []*calloop.Future[struct{}]
	for i := range n {
		seed := rng.Uint64()
		tk, err := calloop.Spawn(l, func(tk *calloop.Task[st]) (err error) {
			r := rand.New(rand.NewPCG(seed, 7))
			defer func() {
				s := tk.State()
				if _, dup := s.results[i]; dup {
					t.Errorf("task %d ended twice", i)
				}
				s.results[i] = err
			}()
			for range 1 + r.IntN(6) {
				switch r.IntN(5) {
				case 0:
					err = tk.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
				case 1:
					_, err = calloop.AwaitGo(tk, func(ctx context.Context) (int, error) {
						select {
						case <-ctx.Done():
							return 0, ctx.Err()
						case <-time.After(time.Duration(r.IntN(200)) * time.Microsecond):
							return 1, nil
						}
					})
				case 2:
					if j := r.IntN(i + 1); j < i {
						err = tk.Join(tasks[j])
						if err != nil && errors.Is(err, context.Canceled) {
							err = nil // the other was cancelled, not this one
						}
					}
				case 3:
					f, gerr := calloop.Go(l, func(ctx context.Context) (int, error) { return 2, nil }, nil)
					if gerr != nil {
						return gerr
					}
					_, err = calloop.Await(tk, calloop.Timeout(calloop.Map(f, func(v int) (int, error) { return v * 2, nil }), time.Millisecond))
					if errors.Is(err, context.DeadlineExceeded) {
						err = nil
					}
				case 4:
					if j := r.IntN(i + 1); j < i && r.IntN(3) == 0 {
						tasks[j].Cancel()
					}
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, tk)
		futs = append(futs, tk.Future())
		// A task cancelled before it started never runs its body: count the
		// futures, which resolve exactly once either way.
		calloop.When(l, tk.Future(), func(s *st, _ struct{}, err error) {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("task %d: %v", i, err)
			}
			s.ended++
		})
	}
	// Cancellations from another goroutine and from a timer callback.
	go func() {
		r := rand.New(rand.NewPCG(3, 4))
		for range n / 8 {
			tasks[r.IntN(n)].Cancel()
		}
	}()
	l.AddTimer(time.Millisecond, func(*st, time.Time) calloop.TimerAction {
		for range n / 8 {
			tasks[rng.IntN(n)].Cancel()
		}
		return calloop.Drop()
	})
	all := calloop.All(futs...)
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return s.ended == n })
	for i, err := range s.results {
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	// All of them resolves too.
	done := false
	calloop.When(l, all, func(*st, []struct{}, error) { done = true })
	dispatchUntilTimeout(t, l, &s, 100*time.Millisecond, func() bool { return done })
}
