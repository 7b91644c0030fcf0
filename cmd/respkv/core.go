package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

const numDBs = 16

// Config is the server's configuration (the command-line flags).
type Config struct {
	Addr        string
	MaxReq      int64  // largest bulk argument (proto-max-bulk-len)
	AOF         string // append-only file path; "" = off
	AppendFsync string // "always", "everysec" or "no"

	// AOF rewrite: automatic when the AOF has grown by this percentage
	// since the last rewrite (0: never) and is larger than the minimum size.
	AutoAOFRewritePercentage int64
	AutoAOFRewriteMinSize    int64

	MaxMemory       int64  // bytes; 0 = no limit
	MaxMemoryPolicy string // see maxmemory.go; "" = noeviction

	OutputLimits obufLimits // client-output-buffer-limit (pubsub.go)

	RequirePass   string // password of the default user; "" = none (AUTH refused)
	ProtectedMode bool   // without a password, refuse connections from outside loopback

	// appendonly, dir and appendfilename, as read from flags or a file:
	// Config.finish turns them into AOF.
	AppendOnly     bool
	Dir            string
	AppendFilename string

	Monitor monitorConfig // slowlog, latency monitor and tracking (latency.go)
}

// netConn is what the core needs of a connection (a *stream.Conn).
type netConn interface {
	Write(p []byte) (int, error)
	WriteRef(p []byte, release func()) (int, error)
	Close() error
	Abort() error
	Buffered() int
	RemoteAddr() net.Addr
	LocalAddr() net.Addr
	PauseReading()
	ResumeReading()
}

// server is the loop's shared state: the whole keyspace, the clients and
// the statistics. Only the loop's goroutine touches it.
type server struct {
	cfg   Config
	loop  *calloop.Loop[server]
	dbs   [numDBs]*db
	now   int64 // unix ms, read at the start of each batch of commands
	start time.Time

	clients    map[uint64]*client
	nextID     uint64
	dirty      uint64 // changes since start (Redis's server.dirty)
	watched    [numDBs]map[string][]*client
	nwatched   int // clients watching something
	loading    bool
	ps         pubsubState
	shutdown   bool
	aof        *aof
	aofErr     error     // the AOF writer is failing: writes are refused (MISCONF)
	waiting    []*client // clients with replies held until an fsync (always)
	execDepth  int
	multiSent  bool // MULTI propagated for the EXEC in progress
	propCustom bool // the command propagated itself
	rw         rewriteState
	mm         memState
	gift       []byte        // input buffer taken over for the running command (memory.go)
	bl         blockingState // blocked clients (blocking.go)

	stats      stats
	cmdStats   []cmdStat         // by command.id
	errorCodes map[string]uint64 // error replies by code (INFO errorstats)
	replid     string            // INFO replication's master_replid
	mon        monitor           // command timing, slowlog, latency (latency.go)
}

type stats struct {
	connections   uint64
	commands      uint64
	rejectedConns uint64
	expiredKeys   uint64
	hits, misses  uint64
	netIn, netOut uint64
	protoErrors   uint64
	activeCycles  uint64
	errorReplies  uint64
}

// cmdStat is one command's statistics (INFO commandstats): calls run,
// calls refused before running (rejected_calls) and calls that answered an
// error (failed_calls).
type cmdStat struct {
	calls, rejected, failed uint64
}

// client is one connection's state.
type client struct {
	id     uint64
	srv    *server
	conn   netConn
	parser *resp.Parser
	out    []byte
	// large values of the replies in out, sent by reference (memory.go)
	refs     []outRef
	refBytes int
	db       int
	name     string
	born     int64
	last     int64
	lastCmd  *command
	ps       *clientPubsub // subscriptions (pubsub.go); nil until the first

	closing bool // close after the replies are written

	authenticated bool // AUTH passed, or no password was required when it last mattered

	multi       bool
	multiDirty  bool // a queued command was refused: EXECABORT
	queueWrites bool // a queued command writes (EXEC is refused by MISCONF)
	casDirty    bool // a watched key changed: EXEC fails
	queue       []queued
	watching    []watchedKey

	// replies held until the AOF writer confirms an fsync (appendfsync always)
	held      []heldReply
	heldBytes int
	heldSeq   uint64 // the AOF batch this client's last write belongs to
	paused    bool
	stopped   bool // feed stopped early, with input left, on output volume

	block *blockState // waiting in a blocking command (blocking.go)
}

type queued struct {
	cmd  *command
	args [][]byte
}

type watchedKey struct {
	db  int
	key string
	// expired: the key was present but already expired when watched
	// (Redis's watchedKey.expired): its deletion is no change, and EXEC
	// does not fail because it is expired.
	expired bool
}

type heldReply struct {
	seq  uint64
	data []byte
}

