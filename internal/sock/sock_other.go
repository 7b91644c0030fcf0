//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package sock

import (
	"errors"
	"net"
)

// Supported reports whether this system has an implementation.
const Supported = false

var errUnsupported = errors.ErrUnsupported

func Listen(network string, addr net.Addr, backlog int, reusePort bool) (int, error) {
	return -1, errUnsupported
}
func DefaultBacklog() int { return 1024 }
func Connect(network string, addr net.Addr) (int, bool, error) {
	return -1, false, errUnsupported
}
func SocketError(fd int, call string) error     { return errUnsupported }
func Accept(fd int) (int, net.Addr, error)      { return -1, nil, errUnsupported }
func Read(fd int, p []byte) (int, error)        { return 0, errUnsupported }
func Write(fd int, p []byte) (int, error)       { return 0, errUnsupported }
func Writev(fd int, a, b []byte) (int, error)   { return 0, errUnsupported }
func Close(fd int) error                        { return errUnsupported }
func ShutdownWrite(fd int) error                { return errUnsupported }
func LocalAddr(fd int) net.Addr                 { return nil }
func PeerAddr(fd int) net.Addr                  { return nil }
func IsAgain(err error) bool                    { return false }
func IsFDLimit(err error) bool                  { return false }
func IsAcceptRetry(err error) bool              { return false }
func Unlink(path string)                        {}
func Describe(fd int) (bool, bool, bool, error) { return false, false, false, errUnsupported }
func SetNonblock(fd int) error                  { return errUnsupported }
func IsEIO(err error) bool                      { return false }
func WritevN(fd int, iov [][]byte) (int, error) { return 0, errUnsupported }
