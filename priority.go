package calloop

import (
	"errors"

	"github.com/calloop-go/calloop/internal/poller"
)

// Priority is a source's class in the dispatch order of an iteration (see
// [Loop.SetPriority]). Lower values dispatch first, as in GLib.
type Priority int8

// The priority classes.
const (
	PriorityHigh    Priority = -1 // before the others: input, control traffic
	PriorityDefault Priority = 0  // every source starts here
	PriorityLow     Priority = 1  // after the others: bulk work, housekeeping
)

var errPriority = errors.New("calloop: SetPriority: not a priority class")
var errPriorityKind = errors.New("calloop: SetPriority: timers and idle callbacks have their own phases")

// SetPriority puts source t (a descriptor or a custom source: pings,
// channels, signal watches, nested loops included) in priority class p.
// Within the dispatch phase of an iteration, the events of higher classes
// are dispatched first: all the events of the iteration (synthetic, from
// other goroutines, from the kernel) of PriorityHigh sources, in their usual
// order, then those of PriorityDefault sources, then PriorityLow; then the
// due timers and the idle callbacks, in their phases, as always.
//
// A priority orders an iteration's work; it never defers it. Every source's
// work per iteration is bounded (see Fairness in the package
// documentation), and every class is dispatched in every iteration, so a
// saturated high class delays a lower-class event or a timer by at most the
// budgeted work of the higher classes in the same iteration: a
// lower-priority event received, or a timer due, at the iteration's poll is
// dispatched in that iteration, zero iterations late, however busy the
// higher classes are. A child's priority is its own (a parent's does not
// propagate).
//
// SetPriority fails with [ErrInvalidToken] if t is not a live source of
// this loop, and with an error for a timer, an idle callback, or a p that
// is not one of the classes. Call it on the loop's goroutine; it takes
// effect at the next iteration.
func (l *Loop[S]) SetPriority(t Token, p Priority) error {
	if l.closed {
		return ErrClosed
	}
	if p < PriorityHigh || p > PriorityLow {
		return errPriority
	}
	if t.id&timerBit != 0 {
		if _, _, err := l.timer(t); err != nil {
			return err
		}
		return errPriorityKind
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	if sl.kind == kindIdle {
		return errPriorityKind
	}
	if sl.prio == PriorityDefault && p != PriorityDefault {
		l.nprio++
	} else if sl.prio != PriorityDefault && p == PriorityDefault {
		l.nprio--
	}
	sl.prio = p
	return nil
}

// Priority returns the priority class of source t.
func (l *Loop[S]) Priority(t Token) (Priority, error) {
	if l.closed {
		return 0, ErrClosed
	}
	if t.id&timerBit != 0 {
		if _, _, err := l.timer(t); err != nil {
			return 0, err
		}
		return PriorityDefault, nil
	}
	sl := l.lookup(t)
	if sl == nil {
		return 0, ErrInvalidToken
	}
	return sl.prio, nil
}

// byPriority merges the iteration's synthetic and kernel events into
// l.synth, ordered by class (stable within a class), and returns nil: the
// kernel's events are then part of the one batch.
func (l *Loop[S]) byPriority(kernel []poller.Event) []poller.Event {
	all := append(l.pbuf[:0], l.synth...)
	all = append(all, kernel...)
	l.pbuf = all
	l.kernel = nil
	out := l.synth[:0]
	for c := PriorityHigh; c <= PriorityLow; c++ {
		for _, ev := range all {
			if l.classOf(ev) == c {
				out = append(out, ev)
			}
		}
	}
	l.synth = out
	clear(all)
	return nil
}

func (l *Loop[S]) classOf(ev poller.Event) Priority {
	idx, gen16, _ := splitKey(ev.Key)
	if int(idx) >= len(l.slots) {
		return PriorityDefault
	}
	sl := &l.slots[idx]
	if uint16(sl.gen) != gen16 {
		return PriorityDefault
	}
	return sl.prio
}
