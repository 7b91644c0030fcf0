package proc

// forceUnsupported makes ExitFD fail with errors.ErrUnsupported, so that
// tests can exercise the fallback of package process.
var forceUnsupported bool

// ForceUnsupported sets whether ExitFD pretends the system has no exit
// descriptors (for tests); it returns the previous setting.
func ForceUnsupported(v bool) bool {
	old := forceUnsupported
	forceUnsupported = v
	return old
}
