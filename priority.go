package calloop

import (
	"errors"

	"github.com/calloop-go/calloop/internal/poller"
)

// Priority is a source's or a timer's class in the dispatch order of an
// iteration (see [Loop.SetPriority]). Lower values dispatch first, as in
// GLib.
type Priority int8

// The priority classes.
const (
	PriorityHigh    Priority = -1 // before the others: input, control traffic
	PriorityDefault Priority = 0  // every source and timer starts here
	PriorityLow     Priority = 1  // after the others: bulk work, housekeeping
)

var errPriority = errors.New("calloop: SetPriority: not a priority class")
var errPriorityKind = errors.New("calloop: SetPriority: idle callbacks have their own phase")

// SetPriority puts source or timer t in priority class p. Every kind of
// registration has a class, PriorityDefault until set: descriptors, timers,
// and custom sources, pings, channels, signal watches and nested loops
// included; idle callbacks alone do not, they run in their own phase, after
// every class. A child's class is its own until a SetPriority on one of its
// ancestors (see below).
//
// Within the dispatch phase of an iteration, the classes go in turn,
// highest first, and each class's work is: its sources' events of the
// iteration (synthetic, from other goroutines, from the kernel), in their
// usual order, then its due timers, in (deadline, insertion) order. So a
// PriorityHigh timer fires before a default descriptor's event, and a
// default timer before a PriorityLow source's event. Without any priority
// set, this is the usual order: every event, then the due timers. A timer
// keeps its promises within its class: it never fires early, and timers
// due at the same instant fire in the order they were set (SetPriority
// keeps a timer's place among them).
//
// A priority orders an iteration's work; it never defers it. Every class is
// dispatched in every iteration, and every source's work per iteration is
// bounded (see Fairness in the package documentation), so the bound is
// zero iterations: a lower-class event received, or a lower-class timer
// due, at an iteration's poll is dispatched in that iteration, however
// saturated the higher classes are (a thousand high-priority timers re-armed
// to fire at once in every iteration, say). What it waits for, within the
// iteration, is the higher classes' work of that iteration: their events'
// callbacks, bounded by the sources' budgets, and their timers due at the
// poll (a timer re-armed or set during the iteration waits for the next
// one, so a class's timers cannot grow its share of an iteration).
//
// A source's class goes to its descendants too (the children adopted through
// its [Registrar], theirs, and so on; idle callbacks have no class), so that
// a composite source or a [Flow] changes class as a unit; a child adopted
// afterwards keeps its own class until the next SetPriority on an ancestor.
//
// SetPriority fails with [ErrInvalidToken] if t is not a live source or
// timer of this loop, and with an error for an idle callback, or a p that
// is not one of the classes. Call it on the loop's goroutine. A source's
// new class applies from the next iteration. A timer's applies at once: a
// due timer moved during the dispatch phase to a class whose turn has
// passed fires in the next iteration (the one exception to the zero bound,
// and one the program makes itself); one already taken off for firing
// fires in its old class's turn.
func (l *Loop[S]) SetPriority(t Token, p Priority) error {
	if l.closed {
		return ErrClosed
	}
	if p < PriorityHigh || p > PriorityLow {
		return errPriority
	}
	if t.id&timerBit != 0 {
		id, _, err := l.timer(t)
		if err != nil {
			return err
		}
		l.timers.setClass(id, uint8(p+1))
		return nil
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	if sl.kind == kindIdle {
		return errPriorityKind
	}
	l.setSourceClass(sl, p)
	return nil
}

// setSourceClass puts source sl and its descendants in class p; idle
// callbacks among the descendants have no class and are skipped.
func (l *Loop[S]) setSourceClass(sl *slot[S], p Priority) {
	if sl.prio == PriorityDefault && p != PriorityDefault {
		l.nprio++
	} else if sl.prio != PriorityDefault && p == PriorityDefault {
		l.nprio--
	}
	sl.prio = p
	for _, k := range sl.kids {
		if k.id&timerBit != 0 {
			l.timers.setClass(k.id&^timerBit, uint8(p+1))
		} else if ks := &l.slots[k.id]; ks.kind != kindIdle {
			l.setSourceClass(ks, p)
		}
	}
}

// Priority returns the priority class of source or timer t.
func (l *Loop[S]) Priority(t Token) (Priority, error) {
	if l.closed {
		return 0, ErrClosed
	}
	if t.id&timerBit != 0 {
		_, tm, err := l.timer(t)
		if err != nil {
			return 0, err
		}
		return Priority(tm.cls) - 1, nil
	}
	sl := l.lookup(t)
	if sl == nil {
		return 0, ErrInvalidToken
	}
	return sl.prio, nil
}

// dispatchClasses is the dispatch phase when priorities are in use: the
// iteration's events (synthetic, from other goroutines, from the kernel)
// sorted into one batch by class, and each class's events followed by its
// due timers, highest class first.
func (l *Loop[S]) dispatchClasses(s *S) {
	batch := l.byPriority(l.kernel)
	l.batch = batch
	i := 0
	for c := range uint8(nClasses) {
		for ; i < l.pends[c]; i++ {
			l.batchPos = i
			l.dispatchEvent(s, batch[i])
		}
		// A panic in a timer keeps the events of the lower classes
		// (finish keeps those after batchPos).
		l.batchPos = i - 1
		if l.timers.len() > 0 {
			l.fireTimers(s, c)
		}
	}
	l.batch = nil
	l.synth = l.synth[:0]
}

// byPriority merges the iteration's synthetic and kernel events into
// l.synth, ordered by class (stable within a class), records where each
// class ends (l.pends), and returns the batch.
func (l *Loop[S]) byPriority(kernel []poller.Event) []poller.Event {
	all := append(l.pbuf[:0], l.synth...)
	all = append(all, kernel...)
	l.pbuf = all
	l.kernel = nil
	out := l.synth[:0]
	if l.nprio == 0 {
		out = append(out, all...) // every source is of the default class
		l.pends = [nClasses]int{0, len(out), len(out)}
	} else {
		for c := PriorityHigh; c <= PriorityLow; c++ {
			for _, ev := range all {
				if l.classOf(ev) == c {
					out = append(out, ev)
				}
			}
			l.pends[c+1] = len(out)
		}
	}
	l.synth = out
	clear(all)
	return out
}

func (l *Loop[S]) classOf(ev poller.Event) Priority {
	idx, gen16, _ := splitKey(evKey(&ev))
	if int(idx) >= len(l.slots) {
		return PriorityDefault
	}
	sl := &l.slots[idx]
	if uint16(sl.gen) != gen16 {
		return PriorityDefault
	}
	return sl.prio
}
