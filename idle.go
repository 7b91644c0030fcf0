package calloop

import "errors"

// AddIdle queues fn to run once, at the end of the next iteration, after the
// events and timers (see the package documentation). A loop with idle
// callbacks queued does not sleep. Callbacks queued while idle callbacks run
// wait for the next iteration. The token cancels fn with [Loop.Remove] until
// it has run.
func (l *Loop[S]) AddIdle(fn func(s *S)) (Token, error) {
	if fn == nil {
		return Token{}, errors.New("calloop: AddIdle with a nil callback")
	}
	idx, err := l.addSlot(kindIdle)
	if err != nil {
		return Token{}, err
	}
	sl := &l.slots[idx]
	sl.idleFn = fn
	t := l.tok(idx, sl.gen)
	l.idles = append(l.idles, t)
	return t, nil
}
