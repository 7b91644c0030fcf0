package poller

import "errors"

// ErrInterrupted is returned by Wait when a signal interrupted it (EINTR).
// The caller decides whether to wait again with what is left of its timeout.
var ErrInterrupted = errors.New("poller: interrupted")
