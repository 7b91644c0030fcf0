package calloop

import "errors"

var (
	// ErrClosed is returned by every method of a closed [Loop], and by
	// senders and pings whose source is gone.
	ErrClosed = errors.New("calloop: closed")

	// ErrInvalidToken is returned for a token whose source has been removed,
	// or that never named a source of this loop.
	ErrInvalidToken = errors.New("calloop: invalid token")

	// ErrFull is returned by [Sender.TrySend] when a bounded channel is full.
	ErrFull = errors.New("calloop: channel full")

	// ErrDispatching is returned by [Loop.Dispatch] and [Loop.Run] when the
	// loop is already dispatching: a call from a second goroutine, or from
	// inside one of the loop's own callbacks.
	ErrDispatching = errors.New("calloop: loop is already dispatching")
)

var (
	errTooManySources = errors.New("calloop: too many sources")
	errIdleToggle     = errors.New("calloop: idle callbacks cannot be disabled or enabled, only removed")
)
