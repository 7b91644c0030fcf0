package main

// Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
// SUNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB, the subscribed mode of RESP2,
// and the output limit of subscribers (client-output-buffer-limit).
//
// A message is encoded once per PUBLISH (and once per matching pattern)
// and that one buffer is queued on every subscriber's connection: by
// reference (stream's WriteRef) from 4 KiB on, so a large message costs
// its size once however many subscribers get it. The publisher never
// waits: a subscriber whose queued output passes the pubsub class's hard
// limit, or stays above its soft limit for longer than the given seconds,
// is closed at once (its queued output dropped), as Redis does.

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// psKind is a kind of subscription.
type psKind uint8

const (
	kindChannel psKind = iota // SUBSCRIBE
	kindPattern               // PSUBSCRIBE
	kindShard                 // SSUBSCRIBE
	numKinds
)

// psWords are the words of each kind's confirmations and messages.
var psWords = [numKinds]struct{ sub, unsub, msg string }{
	{"subscribe", "unsubscribe", "message"},
	{"psubscribe", "punsubscribe", "pmessage"},
	{"ssubscribe", "sunsubscribe", "smessage"},
}

// subList is the subscribers of one channel or pattern.
type subList struct {
	name  string
	nameB []byte // name as bytes, for matching (patterns)
	cs    []*client
	pos   int // position in pubsubState.patList (patterns)
}

// pubsubState is the server's subscriptions.
type pubsubState struct {
	subs    [numKinds]map[string]*subList
	patList []*subList // the patterns, in a stable order for PUBLISH
	seq     uint64     // subscription counter (order of UNSUBSCRIBE without arguments)
}

// subRef is a client's subscription: its position in the subList and when
// it was made.
type subRef struct {
	i   int
	seq uint64
}

// clientPubsub is a client's subscriptions (nil until its first one).
type clientPubsub struct {
	subs [numKinds]map[string]subRef
	// softSince is when the queued output was first seen above the soft
	// limit (unix ms), 0 while it is below.
	softSince int64
	dropped   bool // closed for its output limit
}

// active reports whether the client is in subscribed mode (RESP2: only
// (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET are allowed).
func (p *clientPubsub) active() bool {
	return p != nil && len(p.subs[kindChannel])+len(p.subs[kindPattern])+len(p.subs[kindShard]) > 0
}

// n is the number of subscriptions of kind k.
func (p *clientPubsub) n(k psKind) int {
	if p == nil {
		return 0
	}
	return len(p.subs[k])
}

// flag is the client's CLIENT LIST flags: P in subscribed mode, else N.
func (p *clientPubsub) flag() string {
	if p.active() {
		return "P"
	}
	return "N"
}

// count is the number in a confirmation: channels and patterns together,
// shard channels alone (Redis's clientSubscriptionsCount).
func (p *clientPubsub) count(k psKind) int {
	if k == kindShard {
		return p.n(kindShard)
	}
	return p.n(kindChannel) + p.n(kindPattern)
}

// pubsubAllowed reports whether cmd may run in subscribed mode (RESP2).
func pubsubAllowed(cmd *command) bool {
	switch cmd.name {
	case "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset":
		return true
	}
	return false
}

