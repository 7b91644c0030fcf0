package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// TestDifferentialTypes compares respkv with a real redis-server on seeded
// random sequences mixing lists, hashes, sets and sorted sets with the key
// commands (DEL, TYPE, RENAME, COPY, EXPIRE/PERSIST/TTL, OBJECT ENCODING,
// SCAN TYPE) over a small key space, reply by reply. Replies Redis leaves
// unordered are sorted; random picks are compared by their size only.
// RESPKV_ATTACK_DURATION (a Go duration) runs it longer than the suite's
// default; RESPKV_ATTACK_SEED picks another seed.
func TestDifferentialTypes(t *testing.T) {
	dur := 5 * time.Second
	if s := os.Getenv("RESPKV_ATTACK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	seed := uint64(20261206)
	if s := os.Getenv("RESPKV_ATTACK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	raddr := startRedis(t)
	kaddr := startServer(t, Config{MaxReq: diffMaxBulk})
	g := &typeGen{r: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	deadline := time.Now().Add(dur)
	sequences, commands, diffs := 0, 0, 0
	for time.Now().Before(deadline) && diffs < 10 {
		sequences++
		d := dialPair(t, raddr, kaddr)
		d.roundTrip(resp.AppendCommand(nil, []byte("FLUSHALL")), 1)
		var history []string
		for i := 0; i < 60 && diffs < 10; i++ {
			cmd := g.command()
			args := make([][]byte, len(cmd))
			for j, a := range cmd {
				args[j] = []byte(a)
			}
			rs, ks := d.roundTrip(resp.AppendCommand(nil, args...), 1)
			commands++
			a, b := typeCanon(cmd, rs[0]), typeCanon(cmd, ks[0])
			history = append(history, fmt.Sprintf("%s -> %.100s", quoteCmd(cmd), rs[0]))
			if a.String() != b.String() {
				diffs++
				t.Errorf("seed %d sequence %d: %s\n  redis:  %.300s\n  respkv: %.300s\n  sequence:\n    %s",
					seed, sequences, quoteCmd(cmd), rs[0], ks[0], strings.Join(history, "\n    "))
			}
			if rs[0].leaf == "(closed)" || ks[0].leaf == "(closed)" {
				break
			}
		}
		d.close()
	}
	t.Logf("seed %d: %d sequences, %d commands, %d differences", seed, sequences, commands, diffs)
}

// typeGen produces commands over four keys and all the collection types.
type typeGen struct{ r *rand.Rand }

var (
	atkKeys  = []string{"a", "b", "c", "d"}
	atkElems = []string{"1", "2", "3", "-1", "x", "y", "z", "10", "1.5", "", strings.Repeat("e", 70)}
	atkNums  = []string{"0", "1", "-1", "2", "-2", "3", "5", "-5", "100", "9223372036854775807", "-9223372036854775808", "x", "1.5"}
	atkScore = []string{"0", "1", "-1", "2.5", "inf", "-inf", "+inf", "1e308", "nan", "x", "(1", "(2.5", "-0"}
)

func (g *typeGen) pick(l []string) string { return l[g.r.IntN(len(l))] }
func (g *typeGen) key() string            { return g.pick(atkKeys) }
func (g *typeGen) elem() string           { return g.pick(atkElems) }
func (g *typeGen) num() string {
	if g.r.IntN(3) > 0 {
		return strconv.Itoa(g.r.IntN(9) - 4)
	}
	return g.pick(atkNums)
}
func (g *typeGen) elems(c []string, n int) []string {
	for range 1 + g.r.IntN(n) {
		c = append(c, g.elem())
	}
	return c
}
func (g *typeGen) keys(c []string) []string {
	for range 1 + g.r.IntN(3) {
		c = append(c, g.key())
	}
	return c
}

func (g *typeGen) command() []string {
	k := g.key()
	switch g.r.IntN(62) {
	// lists
	case 0, 1:
		return g.elems([]string{g.pick([]string{"LPUSH", "RPUSH", "LPUSHX", "RPUSHX"}), k}, 5)
	case 2:
		return []string{g.pick([]string{"LPOP", "RPOP"}), k, g.num()}
	case 3:
		return []string{"LRANGE", k, g.num(), g.num()}
	case 4:
		return []string{"LINDEX", k, g.num()}
	case 5:
		return []string{"LSET", k, g.num(), g.elem()}
	case 6:
		return []string{"LINSERT", k, g.pick([]string{"BEFORE", "AFTER"}), g.elem(), g.elem()}
	case 7:
		return []string{"LREM", k, g.num(), g.elem()}
	case 8:
		return []string{"LTRIM", k, g.num(), g.num()}
	case 9:
		c := []string{"LPOS", k, g.elem()}
		if g.r.IntN(2) == 0 {
			c = append(c, "RANK", g.num())
		}
		if g.r.IntN(2) == 0 {
			c = append(c, "COUNT", g.num())
		}
		if g.r.IntN(2) == 0 {
			c = append(c, "MAXLEN", g.num())
		}
		return c
	case 10:
		return []string{"LMOVE", k, g.key(), g.pick([]string{"LEFT", "RIGHT"}), g.pick([]string{"LEFT", "RIGHT"})}
	case 11:
		c := g.keys([]string{"LMPOP", ""})
		c[1] = strconv.Itoa(len(c) - 2)
		c = append(c, g.pick([]string{"LEFT", "RIGHT"}))
		if g.r.IntN(2) == 0 {
			c = append(c, "COUNT", g.num())
		}
		return c
	case 12:
		return []string{"LLEN", k}
	// hashes
	case 13, 14:
		c := []string{g.pick([]string{"HSET", "HMSET"}), k}
		for range 1 + g.r.IntN(3) {
			c = append(c, g.elem(), g.elem())
		}
		return c
	case 15:
		return g.elems([]string{"HDEL", k}, 3)
	case 16:
		return []string{g.pick([]string{"HGET", "HEXISTS", "HSTRLEN"}), k, g.elem()}
	case 17:
		return []string{g.pick([]string{"HLEN", "HKEYS", "HVALS", "HGETALL"}), k}
	case 18:
		return []string{"HINCRBY", k, g.elem(), g.num()}
	case 19:
		return []string{"HINCRBYFLOAT", k, g.elem(), g.pick(atkScore)}
	case 20:
		return []string{"HSETNX", k, g.elem(), g.elem()}
	case 21:
		return g.elems([]string{"HMGET", k}, 3)
	case 22:
		c := []string{"HRANDFIELD", k}
		if g.r.IntN(2) == 0 {
			c = append(c, g.num())
			if g.r.IntN(2) == 0 {
				c = append(c, "WITHVALUES")
			}
		}
		return c
	// sets
	case 23, 24:
		return g.elems([]string{"SADD", k}, 5)
	case 25:
		return g.elems([]string{"SREM", k}, 3)
	case 26:
		return []string{g.pick([]string{"SCARD", "SMEMBERS"}), k}
	case 27:
		return []string{"SISMEMBER", k, g.elem()}
	case 28:
		return g.elems([]string{"SMISMEMBER", k}, 3)
	case 29:
		return g.keys([]string{g.pick([]string{"SINTER", "SUNION", "SDIFF"}), k})
	case 30:
		return g.keys([]string{g.pick([]string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}), k})
	case 31:
		c := g.keys([]string{"SINTERCARD", ""})
		c[1] = strconv.Itoa(len(c) - 2)
		if g.r.IntN(2) == 0 {
			c = append(c, "LIMIT", g.num())
		}
		return c
	case 32:
		return []string{"SMOVE", k, g.key(), g.elem()}
	case 33:
		return []string{"SRANDMEMBER", k, g.num()}
	case 34:
		// every member: the result does not depend on the pick
		return []string{"SPOP", k, "100"}
	// sorted sets
	case 35, 36:
		c := []string{"ZADD", k}
		for _, o := range []string{"NX", "XX", "GT", "LT", "CH", "INCR"} {
			if g.r.IntN(6) == 0 {
				c = append(c, o)
			}
		}
		for range 1 + g.r.IntN(3) {
			c = append(c, g.pick(atkScore), g.elem())
		}
		return c
	case 37:
		return []string{"ZINCRBY", k, g.pick(atkScore), g.elem()}
	case 38:
		return g.elems([]string{"ZREM", k}, 3)
	case 39:
		return []string{g.pick([]string{"ZSCORE", "ZRANK", "ZREVRANK"}), k, g.elem()}
	case 40:
		c := []string{"ZRANGE", k, g.num(), g.num()}
		if g.r.IntN(2) == 0 {
			c = append(c, "REV")
		}
		if g.r.IntN(2) == 0 {
			c = append(c, "WITHSCORES")
		}
		return c
	case 41:
		c := []string{"ZRANGE", k, g.pick(atkScore), g.pick(atkScore), "BYSCORE"}
		if g.r.IntN(2) == 0 {
			c = append(c, "REV")
		}
		if g.r.IntN(2) == 0 {
			c = append(c, "LIMIT", g.num(), g.num())
		}
		return c
	case 42:
		lex := []string{"-", "+", "[1", "(1", "[x", "(z", "[", "x"}
		// Lex ranges are defined only when every score is equal (Redis
		// leaves the rest unspecified): they use their own key, whose
		// members all score 0.
		if g.r.IntN(3) == 0 {
			return g.elems([]string{"ZADD", "lex", "0"}, 1)
		}
		c := []string{g.pick([]string{"ZRANGEBYLEX", "ZLEXCOUNT", "ZREMRANGEBYLEX"}), "lex", g.pick(lex), g.pick(lex)}
		if c[0] == "ZRANGEBYLEX" && g.r.IntN(2) == 0 {
			c = append(c, "LIMIT", g.num(), g.num())
		}
		return c
	case 43:
		return []string{g.pick([]string{"ZCOUNT", "ZREMRANGEBYSCORE"}), k, g.pick(atkScore), g.pick(atkScore)}
	case 44:
		return []string{"ZREMRANGEBYRANK", k, g.num(), g.num()}
	case 45:
		return []string{g.pick([]string{"ZPOPMIN", "ZPOPMAX"}), k, g.num()}
	case 46:
		c := g.keys([]string{g.pick([]string{"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"}), k, ""})
		c[2] = strconv.Itoa(len(c) - 3)
		n := len(c) - 3
		if c[0] != "ZDIFFSTORE" {
			if g.r.IntN(2) == 0 {
				c = append(c, "WEIGHTS")
				for range n {
					c = append(c, g.pick(atkScore))
				}
			}
			if g.r.IntN(2) == 0 {
				c = append(c, "AGGREGATE", g.pick([]string{"SUM", "MIN", "MAX"}))
			}
		}
		return c
	case 47:
		c := g.keys([]string{"ZMPOP", ""})
		c[1] = strconv.Itoa(len(c) - 2)
		c = append(c, g.pick([]string{"MIN", "MAX"}))
		if g.r.IntN(2) == 0 {
			c = append(c, "COUNT", g.num())
		}
		return c
	case 48:
		return []string{"ZRANGESTORE", k, g.key(), g.num(), g.num()}
	case 49:
		return []string{g.pick([]string{"ZCARD", "ZRANDMEMBER"}), k}
	case 50:
		return g.elems([]string{"ZMSCORE", k}, 3)
	// key commands
	case 51:
		return g.keys([]string{g.pick([]string{"DEL", "EXISTS", "UNLINK"})})
	case 52:
		return []string{"TYPE", k}
	case 53:
		return []string{g.pick([]string{"RENAME", "RENAMENX"}), k, g.key()}
	case 54:
		c := []string{"COPY", k, g.key()}
		if g.r.IntN(2) == 0 {
			c = append(c, "REPLACE")
		}
		return c
	case 55:
		return []string{"OBJECT", "ENCODING", k}
	case 56:
		return []string{"SCAN", "0", "COUNT", "1000", "TYPE", g.pick([]string{"list", "hash", "set", "zset", "string"})}
	case 57:
		return []string{g.pick([]string{"EXPIRE", "PERSIST", "TTL"}), k, "1000"}[:2+g.r.IntN(2)]
	case 58:
		return []string{"SET", k, g.elem()}
	case 59:
		return []string{g.pick([]string{"SSCAN", "HSCAN", "ZSCAN"}), k, "0", "COUNT", "1000"}
	case 60:
		return []string{"INCR", k}
	default:
		return []string{"DBSIZE"}
	}
}

// typeCanon sorts what Redis leaves unordered and reduces random picks to
// their size.
func typeCanon(cmd []string, r *reply) *reply {
	name := strings.ToUpper(cmd[0])
	sorted := func(r *reply) *reply {
		if !r.isArr {
			return r
		}
		c := &reply{isArr: true, arr: slices.Clone(r.arr)}
		slices.SortFunc(c.arr, func(a, b *reply) int { return strings.Compare(a.String(), b.String()) })
		return c
	}
	pairs := func(r *reply) *reply { // field/value pairs as units
		if !r.isArr || len(r.arr)%2 != 0 {
			return r
		}
		c := &reply{isArr: true}
		for i := 0; i < len(r.arr); i += 2 {
			c.arr = append(c.arr, &reply{isArr: true, arr: r.arr[i : i+2]})
		}
		return sorted(c)
	}
	switch name {
	case "SMEMBERS", "HKEYS", "HVALS", "SINTER", "SUNION", "SDIFF", "SPOP":
		return sorted(r)
	case "HGETALL":
		return pairs(r)
	case "SCAN":
		if r.isArr && len(r.arr) == 2 {
			return &reply{isArr: true, arr: []*reply{r.arr[0], sorted(r.arr[1])}}
		}
	case "SSCAN", "HSCAN", "ZSCAN":
		if r.isArr && len(r.arr) == 2 {
			if name == "SSCAN" {
				return &reply{isArr: true, arr: []*reply{r.arr[0], sorted(r.arr[1])}}
			}
			return &reply{isArr: true, arr: []*reply{r.arr[0], pairs(r.arr[1])}}
		}
	case "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER":
		if r.isArr {
			return &reply{leaf: fmt.Sprintf("(%d random)", len(r.arr))}
		}
		if !strings.HasPrefix(r.leaf, "(error)") && r.leaf != "(nil)" {
			return &reply{leaf: "(one random)"}
		}
	}
	return r
}