func newServer(cfg Config) *server {
	s := &server{cfg: cfg, clients: make(map[uint64]*client), start: time.Now()}
	for i := range s.dbs {
		s.dbs[i] = newDB()
	}
	s.now = time.Now().UnixMilli()
	s.replid = fmt.Sprintf("%016x%016x%08x", rand.Uint64(), rand.Uint64(), rand.Uint32())
	s.cmdStats = make([]cmdStat, len(commandList))
	return s
}

func (s *server) newClient(conn netConn) *client {
	s.nextID++
	c := &client{id: s.nextID, srv: s, authenticated: !s.authRequired(), conn: conn, parser: resp.NewParser(s.cfg.MaxReq), born: s.now, last: s.now}
	return c
}

// feed runs the complete requests at the start of in and returns the number
// of bytes used. Replies are appended to c.out.
func (s *server) feed(c *client, in []byte) int {
	s.now = time.Now().UnixMilli()
	c.last = s.now
	c.stopped = false
	off := 0
	for off < len(in) && !c.closing && c.block == nil {
		args, n, err := c.parser.Parse(in[off:])
		if err != nil {
			s.stats.protoErrors++
			c.out = resp.AppendError(c.out, "ERR "+err.Error())
			c.closing = true
			return len(in)
		}
		if n == 0 {
			break
		}
		off += n
		if len(args) == 0 {
			continue
		}
		if c.conn != nil {
			s.takeInput(c, args)
		}
		s.call(c, args)
		s.gift = nil
		if c.outLen() > highWater {
			// Enough replies for now: the connection pauses reading above
			// the high-water mark and offers the rest of the input again
			// once the output has drained.
			c.stopped = true
			break
		}
	}
	s.stats.netIn += uint64(off)
	return off
}

// errUnknownCommand formats Redis's reply to an unknown command.
func errUnknownCommand(args [][]byte) string {
	b := make([]byte, 0, 128)
	for i := 1; i < len(args) && len(b) < 128; i++ {
		a := args[i]
		if room := 128 - len(b); len(a) > room {
			a = a[:room]
		}
		b = append(b, '\'')
		b = append(b, cstr(a)...)
		b = append(b, '\'', ' ')
	}
	name := cstr(args[0])
	if len(name) > 128 {
		name = name[:128]
	}
	return "ERR unknown command '" + string(name) + "', with args beginning with: " + string(b)
}

// cstr cuts b at its first NUL, as C's %s does.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func errArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// call runs one command, or queues it inside MULTI. The checks before
// running are Redis's processCommand's, in its order: existence (and the
// subcommand's), arity, authentication, MISCONF; a command refused here
// flags an open transaction (EXEC answers EXECABORT), and a refused EXEC
// aborts it.
func (s *server) call(c *client, args [][]byte) {
	cmd := lookup(args[0])
	if cmd == nil {
		s.reject(c, nil, errUnknownCommand(args))
		return
	}
	if cmd.subs != nil && len(args) >= 2 {
		arity, ok := cmd.subArity(args[1])
		if !ok {
			s.reject(c, cmd, errUnknownSub(cmd.name, args[1]))
			return
		}
		if (arity > 0 && len(args) != arity) || len(args) < -arity {
			s.reject(c, cmd, errArity(cmd.name+"|"+lowerString(args[1])))
			return
		}
	} else if (cmd.arity > 0 && len(args) != cmd.arity) || len(args) < -cmd.arity {
		s.reject(c, cmd, errArity(cmd.name))
		return
	}
	if !c.authenticated && cmd.flags&flagNoAuth == 0 {
		if s.authRequired() {
			s.reject(c, cmd, "NOAUTH Authentication required.")
			return
		}
		c.authenticated = true
	}
	if s.aofErr != nil && (cmd.flags&flagWrite != 0 || cmd.name == "exec" && c.queueWrites) {
		s.reject(c, cmd, errMisconf(s.aofErr))
		return
	}
	if s.mm.on && s.oomRefuses(c, cmd) {
		return
	}
	if c.ps.active() && s.pubsubRefuses(c, cmd, args) {
		return
	}
	if c.multi && cmd.flags&flagNoQueue == 0 {
		c.queueCommand(cmd, args)
		c.out = append(c.out, "+QUEUED\r\n"...)
		return
	}
	s.exec(c, cmd, args)
	if len(s.bl.ready) > 0 && s.execDepth == 0 {
		s.handleBlocked()
	}
}

// reject refuses a command before it runs (Redis's rejectCommand).
func (s *server) reject(c *client, cmd *command, msg string) {
	if c.multi {
		c.multiDirty = true
	}
	if cmd != nil {
		s.cmdStat(cmd).rejected++
		if cmd.name == "exec" {
			c.discardMulti()
			s.unwatchAll(c)
			msg = "EXECABORT Transaction discarded because of: " + strings.TrimPrefix(msg, "ERR ")
		}
	}
	c.errReply(msg)
}

