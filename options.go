package calloop

// Option configures a [Loop] at creation.
type Option func(*options)

type options struct {
	lockThread bool
	events     int
	netpoll    int8 // 0: default, 1: netpoller, -1: blocking

	// Instrumentation (stats.go) and the clock (clock.go).
	stats     bool
	perSource bool
	slowAt    int64
	slowFn    func(SlowCallback)
	clock     *VirtualClock
}

// WithNetpoller chooses how the loop sleeps. By default (on false) the
// loop first looks for events without blocking, then yields to any goroutine
// its callbacks made ready (runtime.Gosched), then blocks its OS thread in
// epoll_wait or kevent: the fastest way measured, for servers and for
// hand-offs to goroutines alike. With on, a waiting loop instead parks its
// goroutine in Go's runtime netpoller, so that an idle loop holds no OS
// thread: for programs with thousands of mostly idle loops. Parking costs
// a little on every wakeup (bench/README.md has the measurements), and much
// more with GOMAXPROCS=1, where a parked loop waits for the runtime's sysmon
// to hand it the only P. If the runtime cannot poll the loop's descriptor,
// the loop blocks its thread. [WithLockOSThread] implies blocking.
func WithNetpoller(on bool) Option {
	return func(o *options) {
		o.netpoll = -1
		if on {
			o.netpoll = 1
		}
	}
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
