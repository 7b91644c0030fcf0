package calloop

import (
	"errors"
	"fmt"
)

// Children. A custom source (the parent) may own any other source or timer
// of its loop: a descriptor, a timer, a ping, a channel, a signal watch, an
// idle callback, another custom source, a nested loop. A child stays an
// ordinary source of the loop: it keeps its own token, its typed callback
// and every semantic of its kind (budgets, coalescing, closed events,
// deadlines), and an event reaches it exactly as it would reach a source
// without a parent, at the same cost. What the parent adds is the lifetime:
// Disable, Enable and Remove of the parent apply to every descendant.
//
// A source or timer is active when neither it nor any ancestor is disabled.
// slot.enabled and timer.enabled mean active (events are delivered); held
// records a Disable of the source itself, which its parent's Enable must
// not undo.

// errCycle is returned by Adopt for a child that is the parent itself or
// one of its ancestors.
var errCycle = errors.New("calloop: Adopt: a source cannot be its own descendant")

// kidLink is a child timer's place in its parent (timers keep it in a side
// table: few timers are children, and a million timers are normal).
type kidLink struct {
	parent uint32 // slot index + 1
	pos    int32  // index in the parent's kids
}

// Adopt makes the source or timer child a child of the source r belongs to:
// from then on, disabling, enabling or removing the parent disables,
// enables or removes child with it (a child disabled by itself stays
// disabled through its parent's Enable). child keeps its token, its callback
// and its behaviour; it may still be disabled, enabled and removed on its
// own, and removing it detaches it from its parent. Adopting into a disabled
// parent silences child at once.
//
// Adopt fails with [ErrInvalidToken] once the parent was removed, or if
// child is not a live source or timer of this loop, and with an error if
// child already has a parent or is the parent or one of its ancestors (a
// cycle). On failure child is left as it was: the caller decides whether to
// remove it. Call Adopt on the loop's goroutine, typically right after
// creating the child:
//
//	tok, err := l.AddTimer(timeout, c.expired)
//	if err == nil {
//		err = c.reg.Adopt(tok)
//	}
func (r *Registrar) Adopt(child Token) error {
	if r.dead {
		return ErrInvalidToken
	}
	return r.reg.adopt(r.idx, child)
}

// Parent returns the parent of source or timer t (see [Registrar.Adopt]),
// or the zero Token and false if t has none. It fails with
// [ErrInvalidToken] if t is not a live source or timer of this loop.
func (l *Loop[S]) Parent(t Token) (Token, bool, error) {
	if l.closed {
		return Token{}, false, ErrClosed
	}
	p, err := l.parentOf(t)
	if err != nil || p == 0 {
		return Token{}, false, err
	}
	return l.tok(p-1, l.slots[p-1].gen), true, nil
}

// parentOf returns t's parent slot index + 1 (0: none).
func (l *Loop[S]) parentOf(t Token) (uint32, error) {
	if t.id&timerBit != 0 {
		id, tm, err := l.timer(t)
		if err != nil {
			return 0, err
		}
		if !tm.child {
			return 0, nil
		}
		return l.tlinks[id].parent, nil
	}
	sl := l.lookup(t)
	if sl == nil {
		return 0, ErrInvalidToken
	}
	return sl.parent, nil
}

func (l *Loop[S]) adopt(pidx uint32, child Token) error {
	if l.closed {
		return ErrClosed
	}
	if l.slots[pidx].removing {
		return ErrInvalidToken // the parent is being removed
	}
	cur, err := l.parentOf(child)
	if err != nil {
		return err
	}
	if cur != 0 {
		return fmt.Errorf("calloop: Adopt: %v already has a parent", child)
	}
	if child.id&timerBit == 0 {
		for a := pidx + 1; a != 0; a = l.slots[a-1].parent {
			if a-1 == child.id {
				return errCycle
			}
		}
	}
	p := &l.slots[pidx]
	pos := int32(len(p.kids))
	p.kids = append(p.kids, child)
	l.setLink(child, pidx+1, pos)
	if !p.enabled && l.active(child) {
		return l.deactivate(child)
	}
	return nil
}

// setLink records child's parent (slot index + 1, 0: none) and its index in
// the parent's kids.
func (l *Loop[S]) setLink(child Token, parent uint32, pos int32) {
	if child.id&timerBit != 0 {
		id := child.id &^ timerBit
		tm := l.timers.item(id)
		if parent == 0 {
			tm.child = false
			delete(l.tlinks, id)
			return
		}
		tm.child = true
		if l.tlinks == nil {
			l.tlinks = make(map[uint32]kidLink)
		}
		l.tlinks[id] = kidLink{parent, pos}
		return
	}
	sl := &l.slots[child.id]
	sl.parent, sl.kidPos = parent, pos
}