// lowerString returns b in ASCII lower case.
func lowerString(b []byte) string {
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return string(out)
}

// exec runs cmd and propagates its effect to the AOF.
func (s *server) exec(c *client, cmd *command, args [][]byte) {
	s.stats.commands++
	st := &s.cmdStats[cmd.id] // sized by newServer
	st.calls++
	c.lastCmd = cmd
	dirty := s.dirty
	errs := s.stats.errorReplies
	s.propCustom = false
	start := monoNow()
	cmd.fn(s, c, args)
	s.commandDone(c, cmd, args, monoNow()-start)
	if s.stats.errorReplies != errs && cmd.name != "exec" {
		st.failed++
	}
	if s.dirty != dirty && !s.propCustom && cmd.flags&flagWrite != 0 {
		s.propagate(c.db, args...)
	}
}

// cmdStat is the statistics of cmd in this server (INFO commandstats).
func (s *server) cmdStat(cmd *command) *cmdStat {
	if cmd.id >= len(s.cmdStats) {
		s.cmdStats = append(s.cmdStats, make([]cmdStat, len(commandList)-len(s.cmdStats))...)
	}
	return &s.cmdStats[cmd.id]
}

// propagate appends a command to the AOF.
func (s *server) propagate(dbi int, args ...[]byte) {
	s.propCustom = true
	if s.aof == nil || s.loading {
		return
	}
	if s.execDepth > 0 && !s.multiSent {
		s.multiSent = true
		s.aof.append(-1, []byte("MULTI"))
	}
	s.aof.append(dbi, args...)
}

// countError counts an error reply, by its code (the first word, as Redis
// takes it: up to a space within the first 32 bytes, else ERR), for INFO's
// total_error_replies and errorstats. Like Redis, at most 128 codes are
// tracked.
func (s *server) countError(msg string) {
	s.stats.errorReplies++
	code := "ERR"
	if i := strings.IndexByte(msg[:min(len(msg), 32)], ' '); i > 0 {
		code = msg[:i]
	}
	if _, ok := s.errorCodes[code]; ok || len(s.errorCodes) < 128 {
		if s.errorCodes == nil {
			s.errorCodes = make(map[string]uint64)
		}
		s.errorCodes[code]++
	}
}

// errReply appends an error reply and counts it (total_error_replies).
func (c *client) errReply(msg string) {
	c.out = resp.AppendError(c.out, msg)
	if c.srv != nil {
		c.srv.countError(msg)
	}
}

func (c *client) ok()              { c.out = resp.AppendOK(c.out) }
func (c *client) int(n int64)      { c.out = resp.AppendInt(c.out, n) }
func (c *client) bulk(b []byte)    { c.out = resp.AppendBulk(c.out, b) }
func (c *client) bulkStr(s string) { c.out = resp.AppendBulkString(c.out, s) }
func (c *client) null()            { c.out = resp.AppendNull(c.out) }
func (c *client) array(n int)      { c.out = resp.AppendArray(c.out, n) }
func (c *client) simple(s string)  { c.out = resp.AppendSimple(c.out, s) }

func (c *client) queueCommand(cmd *command, args [][]byte) {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	cp := make([][]byte, len(args))
	for i, a := range args {
		start := len(buf)
		buf = append(buf, a...)
		cp[i] = buf[start:len(buf):len(buf)]
	}
	c.queue = append(c.queue, queued{cmd: cmd, args: cp})
	if cmd.flags&flagWrite != 0 {
		c.queueWrites = true
	}
}

// Common errors, Redis's texts.
const (
	errSyntax     = "ERR syntax error"
	errNotInt     = "ERR value is not an integer or out of range"
	errNotFloat   = "ERR value is not a valid float"
	errWrongType  = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errOverflow   = "ERR increment or decrement would overflow"
	errNoSuchKey  = "ERR no such key"
	errSameObject = "ERR source and destination objects are the same"
	errDBRange    = "ERR DB index is out of range"
)

// lookupKey returns the position of a live key in db dbi, deleting it first
// if it has expired (and propagating the DEL), or -1.
func (s *server) lookupKey(dbi int, key []byte) int {
	d := s.dbs[dbi]
	i := d.find(key)
	if i < 0 {
		return -1
	}
	if e := &d.ents[i]; e.exp != 0 && e.exp <= s.now && !s.loading {
		s.expireKey(dbi, i)
		return -1
	}
	d.ents[i].lru = s.lruClock()
	return i
}

// lookupRead is lookupKey that counts hits and misses.
func (s *server) lookupRead(dbi int, key []byte) int {
	i := s.lookupKey(dbi, key)
	if i < 0 {
		s.stats.misses++
	} else {
		s.stats.hits++
	}
	return i
}

