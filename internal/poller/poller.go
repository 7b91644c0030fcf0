// Package poller is the only code in the module that talks to the kernel's
// readiness facility. Each backend file defines the same Poller type:
//
//	New() (*Poller, error)
//	(*Poller).Fd() int                                      the pollable kernel object
//	(*Poller).Add(fd int, key uint64, interest Events, mode Mode) error
//	(*Poller).Modify(fd int, key uint64, interest Events, mode Mode) error
//	(*Poller).Disable(fd int, key uint64) error              silence, keep registered
//	(*Poller).Delete(fd int) error
//	(*Poller).Wait(buf []Event, timeout time.Duration) (int, error)
//	(*Poller).Block(buf []Event, timeout time.Duration) (int, error)  Wait after a Wait(buf, 0) that found nothing
//	(*Poller).Wake() error                                  safe from any goroutine
//	(*Poller).Close() error
//
// Wait fills buf with at most len(buf) events; a negative timeout waits until
// an event or a Wake, zero does not block. The wakeup event itself is never
// reported. EINTR is reported as ErrInterrupted. Block is Wait for a caller
// that has just looked with Wait(buf, 0), found nothing and announced that
// it is going to sleep: it may skip Wait's own first look.
// Keys are opaque to the poller: it hands back whatever was registered.
//
// Event, one readiness report, is defined by each backend (on Linux it is
// the kernel's own record); MakeEvent(key, ready) makes one, and its Key and
// Ready methods read it.
package poller

import (
	"errors"
	"syscall"
)

// Events is a set of readiness conditions. The values are shared with the
// public package, which converts with a plain type conversion.
type Events uint8

const (
	Readable Events = 1 << iota
	Writable
	Error
	Hangup
)

// Mode is the triggering mode of a registration.
type Mode uint8

const (
	Level Mode = iota
	Edge
	OneShot
)

// Gone reports whether err, from a control call, means the descriptor is
// closed (EBADF) or no longer registered (ENOENT): the kernel has already
// dropped it, so there is nothing left to undo.
func Gone(err error) bool {
	return errors.Is(err, syscall.EBADF) || errors.Is(err, syscall.ENOENT)
}
