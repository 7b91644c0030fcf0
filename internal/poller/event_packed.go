//go:build !linux || 386 || amd64

package poller

// Event: see event.go. On x86 Linux the kernel's struct is packed (12 bytes);
// the other systems use the same layout.
type Event struct {
	Bits         uint32
	KeyLo, KeyHi uint32
}
