package main

import (
	"context"
	"fmt"
	"time"

	"github.com/calloop-go/calloop"
)

// channel: a second goroutine sends 1..N through a calloop channel as fast as
// it can; the loop's callback counts and sums them. Time from the first Send
// to the loop having received the last value; the sum is checked.
func channel(n uint64) (result, error) {
	type state struct {
		count, sum uint64
		end        time.Time
	}

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()

	tx, err := calloop.NewChannel(l, func(s *state, v uint64, ok bool) {
		if !ok {
			return
		}
		s.count++
		s.sum += v
		if s.count == n {
			s.end = time.Now()
			l.Stop()
		}
	})
	if err != nil {
		return result{}, err
	}

	start := make(chan time.Time, 1)
	errc := make(chan error, 1)
	go func() {
		defer tx.Close()
		start <- time.Now()
		for v := uint64(1); v <= n; v++ {
			if err := tx.Send(v); err != nil {
				errc <- fmt.Errorf("send %d: %w", v, err)
				l.Stop()
				return
			}
		}
		errc <- nil
	}()

	var s state
	if err := l.Run(context.Background(), &s); err != nil {
		return result{}, err
	}
	if err := <-errc; err != nil {
		return result{}, err
	}
	t0 := <-start
	if s.count != n {
		return result{}, fmt.Errorf("received %d messages, want %d", s.count, n)
	}
	if want := n * (n + 1) / 2; s.sum != want {
		return result{}, fmt.Errorf("sum %d, want %d", s.sum, want)
	}
	return result{ops: n, elapsed: s.end.Sub(t0)}, nil
}
