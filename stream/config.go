package stream

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"time"

	"github.com/calloop-go/calloop/internal/sock"
)

// Config tunes listeners and connections; the zero value gives defaults.
// A zero field takes its default; a negative one, a ReadSize above 1 GiB
// or a LowWater not below the HighWater in effect is an error of [Listen],
// [Dial] or [Wrap] (wrapping [ErrConfig]). ReadBudget is raised to
// ReadSize if below it; Backlog is capped by the system. A MaxOutput below
// HighWater is allowed: the limit then acts before backpressure. A Config
// is copied by Listen, Dial and Wrap: changing it afterwards has no
// effect.
type Config struct {
	ReadSize   int  // bytes per read call (default 64 KiB, at most 1 GiB)
	ReadBudget int  // bytes read per connection per loop iteration before yielding (default 256 KiB, at least ReadSize)
	MaxInput   int  // unconsumed input bytes kept per connection; beyond it the connection is closed with ErrInputTooLarge (default 512 MiB)
	HighWater  int  // buffered output above which reading from the peer pauses (default 1 MiB)
	LowWater   int  // buffered output at or below which reading resumes; below HighWater (default HighWater/4)
	MaxOutput  int  // buffered output above which the connection is closed with ErrOutputTooLarge (0: no limit)
	ReusePort  bool // SO_REUSEPORT on listeners: several loops (one per core) may listen on one port
	Backlog    int  // listen backlog (default 1024 or SOMAXCONN)

	// IdleTimeout, if positive, closes an open connection that has
	// neither read input nor written output for that long (a peer that
	// neither sends nor reads what is queued for it): OnClose gets an
	// error wrapping [ErrIdleTimeout] (and so os.ErrDeadlineExceeded).
	IdleTimeout time.Duration
	// ReadTimeout, if positive, closes an open connection that wants
	// input and has read none for that long: OnClose gets an error
	// wrapping [ErrReadTimeout] (and so os.ErrDeadlineExceeded). The time
	// counts only while the connection reads: from its opening, from its
	// last input, or from the end of a pause (backpressure,
	// [Conn.PauseReading]); it stops at the peer's end of input and during
	// a graceful close. Unlike IdleTimeout, output does not count as
	// activity: a server that streams a long reply to a silent peer needs
	// WriteTimeout, not ReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout, if positive, closes a connection whose queued output
	// has made no progress for that long (a peer that does not read): the
	// socket refused it, and took none of it since, the last attempt being
	// made when the time is up. OnClose gets an error wrapping
	// [ErrWriteTimeout] (and so os.ErrDeadlineExceeded). The time counts
	// from the moment the socket refused output, and starts again at each
	// write that sends any of it; it also applies during a graceful close.
	// Output waiting for a dial to complete does not count.
	//
	// The three timeouts above use a single timer per connection (a child
	// of the connection's source), armed at the earliest deadline and moved
	// lazily: activity only records the time, and the timer, when it
	// fires, re-arms itself at the deadline that activity pushed back.
	// Deadlines are on the loop's clock ([calloop.Loop.Now]): a connection
	// is never closed before its timeout has passed by that clock.
	WriteTimeout time.Duration
	// AcceptBudget is the number of connections a listener accepts per loop
	// iteration before yielding to the other sources (default 64).
	AcceptBudget int
	// CloseTimeout bounds each of the two steps of a graceful close
	// ([Conn.Close], or the close that follows the peer's end of input):
	// the flush of the buffered output (including, after the peer's end of
	// input, the time a producer takes to finish its response; output not
	// written by then is dropped and OnClose gets an error wrapping
	// os.ErrDeadlineExceeded),
	// then the wait for the peer's EOF after this side has shut down its
	// writing (input is dropped meanwhile; closing earlier could reset the
	// connection and lose replies the peer has not read). Zero means no
	// limit for the flush (a peer that never reads then holds the
	// connection until MaxOutput or [Conn.Abort]) and 5 s for the wait.
	CloseTimeout time.Duration
}

const (
	defaultReadSize     = 64 << 10
	defaultReadBudget   = 256 << 10
	defaultMaxInput     = 512 << 20
	defaultHighWater    = 1 << 20
	defaultAcceptBudget = 64
	// keepBuf is the largest buffer capacity a connection keeps when its
	// buffer empties; larger ones go back to the garbage collector.
	keepBuf = 64 << 10
	// bigWrite is the size from which a Write goes to the socket at once
	// (with writev after queued output) instead of being copied.
	bigWrite = 64 << 10
	// defaultLinger bounds the wait for the peer's EOF after a graceful
	// close when Config.CloseTimeout is zero.
	defaultLinger = 5 * time.Second
)

// config is a Config with its defaults applied.
type config struct {
	readSize, readBudget, maxInput int
	high, low, maxOutput           int
	reusePort                      bool
	backlog, acceptBudget          int
	closeTimeout, idleTimeout      time.Duration
	readTimeout, writeTimeout      time.Duration
	timed                          bool // one of the three timeouts is set: activity is timed
}