// expireKey deletes an expired key and propagates a DEL.
func (s *server) expireKey(dbi, i int) {
	d := s.dbs[dbi]
	key := d.ents[i].key
	d.remove(i)
	s.stats.expiredKeys++
	s.touch(dbi, key)
	if s.aof != nil && !s.loading {
		saved := s.propCustom
		s.aof.append(dbi, []byte("DEL"), []byte(key))
		s.propCustom = saved
	}
}

// modified records a change of key: WATCH bookkeeping and the dirty count.
func (s *server) modified(dbi int, key []byte) {
	s.dirty++
	if s.mm.on {
		s.accountKey(dbi, key)
	}
	if s.nwatched > 0 {
		s.touch(dbi, string(key))
	}
}

// touch marks the transactions watching key as failed.
// Redis 7.0's touchWatchedKey, quirks included: a watcher of a key that
// was already expired at WATCH time is not failed by the key's deletion
// (the flag is cleared), and while such a key is still present it stops
// the walk over the remaining watchers. A failed client stops watching.
func (s *server) touch(dbi int, key string) {
	if s.nwatched == 0 || len(s.watched[dbi][key]) == 0 {
		return
	}
	for _, c := range slices.Clone(s.watched[dbi][key]) {
		w := c.watchEntry(dbi, key)
		if w == nil {
			continue
		}
		if w.expired {
			if s.dbs[dbi].find([]byte(key)) < 0 {
				w.expired = false
				continue
			}
			break
		}
		s.unwatchAll(c)
		c.casDirty = true
	}
}

// watchEntry returns c's entry for a watched key, or nil.
func (c *client) watchEntry(dbi int, key string) *watchedKey {
	for i := range c.watching {
		if w := &c.watching[i]; w.db == dbi && w.key == key {
			return w
		}
	}
	return nil
}

// keyIsExpired reports whether key is present in db dbi and expired.
func (s *server) keyIsExpired(dbi int, key string) bool {
	d := s.dbs[dbi]
	i := d.find([]byte(key))
	return i >= 0 && s.expired(&d.ents[i])
}

// touchAll is Redis 7.0's touchAllWatchedKeysInDb, called before db
// emptied is flushed (replacedWith < 0) or swapped with db replacedWith:
// it fails the transactions watching a key present in either, except
// where the key was and stays logically absent (expired).
func (s *server) touchAll(emptied, replacedWith int) {
	if s.nwatched == 0 {
		return
	}
	inReplacement := func(key string) bool {
		return replacedWith >= 0 && s.dbs[replacedWith].find([]byte(key)) >= 0
	}
	for key, cs := range s.watched[emptied] {
		inEmptied := s.dbs[emptied].find([]byte(key)) >= 0
		if !inEmptied && !inReplacement(key) {
			continue
		}
		for _, c := range cs {
			w := c.watchEntry(emptied, key)
			if w == nil {
				continue
			}
			if w.expired {
				if !inReplacement(key) {
					w.expired = false
					continue
				} else if s.keyIsExpired(replacedWith, key) {
					continue
				}
			} else if !inEmptied && replacedWith >= 0 && s.keyIsExpired(replacedWith, key) {
				w.expired = true
				continue
			}
			c.casDirty = true
		}
	}
}

// unwatchAll forgets c's watched keys and clears its failed-watch flag
// (EXEC, DISCARD, UNWATCH, RESET: Redis clears CLIENT_DIRTY_CAS with them).
func (s *server) unwatchAll(c *client) {
	c.casDirty = false
	if len(c.watching) == 0 {
		return
	}
	for _, w := range c.watching {
		cs := s.watched[w.db][w.key]
		for i, x := range cs {
			if x == c {
				cs = append(cs[:i], cs[i+1:]...)
				break
			}
		}
		if len(cs) == 0 {
			delete(s.watched[w.db], w.key)
		} else {
			s.watched[w.db][w.key] = cs
		}
	}
	c.watching = c.watching[:0]
	c.casDirty = false
	s.nwatched--
}

// parseInt parses a Redis integer argument.
func parseInt(b []byte) (int64, bool) { return resp.ParseInt(b) }

// eqFold reports whether b equals the lower-case ASCII word s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// errMisconf is Redis's refusal of writes while the AOF cannot be written:
// "-MISCONF Errors writing to the AOF file: <strerror>".
func errMisconf(err error) string {
	var errno syscall.Errno
	msg := err.Error()
	if errors.As(err, &errno) {
		msg = errno.Error()
	}
	if msg != "" && 'a' <= msg[0] && msg[0] <= 'z' {
		msg = string(msg[0]-'a'+'A') + msg[1:]
	}
	return "MISCONF Errors writing to the AOF file: " + msg
}
