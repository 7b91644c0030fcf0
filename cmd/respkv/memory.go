package main

import (
	"strconv"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// Large values are neither copied on the way in nor on the way out:
//
//   - In: when a request is incomplete because of a large bulk argument,
//     the connection is asked to receive the whole request into one buffer
//     of its exact size (stream's ReserveInput), instead of a buffer grown
//     and copied step by step. When it is complete, respkv takes that buffer
//     over (TakeInput) before running the command, and the SET family keeps
//     the value as a slice of it (mayKeep) instead of copying it.
//   - Out: a reply that is a large stored value is queued by reference
//     (stream's WriteRef): the reply buffer holds the header, the value is
//     written from the keyspace. The entry is flagged shared so that a
//     command changing it in place copies it first (db.own), as for an AOF
//     rewrite's snapshot.

// refMin is the size from which a value in a reply is sent by reference.
const refMin = 64 << 10

// keepMin is the size from which an incoming value is received into a
// buffer of its own and kept without a copy.
const keepMin = 1 << 20

// outRef is a value to send by reference after c.out[:at].
type outRef struct {
	at  int
	val []byte
}

// bulkEntry replies with the value of e as a bulk string; a large one is
// queued by reference.
func (c *client) bulkEntry(e *entry) {
	if len(e.val) >= refMin && c.conn != nil {
		c.bulkRef(e)
		return
	}
	c.out = resp.AppendBulk(c.out, e.val)
}

// bulkRef is bulkEntry for a large value: by reference.
func (c *client) bulkRef(e *entry) {
	e.shared = true
	c.out = append(c.out, '$')
	c.out = strconv.AppendInt(c.out, int64(len(e.val)), 10)
	c.out = append(c.out, "\r\n"...)
	c.refs = append(c.refs, outRef{len(c.out), e.val})
	c.refBytes += len(e.val)
	c.out = append(c.out, "\r\n"...)
}

// outLen is the size of the replies gathered for c.
func (c *client) outLen() int { return len(c.out) + c.refBytes }

// writeOut writes c's gathered replies, the large values by reference.
func (c *client) writeOut() {
	if len(c.refs) == 0 {
		c.conn.Write(c.out)
		return
	}
	pos := 0
	for _, r := range c.refs {
		if r.at > pos {
			c.conn.Write(c.out[pos:r.at])
		}
		c.conn.WriteRef(r.val, nil)
		pos = r.at
	}
	if pos < len(c.out) {
		c.conn.Write(c.out[pos:])
	}
	c.dropRefs()
}

// flatOut returns a copy of c's gathered replies with the values inlined
// (for replies held until an fsync) and resets them.
func (c *client) flatOut() []byte {
	data := make([]byte, 0, c.outLen())
	pos := 0
	for _, r := range c.refs {
		data = append(data, c.out[pos:r.at]...)
		data = append(data, r.val...)
		pos = r.at
	}
	data = append(data, c.out[pos:]...)
	c.dropRefs()
	return data
}

func (c *client) dropRefs() {
	clear(c.refs)
	c.refs = c.refs[:0]
	c.refBytes = 0
}

// inputTaker is what a connection offers for keeping input (a
// *stream.Conn).
type inputTaker interface {
	TakeInput() []byte
	ReserveInput(n int)
}

// takeInput is called before a command runs: if it has a large argument,
// the connection's input buffer is taken over, so that the command may
// keep the argument (mayKeep). s.gift is reset after the command.
func (s *server) takeInput(c *client, args [][]byte) {
	t, ok := c.conn.(inputTaker)
	if !ok {
		return
	}
	for _, a := range args[1:] {
		if len(a) >= keepMin {
			s.gift = t.TakeInput()
			if s.aof != nil {
				s.aof.gift = s.gift
			}
			return
		}
	}
}

// mayKeep reports whether val, an argument of the running command, lies in
// an input buffer taken over from the connection and is large enough to be
// kept as it is.
func (s *server) mayKeep(val []byte) bool {
	return len(val) >= keepMin && inBuffer(s.gift, val)
}

// addVal is db.add that keeps a large argument instead of copying it.
func (s *server) addVal(d *db, key, val []byte) int {
	if !s.mayKeep(val) {
		return d.add(key, val)
	}
	i := d.addOwned(string(key), val[:len(val):len(val)], typeString)
	d.ents[i].enc = encodingOf(val)
	d.ents[i].shared = true // the AOF writer may be reading it
	return i
}

// setValKeep is db.setVal that keeps a large argument instead of copying it.
func (s *server) setValKeep(d *db, i int, val []byte) {
	if !s.mayKeep(val) {
		d.setVal(i, val)
		return
	}
	e := &d.ents[i]
	e.val = val[:len(val):len(val)]
	e.enc = encodingOf(val)
	e.shared = true // the AOF writer may be reading it
}

// reserveInput is called when a request is incomplete: if a large bulk
// argument is on its way, the connection is asked to receive the whole
// request (as far as its lengths are known, with some room for small
// arguments after it) into one buffer. As Redis does, this is done only for
// an authenticated client (or when no password is required): a stranger
// cannot make the server allocate a large buffer with a short header; its
// input grows with what it sends.
func (s *server) reserveInput(c *client, rest []byte) {
	t, ok := c.conn.(inputTaker)
	if !ok || !c.authenticated && s.authRequired() {
		return
	}
	if need := pendingNeed(rest, s.cfg.MaxReq); need > 0 {
		t.ReserveInput(need + min(64<<10, need/64))
	}
}

// pendingNeed returns the size of the incomplete multibulk request at the
// start of b up to the end of its first bulk argument not yet received, if
// that argument is at least keepMin long; else 0.
func pendingNeed(b []byte, maxBulk int64) int {
	if len(b) == 0 || b[0] != '*' {
		return 0
	}
	line, next, ok := crlfLine(b, 1)
	if !ok {
		return 0
	}
	count, ok := resp.ParseInt(line)
	if !ok || count <= 0 {
		return 0
	}
	pos := next
	for range count {
		if pos >= len(b) || b[pos] != '$' {
			return 0
		}
		line, next, ok := crlfLine(b, pos+1)
		if !ok {
			return 0
		}
		size, ok := resp.ParseInt(line)
		if !ok || size < 0 || size > maxBulk {
			return 0
		}
		end := int64(next) + size + 2
		if end > int64(len(b)) {
			if size < keepMin {
				return 0
			}
			return int(end)
		}
		pos = int(end)
	}
	return 0
}

// crlfLine returns the line of b starting at start, up to "\r\n", and the
// position after it.
func crlfLine(b []byte, start int) ([]byte, int, bool) {
	for i := start; i+1 < len(b) && i < start+32; i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return b[start:i], i + 2, true
		}
	}
	return nil, 0, false
}
