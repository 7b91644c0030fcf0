package calloop

import (
	"errors"
	"math"
	"time"
)

// TimerAction is what a timer callback returns: [Drop] the timer, or re-arm
// it with [Again] (a duration) or [At] (a deadline).
type TimerAction struct {
	kind timerActionKind
	d    time.Duration
	at   time.Time
}

type timerActionKind uint8

const (
	actDrop timerActionKind = iota
	actAgain
	actAt
)

// Drop removes the timer after its callback; its token becomes invalid.
func Drop() TimerAction { return TimerAction{} }

// Again re-arms the timer to fire d after the iteration's clock reading
// ([Loop.Now]). Use [At] with deadline.Add(period) for a period that does not
// drift.
func Again(d time.Duration) TimerAction { return TimerAction{kind: actAgain, d: d} }

// At re-arms the timer to fire at t (at once, in the next iteration, if t has
// passed).
func At(t time.Time) TimerAction { return TimerAction{kind: actAt, at: t} }

// AddTimer calls fn once, d from now, with the deadline it was set for. fn
// returns a [TimerAction] that drops the timer or re-arms it. A timer never
// fires before its deadline; timers due in the same iteration fire in
// deadline order, and timers with equal deadlines in the order they were set.
// A duration too large to represent means never.
func (l *Loop[S]) AddTimer(d time.Duration, fn func(s *S, deadline time.Time) TimerAction) (Token, error) {
	return l.addTimer(l.after(d), fn)
}

// AddTimerAt is [Loop.AddTimer] with an absolute deadline. It reads no
// clock: a deadline computed once and reused for many timers costs nothing.
func (l *Loop[S]) AddTimerAt(t time.Time, fn func(s *S, deadline time.Time) TimerAction) (Token, error) {
	return l.addTimer(l.since(t), fn)
}

// ResetTimer re-arms timer t to fire d from now, whether it is pending,
// firing (its callback's returned action then takes precedence) or disabled
// (it keeps the new deadline until enabled). O(log n) amortized.
func (l *Loop[S]) ResetTimer(t Token, d time.Duration) error {
	return l.resetTimer(t, l.after(d))
}

// ResetTimerAt is [Loop.ResetTimer] with an absolute deadline.
func (l *Loop[S]) ResetTimerAt(t Token, at time.Time) error {
	return l.resetTimer(t, l.since(at))
}

func (l *Loop[S]) after(d time.Duration) int64 {
	now := l.clock()
	if d < 0 {
		d = 0
	}
	if int64(d) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(d)
}

// since converts t to the timer clock. Deadlines before the loop's origin
// are negative, which keeps their order; the saturation of time.Sub at the
// far future gives math.MaxInt64, never.
func (l *Loop[S]) since(t time.Time) int64 {
	return int64(t.Sub(l.base))
}

func (l *Loop[S]) addTimer(when int64, fn func(*S, time.Time) TimerAction) (Token, error) {
	if fn == nil {
		return Token{}, errors.New("calloop: AddTimer with a nil callback")
	}
	if l.closed {
		return Token{}, ErrClosed
	}
	if int(l.timers.n) >= timerBit-1 {
		return Token{}, errTooManySources
	}
	id := l.timers.alloc(when, fn)
	return l.tok(id|timerBit, l.timers.item(id).gen), nil
}

func (l *Loop[S]) timer(t Token) (uint32, *timer[S], error) {
	if l.closed {
		return 0, nil, ErrClosed
	}
	if t.id&timerBit == 0 || t.loop != l.id {
		return 0, nil, ErrInvalidToken
	}
	id := t.id &^ timerBit
	tm := l.timers.lookup(id, t.gen)
	if tm == nil {
		return 0, nil, ErrInvalidToken
	}
	return id, tm, nil
}

func (l *Loop[S]) resetTimer(t Token, when int64) error {
	id, _, err := l.timer(t)
	if err != nil {
		return err
	}
	l.timers.reschedule(id, when)
	return nil
}

func (l *Loop[S]) removeTimer(t Token) error {
	id, tm, err := l.timer(t)
	if err != nil {
		return err
	}
	if tm.child {
		l.unlink(t)
	}
	l.forgetTimerName(id)
	l.timers.release(id)
	return nil
}

func (l *Loop[S]) disableTimer(t Token) error {
	_, tm, err := l.timer(t)
	if err != nil {
		return err
	}
	tm.held = true
	if tm.enabled {
		l.deactivate(t)
	}
	return nil
}

func (l *Loop[S]) enableTimer(t Token) error {
	id, tm, err := l.timer(t)
	if err != nil {
		return err
	}
	tm.held = false
	if !tm.enabled && (!tm.child || l.parentActive(l.tlinks[id].parent)) {
		l.activate(t)
	}
	return nil
}

