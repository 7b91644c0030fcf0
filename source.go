package calloop

import (
	"errors"
	"fmt"

	"github.com/calloop-go/calloop/internal/poller"
)

// Source is a custom event source: a value that registers its own file
// descriptors (each under a sub-token of its choice) and turns their events
// into callbacks, so that a library can ship a source any Loop[S] accepts.
// See the package documentation, "Writing a source", and the LineReader
// example.
//
// The loop calls every method on its own goroutine:
//   - Register when the source is added or enabled (by its own Enable, or
//     its parent's: see [Registrar.Adopt]). It registers the source's
//     descriptors with r (and may keep r: it stays valid until the source is
//     removed); it may also create sources and adopt them as children.
//   - Process for each event of one of those descriptors, with the
//     descriptor's sub-token, and for each synthetic event raised with
//     [Registrar.Ready]. Its [Action] applies to the whole source; an error
//     fails the iteration (see [Loop.Fail]) and leaves the source in place.
//   - Unregister when the source is disabled or removed (by itself or with
//     its parent), after its children. It deregisters the descriptors with
//     r; the loop silences or removes the children itself. Unregister
//     cannot tell a Disable from a removal: a source that owns resources
//     (descriptors to close) also implements [Remover].
type Source[S any] interface {
	Register(r *Registrar) error
	Process(s *S, sub uint16, ev Events) (Action, error)
	Unregister(r *Registrar) error
}

// BeforeSleeper is implemented by sources that need a hook before the loop
// polls the kernel, in every iteration while they are enabled: to flush
// buffered output, or to report data that is already buffered (with
// [Registrar.Ready], which also keeps the loop from sleeping).
type BeforeSleeper interface {
	BeforeSleep(r *Registrar) error
}

// Remover is implemented by a custom source that must learn of its removal,
// as opposed to a Disable, to release what it owns: close its descriptors,
// stop its goroutines, drop its buffers. The loop calls Removed on its
// goroutine, once, when the source is removed: by [Loop.Remove] of its
// token or of an ancestor's, or by [Loop.Close]. Removed comes after
// Unregister when the source was enabled, and alone when it was disabled
// (its Unregister ran at the Disable). The source's Registrar is already
// closed then, and its children are gone.
type Remover interface {
	Removed()
}

// remover is implemented by built-in sources that must learn of their removal
// (to release senders or stop a goroutine), as opposed to a Disable.
type remover interface{ removed() }

// Registrar is a source's handle on its loop: the registration of its file
// descriptors and synthetic events. Its methods must be called on the loop's
// goroutine, and fail with [ErrInvalidToken] once the source is removed.
type Registrar struct {
	reg      registry
	idx, gen uint32
	loop     uint32 // the loop's identity, for Token
	dead     bool
}

// registry is implemented by *Loop[S]; it keeps Registrar free of S.
type registry interface {
	registerFD(idx, gen uint32, fd int, sub uint16, interest Events, mode Mode, add bool) error
	unregisterFD(idx uint32, fd int) error
	disown(idx uint32, fd int)
	ready(idx, gen uint32, sub uint16, ev Events)
	adopt(idx uint32, child Token) error
}

func (r *Registrar) close() { r.dead = true }

// Token returns the token of the source r belongs to.
func (r *Registrar) Token() Token { return Token{r.idx, r.gen, r.loop} }

// AddFD registers fd under sub-token sub; its events reach the source's
// Process with that sub-token.
func (r *Registrar) AddFD(fd int, sub uint16, interest Events, mode Mode) error {
	if r.dead {
		return ErrInvalidToken
	}
	if err := checkInterest("Registrar.AddFD", interest, mode); err != nil {
		return err
	}
	return r.reg.registerFD(r.idx, r.gen, fd, sub, interest&(Readable|Writable), mode, true)
}

// ModifyFD changes the interest, mode or sub-token of fd, and re-arms a
// OneShot registration.
func (r *Registrar) ModifyFD(fd int, sub uint16, interest Events, mode Mode) error {
	if r.dead {
		return ErrInvalidToken
	}
	if err := checkInterest("Registrar.ModifyFD", interest, mode); err != nil {
		return err
	}
	return r.reg.registerFD(r.idx, r.gen, fd, sub, interest&(Readable|Writable), mode, false)
}

// DeleteFD deregisters fd. A descriptor already closed is not an error.
func (r *Registrar) DeleteFD(fd int) error {
	if r.dead {
		return ErrInvalidToken
	}
	err := r.reg.unregisterFD(r.idx, fd)
	r.reg.disown(r.idx, fd)
	return err
}

// Ready raises a synthetic event: the source's Process is called with sub and
// ev in the next iteration, which does not sleep. Use it to continue work cut
// short by a budget, or to report data already buffered in user space. It is
// dropped if the source is disabled or removed before then.
func (r *Registrar) Ready(sub uint16, ev Events) {
	if !r.dead {
		r.reg.ready(r.idx, r.gen, sub, ev)
	}
}

func (l *Loop[S]) ready(idx, gen uint32, sub uint16, ev Events) {
	l.synthNext = append(l.synthNext, poller.MakeEvent(key(idx, gen, sub), poller.Events(ev)))
}

// AddSource registers a custom source (its Register is called at once) and
// returns its token. If Register fails the source is not added, the
// descriptors it registered and the children it adopted before failing are
// removed, and the error is returned.
func (l *Loop[S]) AddSource(src Source[S]) (Token, error) {
	if src == nil {
		return Token{}, errors.New("calloop: AddSource with a nil source")
	}
	idx, err := l.addSlot(kindSource)
	if err != nil {
		return Token{}, err
	}
	sl := &l.slots[idx]
	reg := &Registrar{reg: l, idx: idx, gen: sl.gen, loop: l.id}
	sl.src, sl.reg = src, reg
	if err := src.Register(reg); err != nil {
		reg.close()
		l.dropFDs(idx) // what Register added before failing
		if len(l.slots[idx].kids) > 0 {
			l.removeKids(idx) // and the children it adopted
		}
		l.release(idx)
		return Token{}, fmt.Errorf("calloop: registering source: %w", err)
	}
	l.hook(idx)
	return l.tok(idx, reg.gen), nil
}
