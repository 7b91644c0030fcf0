package calloop

import (
	"strconv"
	"strings"

	"github.com/calloop-go/calloop/internal/poller"
)

// Events is a set of readiness conditions of a file descriptor. As an
// interest (what to watch) only [Readable] and [Writable] matter; as a
// readiness report it may also carry [Error] and [Hangup]. When the kernel
// reports an error or a hang-up, the interest bits are reported too, so a
// callback that reads on Readable sees the end of file or the error from its
// own read call. The four other bits (0xf0) are never set by the loop: a
// custom source may raise them with [Registrar.Ready] with a meaning of its
// own, and its Process receives them unchanged.
type Events uint8

const (
	Readable Events = 1 << iota // data can be read, or a peer is waiting to be accepted
	Writable                    // data can be written
	Error                       // an error condition is pending on the fd
	Hangup                      // the peer closed its end (or its write side)
)

// String returns the set as "Readable|Writable", or "0" when empty.
func (e Events) String() string {
	if e == 0 {
		return "0"
	}
	var parts []string
	for _, n := range [...]struct {
		bit  Events
		name string
	}{{Readable, "Readable"}, {Writable, "Writable"}, {Error, "Error"}, {Hangup, "Hangup"}} {
		if e&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if rest := e &^ (Readable | Writable | Error | Hangup); rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16)) // a source's own bits
	}
	return strings.Join(parts, "|")
}

// Mode is how a file descriptor registration triggers.
type Mode uint8

const (
	// Level reports the fd in every iteration while it is ready (the default).
	Level Mode = iota
	// Edge reports the fd when it becomes ready; the callback must drain it
	// (read or write until EAGAIN) or it will not be reported again.
	Edge
	// OneShot reports the fd once, then disarms it until [Loop.ModifyFD]
	// or [Loop.Enable] re-arms it.
	OneShot
)

// The loop passes Events and Mode to internal/poller by conversion: an
// index out of range here fails the build if the two ever disagree.
var (
	_ = [1]struct{}{}[(Readable^Events(poller.Readable))|(Writable^Events(poller.Writable))|(Error^Events(poller.Error))|(Hangup^Events(poller.Hangup))]
	_ = [1]struct{}{}[(Level^Mode(poller.Level))|(Edge^Mode(poller.Edge))|(OneShot^Mode(poller.OneShot))]
)

// String returns "Level", "Edge" or "OneShot".
func (m Mode) String() string {
	switch m {
	case Level:
		return "Level"
	case Edge:
		return "Edge"
	case OneShot:
		return "OneShot"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Action is what a callback asks the loop to do with its source afterwards.
type Action uint8

const (
	// Continue keeps the source as it is.
	Continue Action = iota
	// Disable stops the source's events until [Loop.Enable]; its token stays valid.
	Disable
	// Remove removes the source; its token becomes invalid.
	Remove
)

// String returns "Continue", "Disable" or "Remove".
func (a Action) String() string {
	switch a {
	case Continue:
		return "Continue"
	case Disable:
		return "Disable"
	case Remove:
		return "Remove"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// useNetpoll is the default of [WithNetpoller] when neither it nor
// [WithLockOSThread] is given: false, a sleeping loop blocks its thread in
// the kernel (bench/README.md has the measurements behind the choice).
func useNetpoll() bool { return false }

// evKey and evReady decode a kernel event here, in this package, rather than
// through poller.Event's methods: the generic dispatch code, instantiated in
// the user's package, inlines functions of its own package but not calls
// into internal/poller (a call per event otherwise).
func evKey(e *poller.Event) uint64 { return uint64(e.KeyLo) | uint64(e.KeyHi)<<32 }

func evReady(e *poller.Event) Events {
	r := Events(poller.ReadyBits[e.Bits&poller.ReadyMask])
	if e.Bits&^poller.ReadyMask != 0 { // rare: a peer's half-close, a source's own bits
		r |= evRare(e.Bits)
	}
	return r
}

// evRare decodes the bits of an event outside poller.ReadyMask.
func evRare(b uint32) Events {
	var r Events
	if b&poller.BitRdHup != 0 {
		r |= Hangup
	}
	return r | Events(b&poller.UserMask>>poller.UserShift)
}