// pubsubRefuses refuses a command other than the allowed ones while c is
// in subscribed mode, with Redis's error, and reports whether it did.
func (s *server) pubsubRefuses(c *client, cmd *command, args [][]byte) bool {
	if !c.ps.active() || pubsubAllowed(cmd) {
		return false
	}
	name := cmd.name
	if cmd.subs != nil && len(args) >= 2 {
		name += "|" + lowerString(args[1])
	}
	s.reject(c, cmd, "ERR Can't execute '"+name+"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
	return true
}

// pubsubPing answers PING in subscribed mode: ["pong", arg or ""]. It
// reports whether it did (c is subscribed).
func pubsubPing(c *client, args [][]byte) bool {
	if !c.ps.active() || len(args) > 2 {
		return false
	}
	c.array(2)
	c.bulkStr("pong")
	if len(args) == 2 {
		c.bulk(args[1])
	} else {
		c.bulkStr("")
	}
	return true
}

// confirm appends a (un)subscribe confirmation; name nil is a null bulk.
func (c *client) confirm(word string, name []byte, null bool, count int) {
	c.array(3)
	c.bulkStr(word)
	if null {
		c.null()
	} else {
		c.bulk(name)
	}
	c.int(int64(count))
}

// subscribe adds c to the subscribers of name (kind k) and confirms.
func (s *server) subscribe(c *client, k psKind, name []byte) {
	if c.ps == nil {
		c.ps = &clientPubsub{}
	}
	m := c.ps.subs[k]
	if m == nil {
		m = make(map[string]subRef)
		c.ps.subs[k] = m
	}
	if _, ok := m[string(name)]; !ok {
		if s.ps.subs[k] == nil {
			s.ps.subs[k] = make(map[string]*subList)
		}
		l := s.ps.subs[k][string(name)]
		if l == nil {
			l = &subList{name: string(name)}
			if k == kindPattern {
				l.nameB = []byte(l.name)
				l.pos = len(s.ps.patList)
				s.ps.patList = append(s.ps.patList, l)
			}
			s.ps.subs[k][l.name] = l
		}
		s.ps.seq++
		m[l.name] = subRef{i: len(l.cs), seq: s.ps.seq}
		l.cs = append(l.cs, c)
	}
	c.confirm(psWords[k].sub, name, false, c.ps.count(k))
}

// unsubscribe removes c from the subscribers of name (kind k) and, with
// notify, confirms.
func (s *server) unsubscribe(c *client, k psKind, name []byte, notify bool) {
	if ref, ok := c.ps.lookup(k, name); ok {
		l := s.ps.subs[k][string(name)]
		key := l.name
		delete(c.ps.subs[k], key)
		last := len(l.cs) - 1
		moved := l.cs[last]
		l.cs[ref.i] = moved
		l.cs[last] = nil
		l.cs = l.cs[:last]
		if moved != c {
			r := moved.ps.subs[k][key]
			r.i = ref.i
			moved.ps.subs[k][key] = r
		}
		if len(l.cs) == 0 {
			delete(s.ps.subs[k], key)
			if k == kindPattern {
				end := len(s.ps.patList) - 1
				s.ps.patList[l.pos] = s.ps.patList[end]
				s.ps.patList[l.pos].pos = l.pos
				s.ps.patList[end] = nil
				s.ps.patList = s.ps.patList[:end]
			}
		}
	}
	if notify {
		c.confirm(psWords[k].unsub, name, false, c.ps.count(k))
	}
}

func (p *clientPubsub) lookup(k psKind, name []byte) (subRef, bool) {
	if p == nil {
		return subRef{}, false
	}
	r, ok := p.subs[k][string(name)]
	return r, ok
}

// unsubscribeAll removes every subscription of kind k of c, in the order
// they were made; with notify it confirms each, or, if there was none,
// answers one confirmation with a null name.
func (s *server) unsubscribeAll(c *client, k psKind, notify bool) {
	if c.ps.n(k) == 0 {
		if notify {
			c.confirm(psWords[k].unsub, nil, true, c.ps.count(k))
		}
		return
	}
	type named struct {
		name string
		seq  uint64
	}
	all := make([]named, 0, len(c.ps.subs[k]))
	for name, r := range c.ps.subs[k] {
		all = append(all, named{name, r.seq})
	}
	slices.SortFunc(all, func(a, b named) int { return cmp.Compare(a.seq, b.seq) })
	for _, n := range all {
		s.unsubscribe(c, k, []byte(n.name), notify)
	}
}

// pubsubDrop forgets every subscription of c, without confirmations
// (RESET, and a closed connection).
func (s *server) pubsubDrop(c *client) {
	if c.ps == nil {
		return
	}
	for k := range numKinds {
		s.unsubscribeAll(c, k, false)
	}
	c.ps.softSince = 0
}

func cmdSubscribe(s *server, c *client, args [][]byte) {
	for _, a := range args[1:] {
		s.subscribe(c, kindChannel, a)
	}
}

func cmdPsubscribe(s *server, c *client, args [][]byte) {
	for _, a := range args[1:] {
		s.subscribe(c, kindPattern, a)
	}
}

func cmdSsubscribe(s *server, c *client, args [][]byte) {
	for _, a := range args[1:] {
		s.subscribe(c, kindShard, a)
	}
}

func unsubscribeCmd(k psKind) func(s *server, c *client, args [][]byte) {
	return func(s *server, c *client, args [][]byte) {
		if len(args) == 1 {
			s.unsubscribeAll(c, k, true)
			return
		}
		for _, a := range args[1:] {
			s.unsubscribe(c, k, a, true)
		}
	}
}

func cmdPublish(s *server, c *client, args [][]byte) {
	c.int(int64(s.publish(c, kindChannel, args[1], args[2])))
}

func cmdSpublish(s *server, c *client, args [][]byte) {
	c.int(int64(s.publish(c, kindShard, args[1], args[2])))
}

// appendPush encodes a message push: [word, pattern (pmessage only),
// channel, message].
func appendPush(b []byte, word string, pat, ch, msg []byte) []byte {
	n := 3
	if pat != nil {
		n = 4
	}
	b = append(b, '*', byte('0'+n), '\r', '\n')
	b = resp2Bulk(b, []byte(word))
	if pat != nil {
		b = resp2Bulk(b, pat)
	}
	b = resp2Bulk(b, ch)
	return resp2Bulk(b, msg)
}

func resp2Bulk(b, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// pushSize is an upper bound of appendPush's output size.
func pushSize(pat, ch, msg []byte) int { return 64 + len(pat) + len(ch) + len(msg) }

// publish sends msg to the subscribers of channel ch (kind k: channels, or
// shard channels) and, for channels, to those of the matching patterns,
// and returns the number of deliveries. from is the publishing client.
func (s *server) publish(from *client, k psKind, ch, msg []byte) int {
	n := 0
	if l := s.ps.subs[k][string(ch)]; l != nil {
		enc := appendPush(make([]byte, 0, pushSize(nil, ch, msg)), psWords[k].msg, nil, ch, msg)
		for _, sc := range l.cs {
			s.deliver(from, sc, enc)
		}
		n += len(l.cs)
	}
	if k != kindChannel {
		return n
	}
	for _, l := range s.ps.patList {
		if !globMatch(l.nameB, ch) {
			continue
		}
		enc := appendPush(make([]byte, 0, pushSize(l.nameB, ch, msg)), "pmessage", l.nameB, ch, msg)
		for _, sc := range l.cs {
			s.deliver(from, sc, enc)
		}
		n += len(l.cs)
	}
	return n
}

// shareMin is the size from which a message is queued on subscribers'
// connections by reference (one buffer for all of them) rather than
// copied into each.
const shareMin = 4 << 10

// deliver queues the encoded message enc for subscriber sc. enc is never
// modified afterwards, so it may be shared by every subscriber.
func (s *server) deliver(from, sc *client, enc []byte) {
	switch {
	case sc == from:
		// The publisher itself (MULTI ... SUBSCRIBE ... PUBLISH ... EXEC):
		// in line with its replies, as Redis does.
		sc.out = append(sc.out, enc...)
		return
	case sc.conn == nil || sc.ps.dropped:
		return
	case len(sc.held) > 0:
		// Replies held for an fsync (appendfsync always) go first.
		h := &sc.held[len(sc.held)-1]
		h.data = append(h.data, enc...)
		sc.heldBytes += len(enc)
		return
	}
	s.stats.netOut += uint64(len(enc))
	if len(enc) >= shareMin {
		sc.conn.WriteRef(enc, nil)
	} else {
		sc.conn.Write(enc)
	}
	s.checkOutputLimit(sc, classPubsub)
}

// checkOutputLimit closes c at once if its queued output is over the hard
// limit of its class, or has stayed over the soft limit for longer than the
// soft limit's seconds (Redis's checkClientOutputBufferLimits: checked when
// output is added).
func (s *server) checkOutputLimit(c *client, class int) {
	if c.conn == nil || c.ps == nil {
		return
	}
	lim := s.cfg.OutputLimits.get()[class]
	used := uint64(c.conn.Buffered())
	hard := lim.hard != 0 && used >= lim.hard
	soft := false
	if lim.soft != 0 && used >= lim.soft {
		if c.ps.softSince == 0 {
			c.ps.softSince = max(s.now, 1)
		} else {
			soft = s.now-c.ps.softSince > int64(lim.seconds)*1000
		}
	} else {
		c.ps.softSince = 0
	}
	if hard || soft {
		c.ps.dropped = true
		c.closing = true
		c.conn.Abort()
	}
}

func cmdPubsub(s *server, c *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "help") && len(args) == 2:
		c.help([]string{
			"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"CHANNELS [<pattern>]",
			"    Return the currently active channels matching a <pattern> (default: '*').",
			"NUMPAT",
			"    Return number of subscriptions to patterns.",
			"NUMSUB [<channel> ...]",
			"    Return the number of subscribers for the specified channels, excluding",
			"    pattern subscriptions(default: no channels).",
			"SHARDCHANNELS [<pattern>]",
			"    Return the currently active shard level channels matching a <pattern> (default: '*').",
			"SHARDNUMSUB [<shardchannel> ...]",
			"    Return the number of subscribers for the specified shard level channel(s)",
			"HELP",
			"    Prints this help.",
		})
	case eqFold(sub, "channels") && len(args) <= 3:
		s.channelList(c, kindChannel, args[2:])
	case eqFold(sub, "shardchannels") && len(args) <= 3:
		s.channelList(c, kindShard, args[2:])
	case eqFold(sub, "numsub"):
		s.numsub(c, kindChannel, args[2:])
	case eqFold(sub, "shardnumsub"):
		s.numsub(c, kindShard, args[2:])
	case eqFold(sub, "numpat") && len(args) == 2:
		c.int(int64(len(s.ps.subs[kindPattern])))
	default:
		if len(sub) > 128 {
			sub = sub[:128]
		}
		c.errReply("ERR unknown subcommand or wrong number of arguments for '" + string(cstr(sub)) + "'. Try PUBSUB HELP.")
	}
}

