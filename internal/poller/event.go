package poller

// Event is one readiness report, laid out as Linux's struct epoll_event on
// every system (event_packed.go, event_padded.go): on Linux the kernel
// writes a batch straight into the caller's buffer, with nothing to
// translate; the other backends fill it in. Bits holds readiness bits with
// epoll's values (Bit*), KeyLo and KeyHi the registration key's halves.
//
// The fields are exported, and their decoding (Key, Ready) is small enough
// to be written again by the loop next to its use: a generic function
// instantiated in the user's package does not inline calls into this
// package, so a method here would cost a call per event.

// Readiness bits of Event.Bits: epoll's values (checked on Linux).
const (
	BitIn    = 0x1
	BitPri   = 0x2
	BitOut   = 0x4
	BitErr   = 0x8
	BitHup   = 0x10
	BitRdHup = 0x2000

	// ReadyMask covers the bits that ReadyBits translates; BitRdHup adds
	// Hangup on its own.
	ReadyMask = BitIn | BitPri | BitOut | BitErr | BitHup

	// The Events bits this package does not name (0xf0), which a source
	// may raise with its own meaning, travel in bits 16-19 (UserMask), which
	// the kernel never reports: shifted left by UserShift.
	UserShift = 12
	UserMask  = 0xf0 << UserShift
)

// ReadyBits[b] is the readiness of bits b (within ReadyMask): one load per
// event instead of four tests.
var ReadyBits = func() (t [ReadyMask + 1]Events) {
	for b := range uint32(len(t)) {
		if b&(BitIn|BitPri) != 0 {
			t[b] |= Readable
		}
		if b&BitOut != 0 {
			t[b] |= Writable
		}
		if b&BitErr != 0 {
			t[b] |= Error
		}
		if b&BitHup != 0 {
			t[b] |= Hangup
		}
	}
	return t
}()

// MakeEvent returns the event reporting ready for key.
func MakeEvent(key uint64, ready Events) Event {
	var e Event
	e.KeyLo, e.KeyHi = uint32(key), uint32(key>>32)
	if ready&Readable != 0 {
		e.Bits |= BitIn
	}
	if ready&Writable != 0 {
		e.Bits |= BitOut
	}
	if ready&Error != 0 {
		e.Bits |= BitErr
	}
	if ready&Hangup != 0 {
		e.Bits |= BitHup
	}
	e.Bits |= uint32(ready&0xf0) << UserShift
	return e
}

// Key returns the key the event's source was registered with.
func (e *Event) Key() uint64 { return uint64(e.KeyLo) | uint64(e.KeyHi)<<32 }

// Ready returns the readiness the event reports.
func (e *Event) Ready() Events { return readiness(e.Bits) }

// readiness is the readiness of bits b.
func readiness(b uint32) Events {
	r := ReadyBits[b&ReadyMask]
	if b&BitRdHup != 0 {
		r |= Hangup
	}
	return r | Events(b&UserMask>>UserShift)
}
