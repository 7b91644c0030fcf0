package stream

import (
	"fmt"

	"github.com/calloop-go/calloop"
)

// DebugState describes a connection's internal state, for tests.
func (c *Conn[S]) DebugState() string {
	return fmt.Sprintf("state=%d interest=%v reg=%d blocked=%v pause=%b wr=%d eof=%v pending=%d in=%d dirty=%v",
		c.state, c.interest, c.fdReg, c.blocked, c.pause, c.wr, c.eof, c.pending(), len(c.in), c.dirty)
}

// SetAcceptTrace sets a function that sees the result of every accept
// call; nil removes it.
func SetAcceptTrace(fn func(err error)) { acceptTrace = fn }

// FD returns the connection's descriptor, for tests.
func (c *Conn[S]) FD() int { return c.fd }

// SetWriteTrace sets a function that sees the byte count of every write
// system call; nil removes it.
func SetWriteTrace(fn func(n int)) { writeTrace = fn }

// Token returns the token of the connection's source, for tests.
func (c *Conn[S]) Token() calloop.Token { return c.tok }

// TimerToken returns the token of the connection's timer (zero: none),
// for tests.
func (c *Conn[S]) TimerToken() calloop.Token { return c.tm }

// SetTimerTrace sets a function called at every creation or move of a
// connection's timer; nil removes it.
func SetTimerTrace(fn func()) { timerTrace = fn }

// BackoffTimer returns the token of the listener's back-off timer (zero:
// none), for tests.
func (ln *Listener[S]) BackoffTimer() calloop.Token { return ln.timer }

// Token returns the token of the listener's source, for tests.
func (ln *Listener[S]) Token() calloop.Token { return ln.tok }
