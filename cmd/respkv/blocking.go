package main

import (
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/calloop-go/calloop"
)

// Blocking commands (BLPOP, BLMOVE, BZPOPMIN...), as Redis 7.0 runs them.
//
// A command that finds nothing to serve calls s.blockClient with its keys,
// a deadline and a serve callback, and replies nothing. The client's
// further input waits (feed stops at a blocked client). A write that may
// serve a waiting client (a push, ZADD, a key renamed, moved, copied or
// swapped in) calls s.signalKeyAsReady; after the command that did it (for
// EXEC, after the whole transaction), handleBlocked walks the keys signalled,
// in order, and offers each key to its waiting clients in the order they
// blocked (first blocked, first served), calling serve(key) for each while
// the key exists. serve does the pop and writes the reply, or returns false
// (the key holds another type, or an unrelated condition): the client then
// stays blocked. A served client is unblocked from all its keys, its reply
// sent and its pending input run.
//
// Inside MULTI/EXEC and while the AOF loads, blocking commands do not
// block: s.mayBlock is false and they answer as on a timeout. A client
// that disconnects is removed; CLIENT UNBLOCK answers the timeout reply or
// -UNBLOCKED. Deadlines are loop timers.

// blockState is what a blocked client waits for.
type blockState struct {
	dbi      int
	keys     []string
	deadline int64 // unix ms; 0: forever
	timer    calloop.Token
	hasTimer bool
	// serve tries to serve c from key (in database dbi, which exists):
	// it writes c's reply, propagates and records the change, and reports
	// whether c was served.
	serve func(s *server, c *client, key []byte) bool
	// timeout writes the reply for a timeout; nil: a null array.
	timeout func(c *client)
}

type readyKey struct {
	dbi int
	key string
}

// blockingState is the server's table of blocked clients.
type blockingState struct {
	byKey    [numDBs]map[string][]*client // waiting clients of each key, in the order they blocked
	n        int                          // blocked clients
	ready    []readyKey                   // keys signalled since the last handleBlocked
	readySet map[readyKey]struct{}
}

// mayBlock reports whether a blocking command may block c now: not inside
// a transaction, not while loading the AOF.
func (s *server) mayBlock(c *client) bool {
	return s.execDepth == 0 && !s.loading && !c.multi
}

// blockClient blocks c on keys of its database until one is served, the
// deadline (unix ms, 0: none) passes, CLIENT UNBLOCK, or a disconnect.
func (s *server) blockClient(c *client, keys [][]byte, deadline int64, serve func(s *server, c *client, key []byte) bool, timeout func(c *client)) {
	st := &blockState{dbi: c.db, deadline: deadline, serve: serve, timeout: timeout}
	bl := &s.bl
	// Repeated keys count once. A client names as many keys as it likes:
	// past a few, a set keeps this linear (a scan per key was quadratic,
	// seconds of a stalled loop for one command of 60,000 keys).
	var seen map[string]struct{}
	if len(keys) > 8 {
		seen = make(map[string]struct{}, len(keys))
	}
	for _, k := range keys {
		ks := string(k)
		if seen != nil {
			if _, dup := seen[ks]; dup {
				continue
			}
			seen[ks] = struct{}{}
		} else if slices.Contains(st.keys, ks) {
			continue
		}
		st.keys = append(st.keys, ks)
		if bl.byKey[c.db] == nil {
			bl.byKey[c.db] = make(map[string][]*client)
		}
		bl.byKey[c.db][ks] = append(bl.byKey[c.db][ks], c)
	}
	c.block = st
	bl.n++
	if deadline > 0 && s.loop != nil {
		tok, err := s.loop.AddTimerAt(time.UnixMilli(deadline), func(s *server, _ time.Time) calloop.TimerAction {
			if c.block == st {
				st.hasTimer = false
				s.unblockTimeout(c)
			}
			return calloop.Drop()
		})
		if err == nil {
			st.timer, st.hasTimer = tok, true
		}
	}
}

// unblock removes c from the tables and cancels its timer; it writes no
// reply.
func (s *server) unblock(c *client) {
	st := c.block
	if st == nil {
		return
	}
	c.block = nil
	s.bl.n--
	m := s.bl.byKey[st.dbi]
	for _, k := range st.keys {
		cs := m[k]
		for j, x := range cs {
			if x == c {
				cs = append(cs[:j], cs[j+1:]...)
				break
			}
		}
		if len(cs) == 0 {
			delete(m, k)
		} else {
			m[k] = cs
		}
	}
	if st.hasTimer && s.loop != nil {
		s.loop.Remove(st.timer)
	}
}

// unblockTimeout unblocks c with its timeout reply.
func (s *server) unblockTimeout(c *client) {
	st := c.block
	s.unblock(c)
	if st.timeout != nil {
		st.timeout(c)
	} else {
		c.out = append(c.out, "*-1\r\n"...)
	}
	s.resumeClient(c)
}

