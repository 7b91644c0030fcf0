package main

// SLOWLOG, as Redis 7.0's slowlog.c: every command that ran for at least
// slowlog-log-slower-than microseconds is logged with its arguments, most
// recent first, and the log keeps at most slowlog-max-len entries.

import (
	"math"
	"strconv"
	"time"
)

// Redis's limits on what an entry keeps of a command (SLOWLOG_ENTRY_MAX_ARGC
// and SLOWLOG_ENTRY_MAX_STRING).
const (
	slowlogMaxArgc   = 32
	slowlogMaxString = 128
)

// The defaults of the settings (Redis's).
const (
	defaultSlowlogSlowerThan = 10000 // µs
	defaultSlowlogMaxLen     = 128
)

// slowEntry is one logged command.
type slowEntry struct {
	id       int64
	time     int64 // unix seconds
	duration int64 // µs
	args     [][]byte
	peer     string // ip:port
	name     string // client name
}

// slowlog holds the entries, oldest first.
type slowlog struct {
	entries []slowEntry
	nextID  int64
}

// slowlogPush logs a command that ran for d (Redis's slowlogPushEntryIfNeeded
// once the threshold is passed), then trims the log to slowlog-max-len.
// The entry keeps copies of at most 32 arguments, each cut to 128 bytes, so
// an entry is small whatever the command was.
func (s *server) slowlogPush(c *client, args [][]byte, d time.Duration) {
	sl := &s.mon.slow
	id := sl.nextID
	sl.nextID++ // Redis numbers every logged command, kept or not
	max := s.cfg.Monitor.slowlogMaxLen()
	if max > 0 {
		e := slowEntry{id: id, time: time.Now().Unix(), duration: int64(d / time.Microsecond), name: c.name}
		if c.conn != nil {
			if a := c.conn.RemoteAddr(); a != nil {
				e.peer = a.String()
			}
		}
		e.args = slowlogArgs(args, redactMask(args))
		sl.entries = append(sl.entries, e)
	}
	if over := int64(len(sl.entries)) - max; over > 0 {
		clear(sl.entries[:over]) // drop the references before slicing them off
		sl.entries = sl.entries[over:]
	}
}

// slowlogArgs copies what an entry keeps of args: at most 32 arguments (the
// last one then says how many more there were), each at most 128 bytes (then
// followed by how many more bytes there were). The arguments whose bit is
// set in redact are replaced by "(redacted)".
func slowlogArgs(args [][]byte, redact uint64) [][]byte {
	n := min(len(args), slowlogMaxArgc)
	out := make([][]byte, n)
	for i := range n {
		switch a := args[i]; {
		case n != len(args) && i == n-1:
			out[i] = []byte("... (" + strconv.Itoa(len(args)-n+1) + " more arguments)")
		case redact&(1<<i) != 0:
			out[i] = []byte("(redacted)")
		case len(a) > slowlogMaxString:
			b := make([]byte, slowlogMaxString, slowlogMaxString+32)
			copy(b, a)
			out[i] = append(b, "... ("+strconv.Itoa(len(a)-slowlogMaxString)+" more bytes)"...)
		default:
			out[i] = append([]byte(nil), a...)
		}
	}
	return out
}

// redactMask returns the positions (as bits) of the arguments that the
// slowlog must not keep, as Redis redacts them: AUTH's arguments, the user
// and password after HELLO's AUTH, CONFIG SET requirepass's value. Only the
// first 64 positions matter: an entry keeps 32 arguments.
func redactMask(args [][]byte) uint64 {
	var m uint64
	switch {
	case eqFold(args[0], "auth"):
		m = ^uint64(1)
	case eqFold(args[0], "hello"):
		// HELLO's options as helloCommand reads them, up to the first
		// one it refuses.
		for i := 2; i < len(args) && i < 62; i++ {
			more := len(args) - 1 - i
			switch {
			case eqFold(args[i], "auth") && more >= 2:
				m |= 3 << (i + 1)
				i += 2
			case eqFold(args[i], "setname") && more >= 1:
				i++
			default:
				return m
			}
		}
	case eqFold(args[0], "config") && len(args) > 1 && eqFold(args[1], "set"):
		for i := 2; i+1 < len(args) && i < 63; i += 2 {
			if eqFold(args[i], "requirepass") {
				m |= 1 << (i + 1)
			}
		}
	}
	return m
}

// slowlogCommand is SLOWLOG GET [count], LEN, RESET, HELP.
func cmdSlowlog(s *server, c *client, args [][]byte) {
	sl := &s.mon.slow
	sub := args[1]
	switch {
	case eqFold(sub, "get") && len(args) <= 3:
		count := int64(10)
		if len(args) == 3 {
			n, ok := parseInt(args[2])
			if !ok || n < -1 {
				c.errReply("ERR count should be greater than or equal to -1")
				return
			}
			count = n
		}
		if count == -1 {
			count = math.MaxInt64
		}
		n := int(min(count, int64(len(sl.entries))))
		c.array(n)
		for i := len(sl.entries) - 1; i >= len(sl.entries)-n; i-- {
			e := &sl.entries[i]
			c.array(6)
			c.int(e.id)
			c.int(e.time)
			c.int(e.duration)
			c.array(len(e.args))
			for _, a := range e.args {
				c.bulk(a)
			}
			c.bulkStr(e.peer)
			c.bulkStr(e.name)
		}
	case eqFold(sub, "len") && len(args) == 2:
		c.int(int64(len(sl.entries)))
	case eqFold(sub, "reset") && len(args) == 2:
		clear(sl.entries)
		sl.entries = sl.entries[:0]
		c.ok()
	case eqFold(sub, "help") && len(args) == 2:
		c.help([]string{
			"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET [<count>]",
			"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
			"    Entries are made of:",
			"    id, timestamp, time in microseconds, arguments array, client IP and port,",
			"    client name",
			"LEN",
			"    Return the length of the slowlog.",
			"RESET",
			"    Reset the slowlog.",
			"HELP",
			"    Prints this help.",
		})
	default:
		c.errReply(errSubSyntax(sub, "SLOWLOG"))
	}
}

func init() {
	registerCommands(&command{name: "slowlog", arity: -2, flags: flagAdmin | flagLoading | flagStale, group: "server", since: "2.2.12",
		summary: "A container for slow log commands", fn: cmdSlowlog,
		subs: map[string]int{"get": -2, "len": 2, "reset": 2, "help": 2}})
}

// errSubSyntax is Redis's addReplySubcommandSyntaxError.
func errSubSyntax(sub []byte, cmd string) string {
	sub = cstr(sub)
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return "ERR unknown subcommand or wrong number of arguments for '" + string(sub) + "'. Try " + cmd + " HELP."
}