// channelList answers PUBSUB CHANNELS / SHARDCHANNELS: the channels with
// subscribers matching the optional pattern, sorted.
func (s *server) channelList(c *client, k psKind, pat [][]byte) {
	names := make([]string, 0, len(s.ps.subs[k]))
	for name, l := range s.ps.subs[k] {
		if len(pat) == 0 || globMatch(pat[0], l.nameOrBytes()) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	c.array(len(names))
	for _, n := range names {
		c.bulkStr(n)
	}
}

func (l *subList) nameOrBytes() []byte {
	if l.nameB != nil {
		return l.nameB
	}
	return []byte(l.name)
}

func (s *server) numsub(c *client, k psKind, chans [][]byte) {
	c.array(2 * len(chans))
	for _, ch := range chans {
		c.bulk(ch)
		n := 0
		if l := s.ps.subs[k][string(ch)]; l != nil {
			n = len(l.cs)
		}
		c.int(int64(n))
	}
}

// pubsubInfo is INFO stats' pub/sub lines.
func (s *server) pubsubInfo() []string {
	return []string{
		"pubsub_channels:" + strconv.Itoa(len(s.ps.subs[kindChannel])),
		"pubsub_patterns:" + strconv.Itoa(len(s.ps.subs[kindPattern])),
		"pubsubshard_channels:" + strconv.Itoa(len(s.ps.subs[kindShard])),
	}
}

// pubsubCommands are the pub/sub entries of the command table.
var pubsubCommands = []*command{
	{name: "subscribe", arity: -2, flags: flagPubSub | flagNoScript | flagLoading | flagStale, group: "pubsub", since: "2.0.0", summary: "Listen for messages published to the given channels", fn: cmdSubscribe},
	{name: "unsubscribe", arity: -1, flags: flagPubSub | flagNoScript | flagLoading | flagStale, group: "pubsub", since: "2.0.0", summary: "Stop listening for messages posted to the given channels", fn: unsubscribeCmd(kindChannel)},
	{name: "psubscribe", arity: -2, flags: flagPubSub | flagNoScript | flagLoading | flagStale, group: "pubsub", since: "2.0.0", summary: "Listen for messages published to channels matching the given patterns", fn: cmdPsubscribe},
	{name: "punsubscribe", arity: -1, flags: flagPubSub | flagNoScript | flagLoading | flagStale, group: "pubsub", since: "2.0.0", summary: "Stop listening for messages posted to channels matching the given patterns", fn: unsubscribeCmd(kindPattern)},
	{name: "ssubscribe", arity: -2, flags: flagPubSub | flagNoScript | flagLoading | flagStale, first: 1, last: -1, step: 1, group: "pubsub", since: "7.0.0", summary: "Listen for messages published to the given shard channels", fn: cmdSsubscribe},
	{name: "sunsubscribe", arity: -1, flags: flagPubSub | flagNoScript | flagLoading | flagStale, first: 1, last: -1, step: 1, group: "pubsub", since: "7.0.0", summary: "Stop listening for messages posted to the given shard channels", fn: unsubscribeCmd(kindShard)},
	{name: "publish", arity: 3, flags: flagPubSub | flagLoading | flagStale | flagFast, group: "pubsub", since: "2.0.0", summary: "Post a message to a channel", fn: cmdPublish},
	{name: "spublish", arity: 3, flags: flagPubSub | flagLoading | flagStale | flagFast, first: 1, last: 1, step: 1, group: "pubsub", since: "7.0.0", summary: "Post a message to a shard channel", fn: cmdSpublish},
	{name: "pubsub", arity: -2, flags: flagPubSub | flagLoading | flagStale, group: "pubsub", since: "2.8.0", summary: "A container for Pub/Sub commands", fn: cmdPubsub,
		subs: map[string]int{"channels": -2, "numsub": -2, "numpat": 2, "shardchannels": -2, "shardnumsub": -2, "help": 2}},
}

// Output buffer limit classes (client-output-buffer-limit), Redis's order.
const (
	classNormal = iota
	classReplica
	classPubsub
	numClasses
)

var classNames = [numClasses]string{"normal", "slave", "pubsub"}

// obufLimit is one class's limit: hard and soft sizes in bytes (0: none)
// and the seconds the soft limit may be exceeded.
type obufLimit struct {
	hard, soft uint64
	seconds    int32
}

// obufLimits is client-output-buffer-limit; its zero value is Redis's
// default.
type obufLimits struct {
	custom bool
	l      [numClasses]obufLimit
}

var defaultObufLimits = [numClasses]obufLimit{
	classNormal:  {0, 0, 0},
	classReplica: {256 << 20, 64 << 20, 60},
	classPubsub:  {32 << 20, 8 << 20, 60},
}

func (o obufLimits) get() [numClasses]obufLimit {
	if !o.custom {
		return defaultObufLimits
	}
	return o.l
}

// String is the CONFIG GET form: "normal 0 0 0 slave 268435456 67108864
// 60 pubsub 33554432 8388608 60".
func (o obufLimits) String() string {
	var b []byte
	for i, l := range o.get() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, classNames[i]...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, l.hard, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, l.soft, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(l.seconds), 10)
	}
	return string(b)
}

