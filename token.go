package calloop

import (
	"fmt"
	"sync/atomic"
)

// loopIDs hands out loop identities for tokens.
var loopIDs atomic.Uint32

// nextLoopID returns a new loop identity, never 0.
func nextLoopID() uint32 {
	for {
		if id := loopIDs.Add(1); id != 0 {
			return id
		}
	}
}

// Token names a registered source. Tokens carry a generation: once the source
// is removed its token is stale, and every method given it returns
// [ErrInvalidToken], even after the slot has been reused by a new source.
// A token also names its loop: given to another loop, it fails with
// [ErrInvalidToken] there. The zero Token is never valid. Tokens are comparable and may be used as
// map keys.
type Token struct {
	id   uint32 // slot index; timerBit set for timers
	gen  uint32 // starts at 1; bumped on every removal
	loop uint32 // the identity of the loop that issued it
}

// timerBit marks a token that names a timer rather than a source slot.
const timerBit = 1 << 31

// IsZero reports whether t is the zero Token.
func (t Token) IsZero() bool { return t == Token{} }

// String returns a description for logs, such as "source 3.1" or "timer 7.2".
func (t Token) String() string {
	if t.id&timerBit != 0 {
		return fmt.Sprintf("timer %d.%d", t.id&^timerBit, t.gen)
	}
	return fmt.Sprintf("source %d.%d", t.id, t.gen)
}

// tok returns the token of slot (or timer id|timerBit) idx at generation gen.
func (l *Loop[S]) tok(idx, gen uint32) Token { return Token{idx, gen, l.id} }

// key packs a slot, the low 16 bits of its generation and a sub-token into the
// 64-bit value the kernel hands back with an event. Sixteen bits of
// generation are enough: they only guard events of one batch.
func key(idx uint32, gen uint32, sub uint16) uint64 {
	return uint64(idx) | uint64(uint16(gen))<<32 | uint64(sub)<<48
}

func splitKey(k uint64) (idx uint32, gen16 uint16, sub uint16) {
	return uint32(k), uint16(k >> 32), uint16(k >> 48)
}
