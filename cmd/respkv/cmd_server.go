package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redisVersion is the Redis version whose behaviour respkv follows, reported
// to clients that check it.
const redisVersion = "7.0.15"

func cmdPing(s *server, c *client, args [][]byte) {
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
	c.db = 0
	c.name = ""
	c.authenticated = !s.authRequired() // Redis's clientSetDefaultAuth
	c.simple("RESET")
}

func cmdTime(s *server, c *client, args [][]byte) {
	now := time.Now()
	c.array(2)
	c.bulk(strconv.AppendInt(nil, now.Unix(), 10))
	c.bulk(strconv.AppendInt(nil, int64(now.Nanosecond()/1000), 10))
}

func cmdLastsave(s *server, c *client, args [][]byte) { c.int(s.start.Unix()) }

func validClientName(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] < '!' || n[i] > '~' {
			return false
		}
	}
	return true
}

func errUnknownSub(container string, sub []byte) string {
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return "ERR unknown subcommand '" + string(cstr(sub)) + "'. Try " + upper(container) + " HELP."
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
		for j := 2; j < len(args); j++ {
			switch {
			case eqFold(args[j], "type") && j+1 < len(args):
				t := args[j+1]
				if !eqFold(t, "normal") && !eqFold(t, "master") && !eqFold(t, "replica") && !eqFold(t, "slave") && !eqFold(t, "pubsub") {
					c.errReply("ERR Unknown client type '" + string(t) + "'")
					return
				}
				if !eqFold(t, "normal") {
					ids = map[uint64]bool{}
				}
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
			if ids == nil || ids[id] {
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
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=N db=%d sub=0 psub=0 ssub=0 multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=%d oll=0 omem=%d tot-mem=0 events=r cmd=%s user=default redir=-1 resp=2\n",
		c.id, addr, laddr, c.name, (s.now-c.born)/1000, (s.now-c.last)/1000, c.db, multi, obl, obl, cmd)
}

// configValues returns the parameters CONFIG GET knows, in a fixed order.
func (s *server) configValues() [][2]string {
	appendonly := "no"
	if s.cfg.AOF != "" {
		appendonly = "yes"
	}
	port := "6380"
	if i := strings.LastIndexByte(s.cfg.Addr, ':'); i >= 0 {
		port = s.cfg.Addr[i+1:]
	}
	bind := "127.0.0.1"
	if i := strings.LastIndexByte(s.cfg.Addr, ':'); i >= 0 {
		bind = s.cfg.Addr[:i]
	}
	dir, _ := os.Getwd()
	fsync := s.cfg.AppendFsync
	if fsync == "" {
		fsync = "everysec"
	}
	return [][2]string{
		{"save", ""},
		{"appendonly", appendonly},
		{"appendfsync", fsync},
		{"appendfilename", s.cfg.AOF},
		{"databases", strconv.Itoa(numDBs)},
		{"maxmemory", "0"},
		{"maxmemory-policy", "noeviction"},
		{"maxclients", "10000"},
		{"auto-aof-rewrite-percentage", strconv.FormatInt(s.cfg.AutoAOFRewritePercentage, 10)},
		{"auto-aof-rewrite-min-size", strconv.FormatInt(s.cfg.AutoAOFRewriteMinSize, 10)},
		{"proto-max-bulk-len", strconv.FormatInt(s.cfg.MaxReq, 10)},
		{"client-query-buffer-limit", strconv.FormatInt(maxInput(s.cfg.MaxReq), 10)},
		{"port", port},
		{"bind", bind},
		{"timeout", "0"},
		{"tcp-keepalive", "0"},
		{"hz", "10"},
		{"dir", dir},
		{"dbfilename", "dump.rdb"},
		{"lazyfree-lazy-user-del", "no"},
		{"cluster-enabled", "no"},
		{"io-threads", "1"},
	}
}

func cmdConfig(s *server, c *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "get"):
		if len(args) < 3 {
			c.errReply(errArity("config|get"))
			return
		}
		var out [][2]string
		for _, kv := range s.configValues() {
			for _, p := range args[2:] {
				if globMatchFold(p, []byte(kv[0])) {
					out = append(out, kv)
					break
				}
			}
		}
		c.array(2 * len(out))
		for _, kv := range out {
			c.bulkStr(kv[0])
			c.bulkStr(kv[1])
		}
	case eqFold(sub, "set"):
		if len(args) < 4 || len(args)%2 != 0 {
			c.errReply(errArity("config|set"))
			return
		}
		c.errReply("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[2]) + "'")
	case eqFold(sub, "resetstat"):
		if len(args) != 2 {
			c.errReply(errArity("config|resetstat"))
			return
		}
		s.stats = stats{}
		clear(s.cmdStats)
		c.ok()
	case eqFold(sub, "help"):
		help := []string{
			"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"RESETSTAT", "    Reset statistics reported by the INFO command.",
			"HELP", "    Print this help.",
		}
		c.help(help)
	default:
		c.errReply(errUnknownSub("config", sub))
	}
}

func (s *server) commandInfo(c *client, cmd *command) {
	c.array(10)
	c.bulkStr(cmd.name)
	c.int(int64(cmd.arity))
	fl := cmd.flagNames()
	c.array(len(fl))
	for _, f := range fl {
		c.simple(f)
	}
	c.int(int64(cmd.first))
	c.int(int64(cmd.last))
	c.int(int64(cmd.step))
	cats := cmd.aclCategories()
	c.array(len(cats))
	for _, a := range cats {
		c.simple(a)
	}
	c.array(0) // tips
	c.array(0) // key specs
	c.array(0) // subcommands
}

func (s *server) commandDocs(c *client, cmd *command) {
	c.bulkStr(cmd.name)
	c.array(6)
	c.bulkStr("summary")
	c.bulkStr(cmd.summary)
	c.bulkStr("since")
	c.bulkStr(cmd.since)
	c.bulkStr("group")
	c.bulkStr(cmd.group)
}

func cmdCommand(s *server, c *client, args [][]byte) {
	if len(args) == 1 {
		c.array(len(commandList))
		for _, cmd := range commandList {
			s.commandInfo(c, cmd)
		}
		return
	}
	sub := args[1]
	switch {
	case eqFold(sub, "count"):
		if len(args) != 2 {
			c.errReply(errArity("command|count"))
			return
		}
		c.int(int64(len(commandList)))
	case eqFold(sub, "info"):
		if len(args) == 2 {
			c.array(len(commandList))
			for _, cmd := range commandList {
				s.commandInfo(c, cmd)
			}
			return
		}
		c.array(len(args) - 2)
		for _, n := range args[2:] {
			if cmd := lookup(n); cmd != nil {
				s.commandInfo(c, cmd)
			} else {
				c.out = append(c.out, "*-1\r\n"...)
			}
		}
	case eqFold(sub, "docs"):
		var list []*command
		if len(args) == 2 {
			list = commandList
		} else {
			for _, n := range args[2:] {
				if cmd := lookup(n); cmd != nil {
					list = append(list, cmd)
				}
			}
		}
		c.array(2 * len(list))
		for _, cmd := range list {
			s.commandDocs(c, cmd)
		}
	case eqFold(sub, "list"):
		c.array(len(commandList))
		for _, cmd := range commandList {
			c.bulkStr(cmd.name)
		}
	case eqFold(sub, "getkeys"):
		if len(args) < 3 {
			c.errReply(errArity("command|getkeys"))
			return
		}
		cmd := lookup(args[2])
		if cmd == nil {
			c.errReply("ERR Invalid command specified")
			return
		}
		cargs := args[2:]
		if (cmd.arity > 0 && len(cargs) != cmd.arity) || len(cargs) < -cmd.arity {
			c.errReply("ERR Invalid number of arguments specified for command")
			return
		}
		if cmd.first == 0 {
			c.errReply("ERR The command has no key arguments")
			return
		}
		last := cmd.last
		if last < 0 {
			last = len(cargs) + last
		}
		var keys [][]byte
		for j := cmd.first; j <= last && j < len(cargs); j += cmd.step {
			keys = append(keys, cargs[j])
		}
		c.array(len(keys))
		for _, k := range keys {
			c.bulk(k)
		}
	case eqFold(sub, "help"):
		help := []string{
			"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"(no subcommand)", "    Return details about all Redis commands.",
			"COUNT", "    Return the total number of commands in this Redis server.",
			"LIST", "    Return a list of all commands in this Redis server.",
			"INFO [<command-name> ...]", "    Return details about multiple Redis commands.",
			"DOCS [<command-name> ...]", "    Return documentation details about multiple Redis commands.",
			"GETKEYS <full-command>", "    Return the keys from a full Redis command.",
			"HELP", "    Print this help.",
		}
		c.help(help)
	default:
		c.errReply(errUnknownSub("command", sub))
	}
}

func cmdInfo(s *server, c *client, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	section := func(name string) bool { return all || want[name] }
	var b strings.Builder
	add := func(title string, lines ...string) {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + title + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	uptime := int64(time.Since(s.start).Seconds())
	if section("server") {
		port := "6380"
		if i := strings.LastIndexByte(s.cfg.Addr, ':'); i >= 0 {
			port = s.cfg.Addr[i+1:]
		}
		exe, _ := os.Executable()
		add("Server",
			"redis_version:"+redisVersion,
			"respkv_version:"+respkvVersion,
			"redis_git_sha1:00000000",
			"redis_git_dirty:0",
			"redis_mode:standalone",
			"os:"+runtime.GOOS+" "+runtime.GOARCH,
			"arch_bits:64",
			"multiplexing_api:calloop",
			"go_version:"+runtime.Version(),
			"process_id:"+strconv.Itoa(os.Getpid()),
			"tcp_port:"+port,
			"server_time_usec:"+strconv.FormatInt(time.Now().UnixMicro(), 10),
			"uptime_in_seconds:"+strconv.FormatInt(uptime, 10),
			"uptime_in_days:"+strconv.FormatInt(uptime/86400, 10),
			"hz:10",
			"configured_hz:10",
			"executable:"+exe,
			"config_file:",
			"io_threads_active:0")
	}
	if section("clients") {
		add("Clients",
			"connected_clients:"+strconv.Itoa(len(s.clients)),
			"cluster_connections:0",
			"maxclients:10000",
			"client_recent_max_input_buffer:0",
			"client_recent_max_output_buffer:0",
			"blocked_clients:0",
			"tracking_clients:0",
			"clients_in_timeout_table:0")
	}
	if section("memory") {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		add("Memory",
			"used_memory:"+strconv.FormatUint(m.HeapAlloc, 10),
			"used_memory_human:"+human(m.HeapAlloc),
			"used_memory_rss:"+strconv.FormatUint(m.Sys, 10),
			"used_memory_rss_human:"+human(m.Sys),
			"used_memory_peak:"+strconv.FormatUint(m.HeapSys, 10),
			"used_memory_peak_human:"+human(m.HeapSys),
			"total_system_memory:0",
			"maxmemory:0",
			"maxmemory_human:0B",
			"maxmemory_policy:noeviction",
			"mem_allocator:go",
			"go_gc_cycles:"+strconv.FormatUint(uint64(m.NumGC), 10))
	}
	if section("persistence") {
		aofOn := "0"
		if s.cfg.AOF != "" {
			aofOn = "1"
		}
		add("Persistence",
			"loading:0",
			"rdb_changes_since_last_save:"+strconv.FormatUint(s.dirty, 10),
			"rdb_bgsave_in_progress:0",
			"rdb_last_save_time:"+strconv.FormatInt(s.start.Unix(), 10),
			"aof_enabled:"+aofOn)
		for _, l := range s.aofInfo() {
			b.WriteString(l + "\r\n")
		}
	}
	if section("stats") {
		add("Stats",
			"total_connections_received:"+strconv.FormatUint(s.stats.connections, 10),
			"total_commands_processed:"+strconv.FormatUint(s.stats.commands, 10),
			"instantaneous_ops_per_sec:0",
			"total_net_input_bytes:"+strconv.FormatUint(s.stats.netIn, 10),
			"total_net_output_bytes:"+strconv.FormatUint(s.stats.netOut, 10),
			"rejected_connections:"+strconv.FormatUint(s.stats.rejectedConns, 10),
			"expired_keys:"+strconv.FormatUint(s.stats.expiredKeys, 10),
			"evicted_keys:0",
			"keyspace_hits:"+strconv.FormatUint(s.stats.hits, 10),
			"keyspace_misses:"+strconv.FormatUint(s.stats.misses, 10),
			"total_error_replies:"+strconv.FormatUint(s.stats.errorReplies, 10),
			"protocol_errors:"+strconv.FormatUint(s.stats.protoErrors, 10),
			"active_expire_cycles:"+strconv.FormatUint(s.stats.activeCycles, 10))
	}
	if section("replication") {
		add("Replication", "role:master", "connected_slaves:0")
	}
	if section("cpu") {
		add("CPU")
	}
	if want["commandstats"] || want["everything"] {
		var lines []string
		for _, cmd := range commandList {
			if st := s.cmdStat(cmd); st.calls > 0 || st.rejected > 0 {
				lines = append(lines, fmt.Sprintf("cmdstat_%s:calls=%d,usec=0,usec_per_call=0.00,rejected_calls=%d,failed_calls=%d", cmd.name, st.calls, st.rejected, st.failed))
			}
		}
		add("Commandstats", lines...)
	}
	if section("keyspace") {
		var lines []string
		for i, d := range s.dbs {
			if d.size() > 0 {
				lines = append(lines, fmt.Sprintf("db%d:keys=%d,expires=%d,avg_ttl=0", i, d.size(), len(d.vol)))
			}
		}
		add("Keyspace", lines...)
	}
	c.bulkStr(b.String())
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// maxInput is the most unconsumed input a connection may hold: room for a
// few maximal bulk arguments (Redis's client-query-buffer-limit is 1GB).
func maxInput(maxReq int64) int64 {
	v := 2*maxReq + 1<<20
	if v < 1<<30 && maxReq >= 512<<20 {
		v = 1 << 30
	}
	return v
}

// help replies with lines as an array of simple strings, as Redis's HELP
// subcommands do.
func (c *client) help(lines []string) {
	c.array(len(lines))
	for _, h := range lines {
		c.simple(h)
	}
}
