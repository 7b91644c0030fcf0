package main

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// parseMemory parses a size as Redis's config does: a number of bytes,
// optionally with a unit: k, m, g (powers of 1000) or kb, mb, gb (powers of
// 1024), in any case. Negative sizes and overflow are errors.
func parseMemory(v string) (int64, error) {
	s := strings.ToLower(v)
	mul := int64(1)
	for _, u := range []struct {
		suf string
		mul int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mul = s[:len(s)-len(u.suf)], u.mul
			break
		}
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("argument must be a memory value")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, errors.New("argument must be a memory value")
	}
	return n * mul, nil
}

// Eviction policies (maxmemory-policy).
const (
	policyNoEviction = iota
	policyAllkeysLRU
	policyAllkeysRandom
	policyVolatileLRU
	policyVolatileRandom
	policyVolatileTTL
)

var policyNames = []string{"noeviction", "allkeys-lru", "allkeys-random", "volatile-lru", "volatile-random", "volatile-ttl"}

// parsePolicy parses a maxmemory-policy. The LFU policies are refused:
// respkv keeps no access frequency.
func parsePolicy(v string) (int, error) {
	if v == "" {
		return policyNoEviction, nil
	}
	for i, n := range policyNames {
		if strings.EqualFold(v, n) {
			return i, nil
		}
	}
	if strings.EqualFold(v, "allkeys-lfu") || strings.EqualFold(v, "volatile-lfu") {
		return 0, errors.New("the LFU policies are not supported (respkv keeps no access frequency)")
	}
	return 0, errors.New("argument(s) must be one of the following: volatile-lru, volatile-random, volatile-ttl, allkeys-lru, allkeys-random, noeviction")
}

// errOOM is Redis's refusal of a command that may grow memory while the
// used memory is above maxmemory.
const errOOM = "OOM command not allowed when used memory > 'maxmemory'."

// entryOverhead is what a key costs beyond its name and value: its entry in
// the dense slice, its slot in the index map, the headers of its
// allocations.
const entryOverhead = 112

// memState is the maxmemory bookkeeping. When maxmemory is 0 nothing is
// counted (no cost on the hot path); setting it counts every key once.
type memState struct {
	on      bool
	policy  int
	evicted uint64
	pool    []evictCand // Redis's eviction pool: the best candidates seen
	// limitSet: the Go runtime's memory limit was set from maxmemory
	limitSet bool
}

// evictCand is a candidate for eviction: higher score goes first.
type evictCand struct {
	dbi   int
	key   string
	score uint64
}

// entrySize is the bytes a key is counted for.
func entrySize(e *entry) uint32 {
	var v uint64
	if e.typ == typeString {
		v = uint64(cap(e.val))
	} else {
		v = uint64(max(e.object().size(), 0))
	}
	n := uint64(len(e.key)) + v + entryOverhead
	return uint32(min(n, math.MaxUint32))
}

// lruClock is the access clock stored in entries: milliseconds, wrapping
// every 49 days (an entry idle longer looks younger than it is).
func (s *server) lruClock() uint32 { return uint32(s.now) }

// account updates the count of the key at position i of db dbi.
func (d *db) account(i int) {
	e := &d.ents[i]
	n := entrySize(e)
	d.used += int64(n) - int64(e.acct)
	e.acct = n
}

// accountKey is called for every modified key while maxmemory is set.
func (s *server) accountKey(dbi int, key []byte) {
	d := s.dbs[dbi]
	if i := d.find(key); i >= 0 {
		d.account(i)
		d.ents[i].lru = s.lruClock()
	}
}

// usedMemory is the counted size of the keyspace.
func (s *server) usedMemory() int64 {
	var n int64
	for _, d := range s.dbs {
		n += d.used
	}
	return n
}

// setMaxMemory applies maxmemory and maxmemory-policy: the keyspace is
// counted (once, when counting starts) and the Go runtime's memory limit
// set to maxmemory and a half plus 32 MiB (no limit for 0), so that the
// garbage collector works harder rather than let the process grow far
// beyond it.
func (s *server) setMaxMemory(limit int64, policy string) error {
	if limit < 0 {
		return errors.New("argument must be a memory value")
	}
	p, err := parsePolicy(policy)
	if err != nil {
		return err
	}
	s.cfg.MaxMemory = limit
	s.cfg.MaxMemoryPolicy = policyNames[p]
	s.mm.policy = p
	s.mm.pool = s.mm.pool[:0]
	if limit > 0 && !s.mm.on {
		s.mm.on = true
		for _, d := range s.dbs {
			d.used = 0
			for i := range d.ents {
				d.ents[i].acct = 0
				d.account(i)
			}
		}
	}
	s.mm.on = limit > 0
	// The runtime's limit is the process's: left alone (GOMEMLIMIT) until
	// maxmemory is set.
	if limit > 0 {
		debug.SetMemoryLimit(goMemoryLimit(limit))
		s.mm.limitSet = true
	} else if s.mm.limitSet {
		debug.SetMemoryLimit(math.MaxInt64)
		s.mm.limitSet = false
	}
	return nil
}

func goMemoryLimit(maxmemory int64) int64 {
	if maxmemory > (math.MaxInt64-32<<20)/3*2 {
		return math.MaxInt64
	}
	return maxmemory + maxmemory/2 + 32<<20
}