// unlink detaches t from its parent, if it has one.
func (l *Loop[S]) unlink(t Token) {
	var parent uint32
	var pos int32
	if t.id&timerBit != 0 {
		id := t.id &^ timerBit
		if !l.timers.item(id).child {
			return
		}
		k := l.tlinks[id]
		parent, pos = k.parent, k.pos
	} else {
		sl := &l.slots[t.id]
		parent, pos = sl.parent, sl.kidPos
	}
	if parent == 0 {
		return
	}
	l.setLink(t, 0, 0)
	p := &l.slots[parent-1]
	last := int32(len(p.kids) - 1)
	if pos != last {
		moved := p.kids[last]
		p.kids[pos] = moved
		l.setLink(moved, parent, pos)
	}
	p.kids[last] = Token{}
	p.kids = p.kids[:last]
}

// removeKids removes every child of slot idx. A child the kernel refuses to
// let go (see Remove) is detached instead and stays, with its token.
func (l *Loop[S]) removeKids(idx uint32) error {
	var errs []error
	for n := len(l.slots[idx].kids); n > 0; n = len(l.slots[idx].kids) {
		k := l.slots[idx].kids[n-1]
		if err := l.Remove(k); err != nil {
			errs = append(errs, err)
			if len(l.slots[idx].kids) == n && l.slots[idx].kids[n-1] == k {
				l.unlink(k)
			}
		}
	}
	return errors.Join(errs...)
}

// parentActive reports whether parent (slot index + 1, 0: none) lets its
// children be active.
func (l *Loop[S]) parentActive(parent uint32) bool {
	return parent == 0 || l.slots[parent-1].enabled
}

// active reports whether the live source or timer t is active.
func (l *Loop[S]) active(t Token) bool {
	if t.id&timerBit != 0 {
		return l.timers.item(t.id &^ timerBit).enabled
	}
	return l.slots[t.id].enabled
}

// held reports whether t was disabled by itself.
func (l *Loop[S]) held(t Token) bool {
	if t.id&timerBit != 0 {
		return l.timers.item(t.id &^ timerBit).held
	}
	return l.slots[t.id].held
}

// deactivate silences the active source or timer t and its active
// descendants. A parent is marked inactive first, so that a child adopted
// during the cascade is silenced by Adopt; its children go before its own
// Unregister. It returns the first error, having tried every one.
func (l *Loop[S]) deactivate(t Token) error {
	if t.id&timerBit != 0 {
		id := t.id &^ timerBit
		tm := l.timers.item(id)
		tm.enabled = false
		l.timers.unqueue(tm)
		return nil
	}
	idx := t.id
	sl := &l.slots[idx]
	switch sl.kind {
	case kindFD:
		if err := l.silenceFD(idx, sl.gen, int(sl.fd)); err != nil {
			return err // still active
		}
		sl.enabled = false
		return nil
	case kindIdle:
		sl.enabled = false
		l.unqueueIdle(t)
		return nil
	}
	sl.enabled = false
	l.unhook(idx)
	gen := sl.gen
	var errs []error
	// Backwards: a child removed meanwhile moves an already visited one.
	for i := len(sl.kids) - 1; i >= 0; i-- {
		kids := l.slots[idx].kids
		if i >= len(kids) {
			continue
		}
		if k := kids[i]; l.active(k) {
			if err := l.deactivate(k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sl = &l.slots[idx]
	if sl.gen != gen || sl.kind != kindSource {
		return errors.Join(errs...) // removed by a child's Unregister
	}
	if err := sl.src.Unregister(sl.reg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// activate resumes the inactive source or timer t, then those of its
// descendants that are not disabled by themselves. It returns the first
// error, having tried every one; a source whose Register failed stays
// inactive.
func (l *Loop[S]) activate(t Token) error {
	if t.id&timerBit != 0 {
		id := t.id &^ timerBit
		l.timers.item(id).enabled = true
		l.timers.push(id)
		return nil
	}
	idx := t.id
	sl := &l.slots[idx]
	switch sl.kind {
	case kindFD:
		if err := l.registerFD(idx, sl.gen, int(sl.fd), 0, sl.interest, sl.mode, false); err != nil {
			return err
		}
		sl.enabled = true
		return nil
	case kindIdle:
		sl.enabled = true
		l.idles = append(l.idles, t)
		return nil
	}
	sl.enabled = true
	gen := sl.gen
	err := sl.src.Register(sl.reg)
	if sl = &l.slots[idx]; sl.gen != gen || sl.kind != kindSource {
		return err // removed by its own Register
	}
	if err != nil {
		sl.enabled = false
		return err
	}
	l.hook(idx)
	l.raiseOwed(idx)
	var errs []error
	for i := 0; i < len(l.slots[idx].kids); i++ {
		k := l.slots[idx].kids[i]
		if !l.active(k) && !l.held(k) {
			if err := l.activate(k); err != nil {
				errs = append(errs, err)
			}
		}
		if !l.slots[idx].enabled {
			break // a child's Register disabled the parent
		}
	}
	return errors.Join(errs...)
}
