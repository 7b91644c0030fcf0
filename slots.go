package calloop

import (
	"errors"
	"math"
)

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
	if sl.gen != t.gen || sl.kind == kindFree || sl.removing {
		return nil
	}
	return sl
}

// release frees a slot: its generation moves on, so its token and any event
// still in flight for it become stale.
func (l *Loop[S]) release(idx uint32) {
	sl := &l.slots[idx]
	if sl.prio != PriorityDefault {
		l.nprio--
	}
	if l.snames != nil {
		delete(l.snames, idx)
	}
	gen := sl.gen + 1
	if gen == 0 {
		gen = 1
	}
	*sl = slot[S]{gen: gen}
	l.free = append(l.free, idx)
}

// Remove removes the source or timer t; t becomes invalid. It may be called
// from any callback, including t's own; an event already received for t is
// dropped. Removing a source removes its children first (see
// [Registrar.Adopt]). The loop does not close a file descriptor it was given.
// If the kernel fails to deregister an open descriptor (not a closed one,
// which is fine), Remove returns that error and the source stays, t still
// valid.
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
	// While it is being removed (its children, its Unregister), the source
	// is invisible: a call back into Remove, Disable or Enable for it from
	// that code fails with ErrInvalidToken instead of recursing.
	sl.removing = true
	var kerr error
	if len(sl.kids) > 0 {
		kerr = l.removeKids(t.id)
		sl = &l.slots[t.id] // the removals may have grown l.slots
	}
	switch sl.kind {
	case kindFD:
		// A disabled fd is still registered, silenced. If the kernel
		// refuses to let it go, the source stays, its token valid.
		if err := l.unregisterFD(t.id, int(sl.fd)); err != nil {
			sl.removing = false
			return errors.Join(kerr, err)
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
		l.unlink(t)
		if r, ok := src.(remover); ok {
			r.removed()
		}
		l.release(t.id)
		if r, ok := src.(Remover); ok {
			r.Removed()
		}
		return errors.Join(kerr, err)
	case kindIdle:
		l.unqueueIdle(t)
	}
	l.unlink(t)
	l.release(t.id)
	return kerr
}

func (l *Loop[S]) unqueueIdle(t Token) {
	for i, q := range l.idles { // short; keeps a cancelled idle from waking the loop
		if q == t {
			l.idles = append(l.idles[:i], l.idles[i+1:]...)
			return
		}
	}
}

// Disable stops the events of source or timer t until [Loop.Enable]; t stays
// valid. A disabled timer keeps its deadline. Disabling a source disables
// its children with it. Disabling a disabled source does nothing. Idle
// callbacks cannot be disabled, only removed (but an idle callback that is
// the child of a disabled source waits for its parent's Enable).
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
	if sl.kind == kindIdle {
		return errIdleToggle
	}
	if sl.held {
		return nil
	}
	if !sl.enabled { // its parent is disabled: remember for the parent's Enable
		sl.held = true
		return nil
	}
	err := l.deactivate(t)
	if sl = l.lookup(t); sl == nil {
		return err // removed meanwhile (by an Unregister)
	}
	if sl.kind == kindFD && sl.enabled {
		return err // the kernel refused: still enabled
	}
	sl.held = true
	return err
}

// Enable resumes the events of a source or timer disabled by [Loop.Disable]
// or by a callback's [Disable] action, and those of its children. For a
// OneShot fd it also re-arms the registration. A timer whose deadline passed
// while it was disabled fires in the next iteration. A child whose parent is
// disabled stays silent until the parent is enabled.
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
	if sl.kind == kindIdle {
		return errIdleToggle
	}
	if !l.parentActive(sl.parent) {
		sl.held = false
		return nil
	}
	if sl.enabled {
		sl.held = false
		if sl.kind == kindFD && sl.mode == OneShot {
			return l.registerFD(t.id, sl.gen, int(sl.fd), 0, sl.interest, sl.mode, false)
		}
		return nil
	}
	err := l.activate(t)
	if sl = l.lookup(t); sl != nil && sl.enabled {
		sl.held = false
	}
	return err
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