// redisText is an error whose text is Redis's, capitals and full stop
// included.
type redisText string

func (e redisText) Error() string { return string(e) }

// Redis's errors for client-output-buffer-limit.
const (
	errObufArgs  = redisText("Wrong number of arguments in buffer limit configuration.")
	errObufClass = redisText("Invalid client class specified in buffer limit configuration.")
	errObufValue = redisText("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
)

// set parses "<class> <hard> <soft> <seconds> ..." as Redis 7.0 does and
// changes the classes named, all or nothing. The words are separated by
// single spaces (two spaces make an empty word); classes are normal,
// replica (or slave) and pubsub, in any case; sizes are digits with an
// optional unit (b, k, kb, m, mb, g, gb), an empty number being 0 and a
// number too large for 64 bits saturating; seconds are a decimal integer
// taken modulo 2^32 as a C int, which must not be negative.
func (o *obufLimits) set(v string) error {
	if v == "" {
		return nil
	}
	words := strings.Split(v, " ")
	if len(words)%4 != 0 {
		return errObufArgs
	}
	l := o.get()
	for j := 0; j < len(words); j += 4 {
		class := -1
		switch strings.ToLower(words[j]) {
		case "normal":
			class = classNormal
		case "slave", "replica":
			class = classReplica
		case "pubsub":
			class = classPubsub
		}
		if class < 0 {
			return errObufClass
		}
		hard, ok1 := memToUint(words[j+1])
		soft, ok2 := memToUint(words[j+2])
		secs, ok3 := cInt(words[j+3])
		if !ok1 || !ok2 || !ok3 || secs < 0 {
			return errObufValue
		}
		l[class] = obufLimit{hard, soft, secs}
	}
	o.custom, o.l = true, l
	return nil
}

// memToUint is Redis's memtoull: digits then an optional unit; no sign;
// the digits saturate at 2^64-1 and the product with the unit wraps.
func memToUint(s string) (uint64, bool) {
	if s != "" && s[0] == '-' {
		return 0, false
	}
	d := 0
	for d < len(s) && '0' <= s[d] && s[d] <= '9' {
		d++
	}
	var mul uint64
	switch strings.ToLower(s[d:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, false
	}
	if d >= 128 {
		return 0, false
	}
	var v uint64
	for _, ch := range s[:d] {
		x := uint64(ch - '0')
		if v > (^uint64(0)-x)/10 {
			v = ^uint64(0)
			break
		}
		v = v*10 + x
	}
	return v * mul, true
}

// cInt is C's (int)strtoll(s, &end, 10) with *end required to be the
// terminator: leading white space, an optional sign and digits (or nothing
// at all, which is 0), saturating at the 64-bit bounds, then truncated to
// 32 bits.
func cInt(s string) (int32, bool) {
	if s == "" {
		return 0, true // strtoll converts nothing and end is the terminator
	}
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" {
		return 0, false // nothing converted: end is at the start, not the terminator
	}
	var v uint64
	sat := false
	for i := 0; i < len(t); i++ {
		ch := t[i]
		if ch < '0' || ch > '9' {
			return 0, false
		}
		if sat {
			continue
		}
		if v > (^uint64(0)-9)/10 {
			sat = true
			continue
		}
		v = v*10 + uint64(ch-'0')
		if v > 1<<63 {
			sat = true
		}
	}
	var x int64
	switch {
	case sat && neg:
		x = -1 << 63
	case sat || (!neg && v == 1<<63):
		x = 1<<63 - 1
	case neg:
		x = -int64(v)
	default:
		x = int64(v)
	}
	return int32(x), true
}

func init() { registerCommands(pubsubCommands...) }
