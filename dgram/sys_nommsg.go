//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package dgram

// These systems have no recvmmsg/sendmmsg that every version offers: each
// datagram takes one recvmsg or sendmsg call.
const mmsgSupported = false

type mmsgState struct{}

type mmsgRecv struct{}

func (m *mmsgRecv) init(*recvSlots)                       {}
func (s *sysConn) recvMmsg(int) (int, error)              { panic("unreachable") }
func (s *sysConn) sendMmsg([]byte, []outPkt) (int, error) { panic("unreachable") }
func (s *sysConn) sendmsg([]byte, Addr) error             { panic("unreachable") }
