package main

// Server commands without a file of their own, and shared helpers.

import (
	"strconv"
	"time"
)

// redisVersion is the Redis version whose behaviour respkv follows, reported
// to clients that check it.
const redisVersion = "7.0.15"

func cmdTime(s *server, c *client, args [][]byte) {
	now := time.Now()
	c.array(2)
	c.bulk(strconv.AppendInt(nil, now.Unix(), 10))
	c.bulk(strconv.AppendInt(nil, int64(now.Nanosecond()/1000), 10))
}

func cmdLastsave(s *server, c *client, args [][]byte) { c.int(s.start.Unix()) }

func errUnknownSub(container string, sub []byte) string {
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return "ERR unknown subcommand '" + string(cstr(sub)) + "'. Try " + upper(container) + " HELP."
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

// maxOutput is the most output a connection may have pending before it is
// closed: no limit, as Redis's default for normal clients. Large values are
// queued by reference (they cost no memory of their own) and a client's
// commands stop running above the 4 MiB high-water mark, so what is copied
// is bounded by one batch of replies; a single reply may be as large as
// the values it names (MGET of a large value many times).
func maxOutput(maxReq int64) int64 {
	return 0
}

// help replies with lines as an array of simple strings, as Redis's HELP
// subcommands do.
func (c *client) help(lines []string) {
	c.array(len(lines))
	for _, h := range lines {
		c.simple(h)
	}
}
