package main

import "strings"

// Command flags.
const (
	flagWrite    = 1 << iota // modifies the keyspace
	flagReadonly             // reads the keyspace
	flagFast                 // O(1) or O(log n)
	flagNoQueue              // runs at once inside MULTI (EXEC, DISCARD, ...)
	flagAdmin
	flagDenyOOM
	flagLoading
	flagStale
	flagNoScript
	flagNoAuth   // allowed before AUTH (AUTH, HELLO, QUIT, RESET)
	flagBlocking // may block the client (BLPOP...)
	flagPubSub   // pub/sub
)

// command is one entry of the command table.
type command struct {
	name    string // lower case
	arity   int    // > 0 exact, < 0 at least -arity
	flags   int
	first   int // first key argument, 0 = none
	last    int // last key argument, -1 = the last argument
	step    int
	group   string
	since   string
	summary string
	fn      func(s *server, c *client, args [][]byte)
	subs    map[string]int // subcommands (lower case) and their arities, for a container command
	id      int            // position in commandList
}

// subArity returns the arity of subcommand sub of a container command.
func (c *command) subArity(sub []byte) (int, bool) {
	var buf [32]byte
	if len(sub) > len(buf) {
		return 0, false
	}
	for i, ch := range sub {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	a, ok := c.subs[string(buf[:len(sub)])]
	return a, ok
}

var commands map[string]*command
var commandList []*command

func init() {
	list := []*command{
		// strings
		{name: "get", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Get the value of a key", fn: cmdGet},
		{name: "set", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Set the string value of a key", fn: cmdSet},
		{name: "setnx", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Set the value of a key, only if the key does not exist", fn: cmdSetnx},
		{name: "setex", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "2.0.0", summary: "Set the value and expiration of a key", fn: cmdSetex},
		{name: "psetex", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "2.6.0", summary: "Set the value and expiration in milliseconds of a key", fn: cmdPsetex},
		{name: "getset", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Set the string value of a key and return its old value", fn: cmdGetset},
		{name: "getdel", arity: 2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "string", since: "6.2.0", summary: "Get the value of a key and delete the key", fn: cmdGetdel},
		{name: "getex", arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "string", since: "6.2.0", summary: "Get the value of a key and optionally set its expiration", fn: cmdGetex},
		{name: "mget", arity: -2, flags: flagReadonly | flagFast, first: 1, last: -1, step: 1, group: "string", since: "1.0.0", summary: "Get the values of all the given keys", fn: cmdMget},
		{name: "mset", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: "string", since: "1.0.1", summary: "Set multiple keys to multiple values", fn: cmdMset},
		{name: "msetnx", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: "string", since: "1.0.1", summary: "Set multiple keys to multiple values, only if none of the keys exist", fn: cmdMsetnx},
		{name: "append", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "2.0.0", summary: "Append a value to a key", fn: cmdAppend},
		{name: "strlen", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "string", since: "2.2.0", summary: "Get the length of the value stored in a key", fn: cmdStrlen},
		{name: "getrange", arity: 4, flags: flagReadonly, first: 1, last: 1, step: 1, group: "string", since: "2.4.0", summary: "Get a substring of the string stored at a key", fn: cmdGetrange},
		{name: "lcs", arity: -3, flags: flagReadonly, first: 1, last: 2, step: 1, group: "string", since: "7.0.0", summary: "Find longest common substring", fn: cmdLcs},
		{name: "setrange", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "string", since: "2.2.0", summary: "Overwrite part of a string at key starting at the specified offset", fn: cmdSetrange},
		{name: "incr", arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Increment the integer value of a key by one", fn: cmdIncr},
		{name: "decr", arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrement the integer value of a key by one", fn: cmdDecr},
		{name: "incrby", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Increment the integer value of a key by the given amount", fn: cmdIncrby},
		{name: "decrby", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrement the integer value of a key by the given number", fn: cmdDecrby},
		{name: "incrbyfloat", arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: "string", since: "2.6.0", summary: "Increment the float value of a key by the given amount", fn: cmdIncrbyfloat},
		{name: "setbit", arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "bitmap", since: "2.2.0", summary: "Sets or clears the bit at offset in the string value stored at key", fn: cmdSetbit},
		{name: "getbit", arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "bitmap", since: "2.2.0", summary: "Returns the bit value at offset in the string value stored at key", fn: cmdGetbit},
		// keys
		{name: "del", arity: -2, flags: flagWrite, first: 1, last: -1, step: 1, group: "generic", since: "1.0.0", summary: "Delete a key", fn: cmdDel},
		{name: "unlink", arity: -2, flags: flagWrite | flagFast, first: 1, last: -1, step: 1, group: "generic", since: "4.0.0", summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", fn: cmdDel},
		{name: "exists", arity: -2, flags: flagReadonly | flagFast, first: 1, last: -1, step: 1, group: "generic", since: "1.0.0", summary: "Determine if a key exists", fn: cmdExists},
		{name: "type", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Determine the type stored at key", fn: cmdType},
		{name: "keys", arity: 2, flags: flagReadonly, group: "generic", since: "1.0.0", summary: "Find all keys matching the given pattern", fn: cmdKeys},
		{name: "scan", arity: -2, flags: flagReadonly, group: "generic", since: "2.8.0", summary: "Incrementally iterate the keys space", fn: cmdScan},
		{name: "randomkey", arity: 1, flags: flagReadonly, group: "generic", since: "1.0.0", summary: "Return a random key from the keyspace", fn: cmdRandomkey},
		{name: "rename", arity: 3, flags: flagWrite, first: 1, last: 2, step: 1, group: "generic", since: "1.0.0", summary: "Rename a key", fn: cmdRename},
		{name: "renamenx", arity: 3, flags: flagWrite | flagFast, first: 1, last: 2, step: 1, group: "generic", since: "1.0.0", summary: "Rename a key, only if the new key does not exist", fn: cmdRenamenx},
		{name: "copy", arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: "generic", since: "6.2.0", summary: "Copy a key", fn: cmdCopy},
		{name: "move", arity: 3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Move a key to another database", fn: cmdMove},
		{name: "dbsize", arity: 1, flags: flagReadonly | flagFast, group: "server", since: "1.0.0", summary: "Return the number of keys in the selected database", fn: cmdDbsize},
		{name: "flushdb", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Remove all keys from the current database", fn: cmdFlushdb},
		{name: "flushall", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Remove all keys from all databases", fn: cmdFlushall},
		{name: "bgrewriteaof", arity: 1, flags: flagAdmin | flagNoScript, group: "server", since: "1.0.0", summary: "Asynchronously rewrite the append-only file", fn: cmdBgrewriteaof},
		{name: "select", arity: 2, flags: flagLoading | flagStale | flagFast, group: "connection", since: "1.0.0", summary: "Change the selected database for the current connection", fn: cmdSelect},
		{name: "swapdb", arity: 3, flags: flagWrite | flagFast, group: "server", since: "4.0.0", summary: "Swaps two Redis databases", fn: cmdSwapdb},
		// expiry
		{name: "expire", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Set a key's time to live in seconds", fn: cmdExpire},
		{name: "pexpire", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "2.6.0", summary: "Set a key's time to live in milliseconds", fn: cmdPexpire},
		{name: "expireat", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "1.2.0", summary: "Set the expiration for a key as a UNIX timestamp", fn: cmdExpireat},
		{name: "pexpireat", arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "2.6.0", summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds", fn: cmdPexpireat},
		{name: "ttl", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Get the time to live for a key in seconds", fn: cmdTTL},
		{name: "pttl", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "2.6.0", summary: "Get the time to live for a key in milliseconds", fn: cmdPTTL},
		{name: "expiretime", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "7.0.0", summary: "Get the expiration Unix timestamp for a key", fn: cmdExpiretime},
		{name: "pexpiretime", arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "7.0.0", summary: "Get the expiration Unix timestamp for a key in milliseconds", fn: cmdPexpiretime},
		{name: "persist", arity: 2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: "generic", since: "2.2.0", summary: "Remove the expiration from a key", fn: cmdPersist},
		// transactions
		{name: "multi", arity: 1, flags: flagNoQueue | flagFast | flagLoading | flagStale, group: "transactions", since: "1.2.0", summary: "Mark the start of a transaction block", fn: cmdMulti},
		{name: "exec", arity: 1, flags: flagNoQueue | flagLoading | flagStale, group: "transactions", since: "1.2.0", summary: "Execute all commands issued after MULTI", fn: cmdExec},
		{name: "discard", arity: 1, flags: flagNoQueue | flagFast | flagLoading | flagStale, group: "transactions", since: "2.0.0", summary: "Discard all commands issued after MULTI", fn: cmdDiscard},
		{name: "watch", arity: -2, flags: flagNoQueue | flagFast | flagLoading | flagStale, first: 1, last: -1, step: 1, group: "transactions", since: "2.2.0", summary: "Watch the given keys to determine execution of the MULTI/EXEC block", fn: cmdWatch},
		{name: "unwatch", arity: 1, flags: flagFast | flagLoading | flagStale, group: "transactions", since: "2.2.0", summary: "Forget about all watched keys", fn: cmdUnwatch},
		// connection and server
		{name: "ping", arity: -1, flags: flagFast | flagStale, group: "connection", since: "1.0.0", summary: "Ping the server", fn: cmdPing},
		{name: "echo", arity: 2, flags: flagFast, group: "connection", since: "1.0.0", summary: "Echo the given string", fn: cmdEcho},
		{name: "quit", arity: -1, flags: flagNoQueue | flagNoAuth | flagFast | flagLoading | flagStale, group: "connection", since: "1.0.0", summary: "Close the connection", fn: cmdQuit},
		{name: "reset", arity: 1, flags: flagNoQueue | flagNoAuth | flagFast | flagLoading | flagStale, group: "connection", since: "6.2.0", summary: "Reset the connection", fn: cmdReset},
		{name: "time", arity: 1, flags: flagFast | flagLoading | flagStale, group: "server", since: "2.6.0", summary: "Return the current server time", fn: cmdTime},
		{name: "lastsave", arity: 1, flags: flagFast | flagLoading | flagStale, group: "server", since: "1.0.0", summary: "Get the UNIX time stamp of the last successful save to disk", fn: cmdLastsave},
		{name: "info", arity: -1, flags: flagLoading | flagStale, group: "server", since: "1.0.0", summary: "Get information and statistics about the server", fn: cmdInfo},
		{name: "command", arity: -1, flags: flagLoading | flagStale, group: "server", since: "2.8.13", summary: "Get array of Redis command details", fn: cmdCommand,
			subs: map[string]int{"count": 2, "docs": -2, "getkeys": -4, "help": 2, "info": -2, "list": -2}},
		{name: "config", arity: -2, flags: flagAdmin | flagLoading | flagStale, group: "server", since: "2.0.0", summary: "A container for server configuration commands", fn: cmdConfig,
			subs: map[string]int{"get": -3, "set": -4, "resetstat": 2, "rewrite": 2, "help": 2}},
		{name: "client", arity: -2, flags: flagLoading | flagStale, group: "connection", since: "2.4.0", summary: "A container for client connection commands", fn: cmdClient,
			subs: map[string]int{"id": 2, "setname": 3, "getname": 2, "info": 2, "list": -2, "no-evict": 3, "no-touch": 3, "setinfo": 4, "help": 2,
				"kill": -3, "pause": -3, "unpause": 2, "reply": 3, "tracking": -3, "trackinginfo": 2, "caching": 3, "getredir": 2, "unblock": -3}},
		{name: "hello", arity: -1, flags: flagNoAuth | flagFast | flagLoading | flagStale, group: "connection", since: "6.0.0", summary: "Handshake with Redis", fn: cmdHello},
		{name: "auth", arity: -2, flags: flagNoAuth | flagNoScript | flagFast | flagLoading | flagStale, group: "connection", since: "1.0.0", summary: "Authenticate to the server", fn: cmdAuth},
		{name: "object", arity: -2, flags: flagReadonly, group: "generic", since: "2.2.3", summary: "A container for object introspection commands", fn: cmdObject,
			subs: map[string]int{"encoding": 3, "refcount": 3, "idletime": 3, "freq": 3, "help": 2}},
		{name: "function", arity: -2, group: "scripting", since: "7.0.0", summary: "A container for function commands", fn: cmdFunction,
			subs: map[string]int{"flush": -2, "list": -2, "help": 2, "delete": 3, "dump": 2, "kill": 2, "load": -3, "restore": -3, "stats": 2}},
	}
	registerCommands(list...)
	cmdGetEntry, cmdSetEntry = commands["get"], commands["set"]
}

// registerCommands adds commands to the table. Each command family's file
// calls it from an init function, so no file lists another's commands.
// commandList (COMMAND's order, and command.id) is the order of
// registration: Go runs a package's init functions file by file in name
// order, so it is the same on every run.
func registerCommands(list ...*command) {
	if commands == nil {
		commands = make(map[string]*command)
	}
	for _, c := range list {
		if _, dup := commands[c.name]; dup {
			panic("respkv: command registered twice: " + c.name)
		}
		c.id = len(commandList)
		commands[c.name] = c
		commandList = append(commandList, c)
	}
}

var cmdGetEntry, cmdSetEntry *command

// lookup finds a command by name, case-insensitively, without allocating.
func lookup(name []byte) *command {
	if len(name) == 3 { // the hot path: GET and SET skip the map
		if eqFold(name, "get") {
			return cmdGetEntry
		}
		if eqFold(name, "set") {
			return cmdSetEntry
		}
	}
	var buf [24]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return commands[string(buf[:len(name)])]
}

// flagNames lists the COMMAND flags of c, as Redis names them.
func (c *command) flagNames() []string {
	var f []string
	add := func(bit int, name string) {
		if c.flags&bit != 0 {
			f = append(f, name)
		}
	}
	add(flagWrite, "write")
	add(flagReadonly, "readonly")
	add(flagDenyOOM, "denyoom")
	add(flagAdmin, "admin")
	add(flagNoScript, "noscript")
	add(flagLoading, "loading")
	add(flagStale, "stale")
	add(flagFast, "fast")
	add(flagNoAuth, "no_auth")
	add(flagBlocking, "blocking")
	if c.flags&flagNoQueue != 0 && c.name != "watch" {
		f = append(f, "no_multi")
	}
	return f
}

// aclCategories returns Redis-style ACL categories for COMMAND.
func (c *command) aclCategories() []string {
	var cats []string
	switch {
	case c.flags&flagWrite != 0:
		cats = append(cats, "@write")
	case c.flags&flagReadonly != 0:
		cats = append(cats, "@read")
	}
	switch c.group {
	case "string":
		cats = append(cats, "@string")
	case "bitmap":
		cats = append(cats, "@bitmap")
	case "generic":
		cats = append(cats, "@keyspace")
	case "transactions":
		cats = append(cats, "@transaction")
	case "connection":
		cats = append(cats, "@connection")
	case "list":
		cats = append(cats, "@list")
	case "hash":
		cats = append(cats, "@hash")
	case "set":
		cats = append(cats, "@set")
	case "sorted_set":
		cats = append(cats, "@sortedset")
	case "pubsub":
		cats = append(cats, "@pubsub")
	}
	if c.flags&flagAdmin != 0 {
		cats = append(cats, "@admin", "@dangerous")
	}
	if c.flags&flagFast != 0 {
		cats = append(cats, "@fast")
	} else {
		cats = append(cats, "@slow")
	}
	if c.flags&flagBlocking != 0 {
		cats = append(cats, "@blocking")
	}
	return cats
}

func upper(s string) string { return strings.ToUpper(s) }
