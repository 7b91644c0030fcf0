package calloop

import "math"

// addSlot takes a vacant slot (the most recently freed one, so that a removed
// source's index is reused at once with a new generation) and returns its
// index.
func (l *Loop[S]) addSlot(kind slotKind) (uint32, error) {
	if l.closed {
		return 0, ErrClosed
	}
	var idx uint32
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		if len(l.slots) >= math.MaxUint32>>1 {
			return 0, errTooManySources
		}
		idx = uint32(len(l.slots))
		l.slots = append(l.slots, slot[S]{})
	}
	sl := &l.slots[idx]
	sl.gen++
	if sl.gen == 0 {
		sl.gen = 1
	}
	sl.kind = kind
	sl.enabled = true
	return idx, nil
}

// lookup returns the live slot t names, or nil.
func (l *Loop[S]) lookup(t Token) *slot[S] {
	if t.id&timerBit != 0 || t.loop != l.id || int(t.id) >= len(l.slots) {
		return nil
	}
	sl := &l.slots[t.id]
	if sl.gen != t.gen || sl.kind == kindFree {
		return nil
	}
	return sl
}

// release frees a slot: its generation moves on, so its token and any event
// still in flight for it become stale.
func (l *Loop[S]) release(idx uint32) {
	sl := &l.slots[idx]
	gen := sl.gen + 1
	if gen == 0 {
		gen = 1
	}
	*sl = slot[S]{gen: gen}
	l.free = append(l.free, idx)
}

// Remove removes the source or timer t; t becomes invalid. It may be called
// from any callback, including t's own; an event already received for t is
// dropped. The loop does not close a file descriptor it was given. If the
// kernel fails to deregister an open descriptor (not a closed one, which is
// fine), Remove returns that error and the source stays, t still valid.
func (l *Loop[S]) Remove(t Token) error {
	if l.closed {
		return ErrClosed
	}
	if t.id&timerBit != 0 {
		return l.removeTimer(t)
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	switch sl.kind {
	case kindFD:
		// A disabled fd is still registered, silenced. If the kernel
		// refuses to let it go, the source stays, its token valid.
		if err := l.unregisterFD(t.id, int(sl.fd)); err != nil {
			return err
		}
		l.disown(t.id, int(sl.fd))
	case kindSource:
		src, reg := sl.src, sl.reg
		var err error
		if sl.enabled {
			l.unhook(t.id)
			err = src.Unregister(reg)
		}
		reg.close()
		if r, ok := src.(remover); ok {
			r.removed()
		}
		l.release(t.id)
		return err
	case kindIdle:
		for i, q := range l.idles { // short; keeps a cancelled idle from waking the loop
			if q == t {
				l.idles = append(l.idles[:i], l.idles[i+1:]...)
				break
			}
		}
	}
	l.release(t.id)
	return nil
}

// Disable stops the events of source or timer t until [Loop.Enable]; t stays
// valid. A disabled timer keeps its deadline. Disabling a disabled source
// does nothing. Idle callbacks cannot be disabled, only removed.
func (l *Loop[S]) Disable(t Token) error {
	if l.closed {
		return ErrClosed
	}
	if t.id&timerBit != 0 {
		return l.disableTimer(t)
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	if !sl.enabled {
		return nil
	}
	switch sl.kind {
	case kindFD:
		if err := l.silenceFD(t.id, sl.gen, int(sl.fd)); err != nil {
			return err // still enabled
		}
		sl.enabled = false
		return nil
	case kindSource:
		sl.enabled = false
		l.unhook(t.id)
		return sl.src.Unregister(sl.reg)
	}
	return errIdleToggle
}

// Enable resumes the events of a source or timer disabled by [Loop.Disable]
// or by a callback's [Disable] action. For a OneShot fd it also re-arms the
// registration. A timer whose deadline passed while it was disabled fires in
// the next iteration.
func (l *Loop[S]) Enable(t Token) error {
	if l.closed {
		return ErrClosed
	}
	if t.id&timerBit != 0 {
		return l.enableTimer(t)
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	switch sl.kind {
	case kindFD:
		if !sl.enabled || sl.mode == OneShot {
			if err := l.registerFD(t.id, sl.gen, int(sl.fd), 0, sl.interest, sl.mode, false); err != nil {
				return err
			}
		}
		sl.enabled = true
		return nil
	case kindSource:
		if sl.enabled {
			return nil
		}
		sl.enabled = true
		if err := sl.src.Register(sl.reg); err != nil {
			sl.enabled = false
			return err
		}
		l.hook(t.id)
		l.raiseOwed(t.id)
		return nil
	}
	return errIdleToggle
}

func (l *Loop[S]) hook(idx uint32) {
	sl := &l.slots[idx]
	if _, ok := sl.src.(BeforeSleeper); ok && !sl.hooked {
		sl.hooked = true
		l.hooks = append(l.hooks, idx)
	}
}

func (l *Loop[S]) unhook(idx uint32) {
	sl := &l.slots[idx]
	if !sl.hooked {
		return
	}
	sl.hooked = false
	for i, h := range l.hooks {
		if h == idx {
			l.hooks = append(l.hooks[:i], l.hooks[i+1:]...)
			return
		}
	}
}
