package calloop

import (
	"errors"
	"fmt"

	"github.com/calloop-go/calloop/internal/poller"
)

// AddFD watches file descriptor fd for the readiness in interest (Readable,
// Writable or both; none is allowed and reports only errors and hang-ups) in
// the given mode, and calls fn with the readiness each time it is reported.
// fn's [Action] keeps, disables or removes the source.
//
// The loop does not own fd: the caller closes it, after removing the source
// or from inside fn before returning [Remove]. A closed or invalid fd is an
// error here, not a crash later; so is an fd already registered with this
// loop, and so are Events bits and Modes the package does not define. If fd
// was closed without removing its source and its number was then reused, the
// new registration takes the number over and the old source stays silent
// until removed.
func (l *Loop[S]) AddFD(fd int, interest Events, mode Mode, fn func(s *S, ev Events) Action) (Token, error) {
	if fn == nil {
		return Token{}, errors.New("calloop: AddFD with a nil callback")
	}
	if fd < 0 {
		return Token{}, fmt.Errorf("calloop: AddFD: invalid fd %d", fd)
	}
	if err := checkInterest("AddFD", interest, mode); err != nil {
		return Token{}, err
	}
	idx, err := l.addSlot(kindFD)
	if err != nil {
		return Token{}, err
	}
	sl := &l.slots[idx]
	sl.fd, sl.interest, sl.mode, sl.fdFn = int32(fd), interest&(Readable|Writable), mode, fn
	if err := l.registerFD(idx, sl.gen, fd, 0, sl.interest, mode, true); err != nil {
		l.release(idx)
		return Token{}, err
	}
	return l.tok(idx, sl.gen), nil
}

// ModifyFD changes the interest and mode of fd source t. It also re-arms a
// OneShot registration, and may be called from t's own callback. On a
// disabled source it only records the new settings for [Loop.Enable].
func (l *Loop[S]) ModifyFD(t Token, interest Events, mode Mode) error {
	if l.closed {
		return ErrClosed
	}
	sl := l.lookup(t)
	if sl == nil {
		return ErrInvalidToken
	}
	if sl.kind != kindFD {
		return fmt.Errorf("calloop: ModifyFD: %v is not an fd source", t)
	}
	if err := checkInterest("ModifyFD", interest, mode); err != nil {
		return err
	}
	interest &= Readable | Writable
	if sl.enabled {
		if err := l.registerFD(t.id, sl.gen, int(sl.fd), 0, interest, mode, false); err != nil {
			return err
		}
	}
	sl.interest, sl.mode = interest, mode
	return nil
}

// checkInterest rejects Events bits and Modes the package does not define.
// Error and Hangup are allowed in an interest, and ignored: they are always
// reported.
func checkInterest(op string, interest Events, mode Mode) error {
	if interest&^(Readable|Writable|Error|Hangup) != 0 {
		return fmt.Errorf("calloop: %s: unknown Events bits %#x", op, uint8(interest&^(Readable|Writable|Error|Hangup)))
	}
	if mode != Level && mode != Edge && mode != OneShot {
		return fmt.Errorf("calloop: %s: unknown %v", op, mode)
	}
	return nil
}

// registerFD adds or modifies fd's kernel registration for slot idx and
// records the slot as the fd's owner. A number still owned by another slot
// (enabled or disabled: a disabled fd stays registered, silenced) whose
// registration the kernel accepted anew means that slot's fd was closed
// behind the loop's back, which made the kernel forget it: the new
// registration takes the number over.
func (l *Loop[S]) registerFD(idx, gen uint32, fd int, sub uint16, interest Events, mode Mode, add bool) error {
	if fd < 0 {
		return fmt.Errorf("calloop: fd of %v was closed and its number reused", l.tok(idx, gen))
	}
	k := key(idx, gen, sub)
	var err error
	if add {
		err = l.p.Add(fd, k, poller.Events(interest), poller.Mode(mode))
	} else {
		err = l.p.Modify(fd, k, poller.Events(interest), poller.Mode(mode))
	}
	if err != nil {
		return err
	}
	for fd >= len(l.fdOwner) {
		l.fdOwner = append(l.fdOwner, 0)
	}
	if old := l.fdOwner[fd]; old != 0 && old-1 != idx {
		if o := &l.slots[old-1]; o.kind == kindFD && int(o.fd) == fd {
			o.fd = -1
		}
	}
	l.fdOwner[fd] = idx + 1
	return nil
}

// unregisterFD removes fd's kernel registration if slot idx still owns it.
// A descriptor the caller already closed is not an error: the kernel dropped
// it with the close. Any other failure is returned, and the registration is
// still there.
func (l *Loop[S]) unregisterFD(idx uint32, fd int) error {
	if fd < 0 || fd >= len(l.fdOwner) || l.fdOwner[fd] != idx+1 {
		return nil
	}
	if err := l.p.Delete(fd); err != nil && !poller.Gone(err) {
		return err
	}
	return nil
}

// silenceFD disables fd's kernel registration while keeping it, so that
// the loop still tells "registered twice" from "closed and reused".
func (l *Loop[S]) silenceFD(idx, gen uint32, fd int) error {
	if fd < 0 || fd >= len(l.fdOwner) || l.fdOwner[fd] != idx+1 {
		return nil
	}
	if err := l.p.Disable(fd, key(idx, gen, 0)); err != nil && !poller.Gone(err) {
		return err // a closed fd has nothing left to silence
	}
	return nil
}

func (l *Loop[S]) disown(idx uint32, fd int) {
	if fd >= 0 && fd < len(l.fdOwner) && l.fdOwner[fd] == idx+1 {
		l.fdOwner[fd] = 0
	}
}

// dropFDs deregisters every descriptor slot idx owns.
func (l *Loop[S]) dropFDs(idx uint32) {
	for fd, owner := range l.fdOwner {
		if owner == idx+1 {
			l.p.Delete(fd)
			l.fdOwner[fd] = 0
		}
	}
}
