package calloop

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// VirtualClock is a clock that a program drives: time stands still until
// [VirtualClock.Advance] or [VirtualClock.Set] moves it. A loop created
// [WithClock] reads it instead of the monotonic clock for every timer
// decision, for [Loop.Now], and for the durations of [WithStats], so that
// timers fire exactly when the program says, in deadline order, with no
// real sleeping: deterministic tests, simulations, replays of recorded
// traffic. One clock may drive several loops. Safe from any goroutine.
//
// A loop with a virtual clock never sleeps waiting for a timer: time only
// passes when the clock is moved, which wakes every loop it drives, so a
// blocking [Loop.Dispatch] returns as soon as timers became due (or at
// its own timeout, which is real time, or an event). Timers moved into the
// past fire in the next iteration, as with the monotonic clock. A loop on
// a virtual clock nested in a loop on another clock ([AddLoop]), or the
// reverse, keeps its own clock: see AddLoop.
type VirtualClock struct {
	origin time.Time
	now    atomic.Int64 // nanoseconds since origin

	mu    sync.Mutex
	loops map[*wakeup]struct{}
}

// NewVirtualClock returns a virtual clock that reads start until moved.
func NewVirtualClock(start time.Time) *VirtualClock {
	return &VirtualClock{origin: start.Round(0)}
}

// Now returns the clock's time.
func (c *VirtualClock) Now() time.Time {
	return c.origin.Add(time.Duration(c.now.Load()))
}

// Advance moves the clock forward by d and wakes the loops it drives; the
// timers that became due fire in each loop's next iteration. A d of zero
// or less does nothing (the clock never goes back). The clock stops at the
// largest time it can represent.
func (c *VirtualClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	for {
		old := c.now.Load()
		n := old + int64(d)
		if int64(d) > math.MaxInt64-1-old {
			n = math.MaxInt64 - 1 // MaxInt64 is "never" to the timers
		}
		if c.now.CompareAndSwap(old, n) {
			break
		}
	}
	c.wake()
}

// Set moves the clock forward to t, as Advance does; a t before the
// clock's time does nothing.
func (c *VirtualClock) Set(t time.Time) {
	c.Advance(t.Sub(c.Now()))
}

func (c *VirtualClock) wake() {
	c.mu.Lock()
	for w := range c.loops {
		w.wake()
	}
	c.mu.Unlock()
}

func (c *VirtualClock) attach(w *wakeup) {
	c.mu.Lock()
	if c.loops == nil {
		c.loops = make(map[*wakeup]struct{})
	}
	c.loops[w] = struct{}{}
	c.mu.Unlock()
}

func (c *VirtualClock) detach(w *wakeup) {
	c.mu.Lock()
	delete(c.loops, w)
	c.mu.Unlock()
}

// WithClock makes the loop read c instead of the monotonic clock (see
// [VirtualClock]). A nil c keeps the monotonic clock.
func WithClock(c *VirtualClock) Option {
	return func(o *options) { o.clock = c }
}

// clockTime reads the loop's clock now, as a time.
func (l *Loop[S]) clockTime() time.Time {
	if l.vc != nil {
		return l.vc.Now()
	}
	return time.Now()
}
