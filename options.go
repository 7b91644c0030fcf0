package calloop

// Option configures a [Loop] at creation.
type Option func(*options)

type options struct {
	lockThread bool
	events     int
}

// WithLockOSThread makes [Loop.Run] lock its goroutine to the current OS
// thread for its whole duration, so that every callback runs on one thread.
// Use it for thread-affine C libraries (GUI toolkits, some drivers). A
// program that drives the loop with [Loop.Dispatch] instead locks its own
// goroutine with runtime.LockOSThread.
func WithLockOSThread() Option {
	return func(o *options) { o.lockThread = true }
}

// WithEventBatch sets how many kernel events one poll returns at first
// (default 256). The batch doubles, up to 8192, whenever a poll fills it.
func WithEventBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.events = n
		}
	}
}
