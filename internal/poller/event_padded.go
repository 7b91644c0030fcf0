//go:build linux && !386 && !amd64

package poller

// Event: see event.go. Outside x86 the kernel's struct aligns its 64-bit
// data field: 4 bytes of padding after the bits (16 bytes).
type Event struct {
	Bits         uint32
	_            uint32
	KeyLo, KeyHi uint32
}