// maxReadSize bounds Config.ReadSize: the read buffer is allocated at once.
const maxReadSize = 1 << 30

// norm checks c and applies its defaults.
func (c Config) norm() (config, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"ReadSize", int64(c.ReadSize)}, {"ReadBudget", int64(c.ReadBudget)},
		{"MaxInput", int64(c.MaxInput)}, {"HighWater", int64(c.HighWater)},
		{"LowWater", int64(c.LowWater)}, {"MaxOutput", int64(c.MaxOutput)},
		{"Backlog", int64(c.Backlog)}, {"AcceptBudget", int64(c.AcceptBudget)},
		{"CloseTimeout", int64(c.CloseTimeout)}, {"IdleTimeout", int64(c.IdleTimeout)},
		{"ReadTimeout", int64(c.ReadTimeout)}, {"WriteTimeout", int64(c.WriteTimeout)},
	} {
		if f.v < 0 {
			return config{}, fmt.Errorf("%w: %s is negative (%d)", ErrConfig, f.name, f.v)
		}
	}
	if c.ReadSize > maxReadSize {
		return config{}, fmt.Errorf("%w: ReadSize %d is above 1 GiB", ErrConfig, c.ReadSize)
	}
	n := config{
		readSize: c.ReadSize, readBudget: c.ReadBudget, maxInput: c.MaxInput,
		high: c.HighWater, low: c.LowWater, maxOutput: c.MaxOutput,
		reusePort: c.ReusePort, backlog: min(c.Backlog, math.MaxInt32), acceptBudget: c.AcceptBudget,
		closeTimeout: c.CloseTimeout, idleTimeout: c.IdleTimeout,
		readTimeout: c.ReadTimeout, writeTimeout: c.WriteTimeout,
		timed: c.IdleTimeout > 0 || c.ReadTimeout > 0 || c.WriteTimeout > 0,
	}
	if n.readSize <= 0 {
		n.readSize = defaultReadSize
	}
	if n.readBudget <= 0 {
		n.readBudget = defaultReadBudget
	}
	n.readBudget = max(n.readBudget, n.readSize)
	if n.maxInput <= 0 {
		n.maxInput = defaultMaxInput
	}
	if n.high <= 0 {
		n.high = defaultHighWater
	}
	if n.low >= n.high {
		return config{}, fmt.Errorf("%w: LowWater %d is not below HighWater %d", ErrConfig, n.low, n.high)
	}
	if n.low <= 0 {
		n.low = n.high / 4
	}
	if n.backlog <= 0 {
		n.backlog = sock.DefaultBacklog()
	}
	if n.acceptBudget <= 0 {
		n.acceptBudget = defaultAcceptBudget
	}
	return n, nil
}

var (
	// ErrConfig is wrapped by the error of [Listen], [Dial] and [Wrap] for
	// an invalid [Config].
	ErrConfig = errors.New("stream: invalid Config")
	// ErrInputTooLarge closes a connection whose unconsumed input exceeds
	// [Config.MaxInput]; [Handler.OnClose] receives it.
	ErrInputTooLarge = errors.New("stream: unconsumed input exceeds MaxInput")
	// ErrOutputTooLarge closes a connection whose buffered output exceeds
	// [Config.MaxOutput]; [Conn.Write] returns it and [Handler.OnClose]
	// receives it.
	ErrOutputTooLarge = errors.New("stream: buffered output exceeds MaxOutput")
	// ErrIdleTimeout, ErrReadTimeout and ErrWriteTimeout close a
	// connection that exceeded [Config.IdleTimeout], [Config.ReadTimeout]
	// or [Config.WriteTimeout]: [Handler.OnClose] receives a *net.OpError
	// wrapping one of them (its Timeout method reports true). Each matches
	// os.ErrDeadlineExceeded with errors.Is.
	ErrIdleTimeout  error = &timeoutError{"stream: no input or output within IdleTimeout"}
	ErrReadTimeout  error = &timeoutError{"stream: no input within ReadTimeout"}
	ErrWriteTimeout error = &timeoutError{"stream: queued output made no progress within WriteTimeout"}
	// ErrClosed is returned by the methods of a connection or listener that
	// is closed or closing, and by [Conn.Write] after [Conn.CloseWrite]. It
	// matches net.ErrClosed with errors.Is.
	ErrClosed = fmt.Errorf("stream: %w", net.ErrClosed)
)

// timeoutError is the type of the timeout sentinels: a net.Error whose
// Timeout is true, matching os.ErrDeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return false }
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// resolve parses address for network.
func resolve(network, address string) (net.Addr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return net.ResolveTCPAddr(network, address)
	case "unix":
		return net.ResolveUnixAddr(network, address)
	}
	return nil, net.UnknownNetworkError(network)
}
