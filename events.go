package calloop

import (
	"strings"

	"github.com/calloop-go/calloop/internal/poller"
)

// Events is a set of readiness conditions of a file descriptor. As an
// interest (what to watch) only [Readable] and [Writable] matter; as a
// readiness report it may also carry [Error] and [Hangup]. When the kernel
// reports an error or a hang-up, the interest bits are reported too, so a
// callback that reads on Readable sees the end of file or the error from its
// own read call.
type Events uint8

const (
	Readable Events = Events(poller.Readable) // data can be read, or a peer is waiting to be accepted
	Writable Events = Events(poller.Writable) // data can be written
	Error    Events = Events(poller.Error)    // an error condition is pending on the fd
	Hangup   Events = Events(poller.Hangup)   // the peer closed its end (or its write side)
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
	return strings.Join(parts, "|")
}

// Mode is how a file descriptor registration triggers.
type Mode uint8

const (
	// Level reports the fd in every iteration while it is ready (the default).
	Level Mode = Mode(poller.Level)
	// Edge reports the fd when it becomes ready; the callback must drain it
	// (read or write until EAGAIN) or it will not be reported again.
	Edge Mode = Mode(poller.Edge)
	// OneShot reports the fd once, then disarms it until [Loop.ModifyFD]
	// or [Loop.Enable] re-arms it.
	OneShot Mode = Mode(poller.OneShot)
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
	return "Mode(" + itoa(int(m)) + ")"
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
	return "Action(" + itoa(int(a)) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
