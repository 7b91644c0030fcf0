package main

// Connection commands: PING, ECHO, QUIT, RESET, CLIENT (HELLO and AUTH are
// in cmd_conn.go).

import (
	"fmt"
	"slices"
	"strings"
)

func cmdPing(s *server, c *client, args [][]byte) {
	if pubsubPing(c, args) {
		return
	}
	switch len(args) {
	case 1:
		c.out = append(c.out, "+PONG\r\n"...)
	case 2:
		c.bulk(args[1])
	default:
		c.errReply(errArity("ping"))
	}
}

func cmdEcho(s *server, c *client, args [][]byte) { c.bulk(args[1]) }

func cmdQuit(s *server, c *client, args [][]byte) {
	c.ok()
	c.closing = true
}

func cmdReset(s *server, c *client, args [][]byte) {
	if c.multi {
		c.discardMulti()
	}
	s.unwatchAll(c)
	s.pubsubDrop(c)
	c.db = 0
	c.name = ""
	c.authenticated = !s.authRequired() // Redis's clientSetDefaultAuth
	c.simple("RESET")
}

func validClientName(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] < '!' || n[i] > '~' {
			return false
		}
	}
	return true
}

func cmdClient(s *server, c *client, args [][]byte) {
	sub := args[1]
	arity := func(n int, exact bool) bool {
		if (exact && len(args) != n) || (!exact && len(args) < n) {
			c.errReply(errArity("client|" + strings.ToLower(string(sub))))
			return false
		}
		return true
	}
	switch {
	case eqFold(sub, "id"):
		if arity(2, true) {
			c.int(int64(c.id))
		}
	case eqFold(sub, "setname"):
		if !arity(3, true) {
			return
		}
		n := string(args[2])
		if !validClientName(n) {
			c.errReply("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = n
		c.ok()
	case eqFold(sub, "getname"):
		if !arity(2, true) {
			return
		}
		if c.name == "" {
			c.null()
		} else {
			c.bulkStr(c.name)
		}
	case eqFold(sub, "setinfo"):
		if !arity(4, true) {
			return
		}
		if !eqFold(args[2], "lib-name") && !eqFold(args[2], "lib-ver") {
			c.errReply("ERR Unrecognized option '" + string(args[2]) + "'")
			return
		}
		c.ok()
	case eqFold(sub, "info"):
		if arity(2, true) {
			c.bulkStr(s.clientLine(c))
		}
	case eqFold(sub, "list"):
		if !arity(2, false) {
			return
		}
		var ids map[uint64]bool
		typ := "" // TYPE normal or pubsub: subscribed mode or not
		for j := 2; j < len(args); j++ {
			switch {
			case eqFold(args[j], "type") && j+1 < len(args):
				t := args[j+1]
				if !eqFold(t, "normal") && !eqFold(t, "master") && !eqFold(t, "replica") && !eqFold(t, "slave") && !eqFold(t, "pubsub") {
					c.errReply("ERR Unknown client type '" + string(t) + "'")
					return
				}
				if !eqFold(t, "normal") && !eqFold(t, "pubsub") {
					ids = map[uint64]bool{}
				}
				typ = strings.ToLower(string(t))
				j++
			case eqFold(args[j], "id") && j+1 < len(args):
				ids = map[uint64]bool{}
				for j++; j < len(args); j++ {
					v, ok := parseInt(args[j])
					if !ok || v <= 0 {
						c.errReply("ERR Invalid client ID")
						return
					}
					ids[uint64(v)] = true
				}
			default:
				c.errReply(errSyntax)
				return
			}
		}
		keys := make([]uint64, 0, len(s.clients))
		for id := range s.clients {
			if (ids == nil || ids[id]) && (typ != "normal" || !s.clients[id].ps.active()) && (typ != "pubsub" || s.clients[id].ps.active()) {
				keys = append(keys, id)
			}
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, id := range keys {
			b.WriteString(s.clientLine(s.clients[id]))
		}
		c.bulkStr(b.String())
	case eqFold(sub, "no-evict"), eqFold(sub, "no-touch"):
		if !arity(3, true) {
			return
		}
		if !eqFold(args[2], "on") && !eqFold(args[2], "off") {
			c.errReply(errSyntax)
			return
		}
		c.ok()
	case eqFold(sub, "unblock"):
		s.clientUnblock(c, args)
	case eqFold(sub, "help"):
		help := []string{
			"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GETNAME", "    Return the name of the current connection.",
			"ID", "    Return the ID of the current connection.",
			"INFO", "    Return information about the current client connection.",
			"LIST [options ...]", "    Return information about client connections. Options:",
			"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
			"    * ID <client-id> [<client-id> ...]", "      Return clients of specified IDs only.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.",
			"SETINFO <option> <value>", "    Accepted and ignored (LIB-NAME, LIB-VER).",
			"UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
			"HELP", "    Print this help.",
		}
		c.help(help)
	default:
		c.errReply(errUnknownSub("client", sub))
	}
}

func (s *server) clientLine(c *client) string {
	addr, laddr := "", ""
	if c.conn != nil {
		if a := c.conn.RemoteAddr(); a != nil {
			addr = a.String()
		}
		if a := c.conn.LocalAddr(); a != nil {
			laddr = a.String()
		}
	}
	multi := -1
	if c.multi {
		multi = len(c.queue)
	}
	cmd := "NULL"
	if c.lastCmd != nil {
		cmd = c.lastCmd.name
	}
	obl := 0
	if c.conn != nil {
		obl = c.conn.Buffered()
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=%s db=%d sub=%d psub=%d ssub=%d multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=%d oll=0 omem=%d tot-mem=0 events=r cmd=%s user=default redir=-1 resp=2\n",
		c.id, addr, laddr, c.name, (s.now-c.born)/1000, (s.now-c.last)/1000, c.ps.flag(), c.db, c.ps.n(kindChannel), c.ps.n(kindPattern), c.ps.n(kindShard), multi, obl, obl, cmd)
}

// clientUnblock is CLIENT UNBLOCK id [TIMEOUT|ERROR], as Redis 7.0 parses
// it: the reason first, then the id.
func (s *server) clientUnblock(c *client, args [][]byte) {
	if len(args) != 3 && len(args) != 4 {
		c.errReply("ERR unknown subcommand or wrong number of arguments for '" + string(cstr(args[1])) + "'. Try CLIENT HELP.")
		return
	}
	withError := false
	if len(args) == 4 {
		switch {
		case eqFold(args[3], "timeout"):
		case eqFold(args[3], "error"):
			withError = true
		default:
			c.errReply("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	id, ok := parseInt(args[2])
	if !ok {
		c.errReply(errNotInt)
		return
	}
	if id > 0 && s.unblockByID(uint64(id), withError) {
		c.int(1)
	} else {
		c.int(0)
	}
}
