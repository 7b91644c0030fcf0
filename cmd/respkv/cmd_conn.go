package main

import (
	"crypto/subtle"
	"net"
	"net/netip"
)

// Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, and the
// protected-mode check at accept.

// authRequired reports whether clients must authenticate (requirepass set).
func (s *server) authRequired() bool { return s.cfg.RequirePass != "" }

// checkPassword compares in constant time.
func (s *server) checkPassword(user, pass []byte) bool {
	if string(user) != "default" {
		return false
	}
	if !s.authRequired() {
		return true // the default user has nopass
	}
	return subtle.ConstantTimeCompare(pass, []byte(s.cfg.RequirePass)) == 1
}

func cmdAuth(s *server, c *client, args [][]byte) {
	if len(args) > 3 {
		c.errReply(errSyntax)
		return
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 2 {
		if !s.authRequired() {
			c.errReply("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
	} else {
		user, pass = args[1], args[2]
	}
	if !s.checkPassword(user, pass) {
		c.errReply(errWrongPass)
		return
	}
	c.authenticated = true
	c.ok()
}

const errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."

func cmdHello(s *server, c *client, args [][]byte) {
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			c.errReply("ERR Protocol version is not an integer or out of range")
			return
		}
		// Redis accepts 2 and 3; respkv speaks RESP2 only.
		if v != 2 {
			c.errReply("NOPROTO unsupported protocol version")
			return
		}
	}
	name, setName := "", false
	for j := 2; j < len(args); j++ {
		more := len(args) - j - 1
		switch {
		case eqFold(args[j], "auth") && more >= 2:
			if !s.checkPassword(args[j+1], args[j+2]) {
				c.errReply(errWrongPass)
				return
			}
			c.authenticated = true
			j += 2
		case eqFold(args[j], "setname") && more >= 1:
			name, setName = string(args[j+1]), true
			if !validClientName(name) {
				c.errReply("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			j++
		default:
			c.errReply("ERR Syntax error in HELLO option '" + string(args[j]) + "'")
			return
		}
	}
	if !c.authenticated && s.authRequired() {
		c.errReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		c.name = name
	}
	c.array(14)
	c.bulkStr("server")
	c.bulkStr("redis")
	c.bulkStr("version")
	c.bulkStr(redisVersion)
	c.bulkStr("proto")
	c.int(2)
	c.bulkStr("id")
	c.int(int64(c.id))
	c.bulkStr("mode")
	c.bulkStr("standalone")
	c.bulkStr("role")
	c.bulkStr("master")
	c.bulkStr("modules")
	c.array(0)
}

// errProtectedMode is Redis's refusal of a connection from outside the
// loopback interface while protected mode is on and no password is set.
const errProtectedMode = "-DENIED Redis is running in protected mode because protected " +
	"mode is enabled and no password is set for the default user. " +
	"In this mode connections are only accepted from the loopback interface. " +
	"If you want to connect from external computers to Redis you " +
	"may adopt one of the following solutions: " +
	"1) Just disable protected mode sending the command " +
	"'CONFIG SET protected-mode no' from the loopback interface " +
	"by connecting to Redis from the same host the server is " +
	"running, however MAKE SURE Redis is not publicly accessible " +
	"from internet if you do so. Use CONFIG REWRITE to make this " +
	"change permanent. " +
	"2) Alternatively you can just disable the protected mode by " +
	"editing the Redis configuration file, and setting the protected " +
	"mode option to 'no', and then restarting the server. " +
	"3) If you started the server manually just for testing, restart " +
	"it with the '--protected-mode no' option. " +
	"4) Setup a an authentication password for the default user. " +
	"NOTE: You only need to do one of the above things in order for " +
	"the server to start accepting connections from the outside.\r\n"

// denied reports whether protected mode refuses a connection from addr:
// protected mode on, no password, and a peer that is not 127.0.0.1 or ::1
// (Redis's islocalClient).
func (s *server) denied(addr net.Addr) bool {
	if !s.cfg.ProtectedMode || s.authRequired() {
		return false
	}
	return !isLocalPeer(addr)
}

func isLocalPeer(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr == nil || addr.Network() == "unix"
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	return ip == netip.MustParseAddr("127.0.0.1") || ip == netip.IPv6Loopback()
}

// isLoopbackBind reports whether every address in a bind list is a
// loopback one (then protected mode changes nothing).
func isLoopbackBind(hosts []string) bool {
	for _, h := range hosts {
		if h == "localhost" {
			continue
		}
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.IsLoopback() {
			return false
		}
	}
	return len(hosts) > 0
}