// applyMaxMemory makes CONFIG SET maxmemory / maxmemory-policy take effect.
func applyMaxMemory(s *server) { s.setMaxMemory(s.cfg.MaxMemory, s.cfg.MaxMemoryPolicy) }

// oomRefuses runs evictions (Redis's performEvictions before a command)
// and refuses the command with OOM if the memory is still above maxmemory
// and the command may grow it (deny-oom), or is queued in a transaction,
// or is an EXEC of a transaction holding one.
func (s *server) oomRefuses(c *client, cmd *command) bool {
	if !s.mm.on || s.loading || s.freeMemory() {
		return false
	}
	deny := cmd.flags&flagDenyOOM != 0
	switch cmd.name {
	case "exec":
		for _, q := range c.queue {
			if q.cmd.flags&flagDenyOOM != 0 {
				deny = true
			}
		}
	case "discard", "quit", "reset":
	default:
		if c.multi {
			deny = true
		}
	}
	if !deny {
		return false
	}
	s.reject(c, cmd, errOOM)
	return true
}

// freeMemory evicts keys per the policy until the counted memory is within
// maxmemory. It reports false if it is still above and nothing more can be
// evicted (or the policy is noeviction). It gives up for now after 5ms
// (reporting true: the next command continues), so that lowering
// maxmemory far below the data does not stall the loop.
func (s *server) freeMemory() bool {
	limit := s.cfg.MaxMemory
	if s.usedMemory() <= limit {
		return true
	}
	if s.mm.policy == policyNoEviction {
		return false
	}
	start := time.Now()
	defer func() { s.latencySample("eviction-cycle", time.Since(start)) }()
	for n := 1; s.usedMemory() > limit; n++ {
		dbi, i := s.pickVictim()
		if dbi < 0 {
			return false
		}
		s.evictKey(dbi, i)
		if n%16 == 0 && time.Since(start) > 5*time.Millisecond {
			return true
		}
	}
	return true
}

// evictKey deletes a key chosen by the policy, as Redis does: counted,
// propagated to the AOF as DEL, watchers told.
func (s *server) evictKey(dbi, i int) {
	d := s.dbs[dbi]
	key := d.ents[i].key
	d.remove(i)
	s.mm.evicted++
	s.dirty++
	s.touch(dbi, key)
	if s.aof != nil && !s.loading {
		saved := s.propCustom
		s.aof.append(dbi, []byte("DEL"), []byte(key))
		s.propCustom = saved
	}
}

const evictSamples = 5 // Redis's maxmemory-samples
const evictPoolSize = 16

// pickVictim returns the position of the key to evict, or -1.
func (s *server) pickVictim() (int, int) {
	volatile := s.mm.policy == policyVolatileLRU || s.mm.policy == policyVolatileRandom || s.mm.policy == policyVolatileTTL
	switch s.mm.policy {
	case policyAllkeysRandom, policyVolatileRandom:
		first := rand.IntN(numDBs)
		for k := range numDBs {
			dbi := (first + k) % numDBs
			d := s.dbs[dbi]
			if volatile && len(d.vol) > 0 {
				return dbi, int(d.vol[rand.IntN(len(d.vol))])
			}
			if !volatile && len(d.ents) > 0 {
				return dbi, rand.IntN(len(d.ents))
			}
		}
		return -1, -1
	}
	// LRU and TTL: sample every database into the pool of the best
	// candidates seen so far, then take the best that still exists.
	now := s.lruClock()
	for dbi, d := range s.dbs {
		n := len(d.ents)
		if volatile {
			n = len(d.vol)
		}
		for k := 0; k < min(evictSamples, n); k++ {
			j := rand.IntN(n)
			if volatile {
				j = int(d.vol[j])
			}
			e := &d.ents[j]
			s.poolInsert(evictCand{dbi, e.key, s.evictScore(e, now)})
		}
	}
	for len(s.mm.pool) > 0 {
		best := s.mm.pool[len(s.mm.pool)-1]
		s.mm.pool = s.mm.pool[:len(s.mm.pool)-1]
		d := s.dbs[best.dbi]
		j := d.find([]byte(best.key))
		if j < 0 || volatile && d.ents[j].exp == 0 || s.evictScore(&d.ents[j], now) < best.score {
			continue // gone, no longer volatile, or touched since it was sampled
		}
		return best.dbi, j
	}
	return -1, -1
}

// evictScore ranks an entry for eviction: the longest idle first (LRU),
// the nearest expiry first (TTL).
func (s *server) evictScore(e *entry, now uint32) uint64 {
	if s.mm.policy == policyVolatileTTL {
		return math.MaxUint64 - uint64(e.exp)
	}
	return uint64(now - e.lru)
}

// poolInsert keeps the pool sorted by score, ascending, at most
// evictPoolSize long, one entry per key.
func (s *server) poolInsert(c evictCand) {
	p := s.mm.pool
	for _, x := range p {
		if x.dbi == c.dbi && x.key == c.key {
			return
		}
	}
	if len(p) == evictPoolSize {
		if c.score <= p[0].score {
			return
		}
		p = p[1:]
	}
	at := len(p)
	for at > 0 && p[at-1].score > c.score {
		at--
	}
	p = append(p, evictCand{})
	copy(p[at+1:], p[at:])
	p[at] = c
	if cap(s.mm.pool) > 4*evictPoolSize {
		p = append([]evictCand(nil), p...)
	}
	s.mm.pool = p
}