// resumeClient sends the reply of a client just unblocked and has its
// pending input run.
func (s *server) resumeClient(c *client) {
	if c.conn == nil {
		return
	}
	s.flushClient(c)
	if o, ok := c.conn.(interface{ OfferAgain() }); ok {
		o.OfferAgain()
	}
}

// signalKeyAsReady records that key in db dbi may now serve a blocked
// client. Cheap when nobody is blocked; call it from every write that may
// (pushes, ZADD, the target of RENAME, MOVE, COPY, SWAPDB...).
func (s *server) signalKeyAsReady(dbi int, key []byte) {
	bl := &s.bl
	if bl.n == 0 {
		return
	}
	if _, ok := bl.byKey[dbi][string(key)]; !ok {
		return
	}
	rk := readyKey{dbi, string(key)}
	if bl.readySet == nil {
		bl.readySet = make(map[readyKey]struct{})
	}
	if _, ok := bl.readySet[rk]; ok {
		return
	}
	bl.readySet[rk] = struct{}{}
	bl.ready = append(bl.ready, rk)
}

// signalDBAsReady signals every key of db dbi that clients wait for and
// that exists (SWAPDB, Redis's scanDatabaseForReadyKeys).
func (s *server) signalDBAsReady(dbi int) {
	if s.bl.n == 0 {
		return
	}
	for k := range s.bl.byKey[dbi] {
		if s.dbs[dbi].find([]byte(k)) >= 0 {
			s.signalKeyAsReady(dbi, []byte(k))
		}
	}
}

// handleBlocked serves the clients waiting for the keys signalled, as
// Redis's handleClientsBlockedOnKeys: key by key in the order signalled
// (serving may signal more keys: they are handled in the next round), and
// for each key the clients that were waiting when its turn came, first
// blocked first served, while the key exists.
func (s *server) handleBlocked() {
	bl := &s.bl
	for len(bl.ready) > 0 {
		ready := bl.ready
		bl.ready = nil
		clear(bl.readySet)
		for _, rk := range ready {
			waiting := append([]*client(nil), bl.byKey[rk.dbi][rk.key]...)
			key := []byte(rk.key)
			for _, c := range waiting {
				if c.block == nil {
					continue // served through another key meanwhile
				}
				i := s.lookupKey(rk.dbi, key)
				if i < 0 {
					break
				}
				st := c.block
				if st.serve(s, c, key) {
					if c.block == st {
						s.unblock(c)
					}
					s.resumeClient(c)
				}
			}
		}
	}
}

// blockedClients is INFO's blocked_clients.
func (s *server) blockedClients() int { return s.bl.n }

// parseTimeout parses a blocking command's timeout in seconds as Redis 7.0
// does (getTimeoutFromObjectOrReply): a long double (strtold's syntax, no
// spaces, no NaN) times 1000, rounded up to a millisecond; a negative
// result, or one beyond the int64 range (where C's conversion gives
// LLONG_MIN: "inf", "1e16"), is "timeout is negative". It returns the
// deadline in unix ms, 0 for none (a timeout of 0, or a deadline past the
// int64 range, which Redis never reaches either).
func (s *server) parseTimeout(c *client, b []byte) (int64, bool) {
	x, inf, ok := longDouble(b)
	if !ok {
		c.errReply("ERR timeout is not a float or out of range")
		return 0, false
	}
	if inf {
		c.errReply("ERR timeout is negative")
		return 0, false
	}
	ms := new(big.Float).SetPrec(64).Mul(x, big.NewFloat(1000))
	if ms.Sign() < 0 {
		if ms.Cmp(big.NewFloat(-1)) <= 0 {
			c.errReply("ERR timeout is negative")
			return 0, false
		}
		return 0, true // ceil of (-1, 0) is 0
	}
	if ms.Cmp(new(big.Float).SetInt64(math.MaxInt64)) > 0 {
		c.errReply("ERR timeout is negative")
		return 0, false
	}
	t, acc := ms.Int64()
	if acc == big.Below { // truncated toward zero: round up
		t++
	}
	if t == 0 {
		return 0, true
	}
	if t > math.MaxInt64-s.now {
		return 0, true // past the int64 range: never
	}
	return s.now + t, true
}

// unblockByID is CLIENT UNBLOCK: the client with that id, if blocked in a
// command, gets its timeout reply or, with withError, -UNBLOCKED.
func (s *server) unblockByID(id uint64, withError bool) bool {
	c := s.clients[id]
	if c == nil || c.block == nil {
		return false
	}
	if withError {
		s.unblock(c)
		c.errReply("UNBLOCKED client unblocked via CLIENT UNBLOCK")
		s.resumeClient(c)
	} else {
		s.unblockTimeout(c)
	}
	return true
}
