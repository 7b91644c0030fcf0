package main

import (
	"fmt"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

// maxIdle bounds one idle-dispatch run, as in the anchors (only calloop 0.10,
// which sleeps 1 ms per zero-timeout dispatch, ever reaches it).
const maxIdle = time.Second

// idle-dispatch: Dispatch with a zero timeout while nothing is ready; one ping
// source is registered and never pinged. Time per dispatch.
func idleDispatch(n uint64) (result, error) {
	type state struct{ hits uint64 }

	l, err := calloop.New[state](loopOptions...)
	if err != nil {
		return result{}, err
	}
	defer l.Close()
	if _, err := calloop.NewPing(l, func(s *state) { s.hits++ }); err != nil {
		return result{}, err
	}

	var s state
	t0 := time.Now()
	done := uint64(0)
	for done < n {
		if err := l.Dispatch(0, &s); err != nil {
			return result{}, err
		}
		done++
		if done%64 == 0 && time.Since(t0) > maxIdle {
			break
		}
	}
	elapsed := time.Since(t0)
	if s.hits != 0 {
		return result{}, fmt.Errorf("the idle ping fired %d times", s.hits)
	}
	if done < n {
		fmt.Fprintf(os.Stderr, "go: idle-dispatch: stopped after %d of %d dispatches\n", done, n)
	}
	return result{ops: done, elapsed: elapsed}, nil
}
