//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package dgram

import (
	"errors"
	"os"
)

// This system has no implementation: Listen and Dial fail with an error
// wrapping errors.ErrUnsupported.
type sysConn struct {
	fd        int
	batch     int
	pollBlind bool
}

var errUnsupported = errors.ErrUnsupported

type recvSlots struct{}

func newRecvSlots() (*recvSlots, error) { return new(recvSlots), nil }

func (s *sysConn) open(string, Addr, Addr, *config, *recvSlots) (Addr, error) {
	s.fd = -1
	return Addr{}, errUnsupported
}
func (s *sysConn) close()                                  {}
func (s *sysConn) checkAddr(Addr) error                    { return errUnsupported }
func (s *sysConn) recv(int, int) (int, error)              { return 0, errUnsupported }
func (s *sysConn) packet(int) ([]byte, Addr, bool)         { return nil, Addr{}, false }
func (s *sysConn) sendOne([]byte, Addr) error              { return errUnsupported }
func (s *sysConn) sendQueue([]byte, []outPkt) (int, error) { return 0, errUnsupported }

func isAgain(error) bool     { return false }
func isTransient(error) bool { return false }
func removeFile(path string) { os.Remove(path) }