// fireTimers runs the callbacks of the timers of class c due at l.now
// (phase 5), in (deadline, insertion) order. Timers set or re-armed during
// this iteration wait for the next one, even if due: the due set is taken
// off the heap first, so a timer re-armed into the past cannot hide the
// others. The class is settled (see timerHeap) once, before the first
// round: the timers set by this iteration's callbacks from then on stay
// pending, out of the rounds' way, until the next iteration.
//
// A timer set after the poll but before the settle (by an event's callback,
// or a higher class's timer) can still be met among the due ones. Its
// entry, met first, stays out of the heap (in l.later) until the last
// round: put back after each round, it would be met again by the next one,
// and a million timers catching up into the past would take the heap
// quadratic time. Meanwhile the heap's live count
// includes those entries, so next (top) must not run before fireTimers
// returns; nothing calls it during a dispatch phase.
func (l *Loop[S]) fireTimers(s *S, c uint8) {
	if !l.nowSet {
		return // the heaps were empty at the poll: every timer is newer
	}
	ts := &l.timers
	hp := &ts.heap
	if c != clsDefault {
		hp = ts.hp(c)
	}
	limit := l.timerSeq
	if len(hp.pend) > 0 {
		ts.settle(hp)
	}
	// Rounds of at most timerRound timers keep l.due small and cache-hot
	// even when a million timers are due at once.
	for {
		for len(l.due) < timerRound {
			ep := hp.first()
			if ep == nil || ep.when > l.now {
				break
			}
			e := *ep
			hp.drop(ep)
			tm := ts.item(e.id)
			if tm.seq != e.seq || tm.mv != e.tag {
				continue // dead
			}
			if e.seq > limit {
				// Set after the poll: back into the heap after
				// the last round, with its entry unchanged.
				l.later = append(l.later, e)
				continue
			}
			tm.seq, tm.due = 0, true
			hp.live--
			l.due = append(l.due, dueTimer{l.tok(e.id|timerBit, tm.gen), e.seq})
		}
		if len(l.due) == 0 {
			break
		}
		ts.shrink(hp) // the fired entries were live ones
		l.fireDue(s)
	}
	if len(l.later) > 0 {
		l.requeueLater()
	}
	ts.shrink(hp)
}

// requeueLater puts back into their heaps the entries of l.later that are
// still live (their timers were not reset, disabled, removed or moved to
// another class meanwhile).
func (l *Loop[S]) requeueLater() {
	ts := &l.timers
	for i := range l.later {
		if e := &l.later[i]; ts.isLive(e) {
			ts.hp(ts.item(e.id).cls).add(*e)
		}
	}
	l.later = l.later[:0]
}

// timerRound is how many due timers fireTimers takes off the heap at a time.
const timerRound = 1024

// fireDue runs the callbacks of the timers in l.due, in order.
func (l *Loop[S]) fireDue(s *S) {
	ts := &l.timers
	for l.duePos = 0; l.duePos < len(l.due); l.duePos++ {
		t := l.due[l.duePos].tok
		id := t.id &^ timerBit
		tm := ts.item(id)
		if tm.gen != t.gen || !tm.due {
			continue // removed, disabled or reset by an earlier callback
		}
		tm.due = false
		fn, deadline := tm.fn, l.base.Add(time.Duration(tm.when))
		l.firing = t
		if l.st != nil {
			l.statsTimerLag(tm.when)
		}
		act := fn(s, deadline)
		l.firing = Token{}
		if l.st != nil {
			l.statsCallback(statTimer, t)
		}
		if ts.item(id).gen != t.gen {
			continue // the callback removed its own timer
		}
		switch act.kind {
		case actAgain:
			when := l.now + int64(act.d)
			if act.d < 0 {
				when = l.now
			} else if int64(act.d) > math.MaxInt64-l.now {
				when = math.MaxInt64
			}
			ts.reschedule(id, when)
		case actAt:
			ts.reschedule(id, l.since(act.at))
		default:
			if ts.item(id).child {
				l.unlink(t)
			}
			l.forgetTimerName(id)
			ts.release(id)
		}
	}
	l.due = l.due[:0]
	l.duePos = 0
}

// dueTimer is a timer taken off its heap to fire (fireTimers), with the
// sequence number of the entry it was taken from.
type dueTimer struct {
	tok Token
	seq uint64
}

// requeueDue puts back the due timers a panic kept from firing, each with
// its entry's sequence number: it keeps its place among the timers of its
// deadline, those set after it included.
func (l *Loop[S]) requeueDue() {
	ts := &l.timers
	for _, d := range l.due[min(l.duePos+1, len(l.due)):] {
		id := d.tok.id &^ timerBit
		if tm := ts.item(id); tm.gen == d.tok.gen && tm.due {
			// Still due: it has no entry, and its deadline is the
			// one it was due at (a reset clears due).
			tm.due = false
			tm.seq = d.seq
			ts.hp(tm.cls).insert(heapEntry{when: tm.when, seq: d.seq, id: id, tag: tm.mv})
		}
	}
	l.due = l.due[:0]
	l.duePos = 0
}
