package calloop

import (
	"testing"

	"github.com/calloop-go/calloop/internal/poller"
)

// TestEventDecode: the loop's own decoding of a kernel event (evKey,
// evReady, written here so that generic code inlines it) agrees with the
// poller's for every readiness bit pattern and for keys that use both
// halves, and MakeEvent's events read back as made, with every Events bit
// (the four the package names, and the four a source may use as it likes).
func TestEventDecode(t *testing.T) {
	for b := range uint32(1 << 20) {
		for _, extra := range []uint32{0, 1 << 31, 1 << 30} {
			e := poller.Event{Bits: b | extra}
			if got, want := evReady(&e), Events(e.Ready()); got != want {
				t.Fatalf("bits %#x: evReady %v, poller %v", b|extra, got, want)
			}
		}
	}
	for _, k := range []uint64{0, 1, 1 << 31, 1 << 32, 0xdeadbeef_cafef00d, ^uint64(0) - 1} {
		for r := range 256 {
			r := poller.Events(r)
			e := poller.MakeEvent(k, r)
			if evKey(&e) != k || e.Key() != k {
				t.Fatalf("key %#x read back as %#x (poller %#x)", k, evKey(&e), e.Key())
			}
			if evReady(&e) != Events(r) {
				t.Fatalf("MakeEvent(%#x, %v) reads back as %v", k, r, evReady(&e))
			}
		}
	}
}
