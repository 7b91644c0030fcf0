package main

// CONFIG and the configuration parameters: one table for CONFIG GET,
// CONFIG SET, the configuration file and the command-line flags.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/calloop-go/calloop/cmd/respkv/internal/resp"
)

// configParam is one setting, named as Redis names it. To add a setting,
// add one entry to configParams.
type configParam struct {
	name string
	// get returns the current value (CONFIG GET).
	get func(s *server) string
	// set parses v into cfg, or returns Redis's error text ("argument must
	// be 'yes' or 'no'"). nil: the value is fixed (CONFIG SET answers
	// "can't set immutable config", the configuration file refuses it).
	set func(cfg *Config, v string) error
	// mutable: CONFIG SET may change it while the server runs; apply (if
	// any) then makes the change take effect.
	mutable bool
	apply   func(s *server)
	usage   string // for -help
}

func fixed(v string) func(*server) string { return func(*server) string { return v } }

var configParams = []configParam{
	{name: "save", get: fixed(""), set: func(cfg *Config, v string) error {
		if strings.TrimSpace(v) != "" {
			return errors.New("respkv has no RDB snapshots: only \"\" is accepted")
		}
		return nil
	}, mutable: true, usage: `RDB snapshots: only "" (none)`},
	{name: "appendonly", get: func(s *server) string { return yesNo(s.cfg.AOF != "") },
		set:   func(cfg *Config, v string) error { return setBool(&cfg.AppendOnly, v) },
		usage: "yes: append-only file at dir/appendfilename"},
	{name: "appendfsync", get: func(s *server) string { return orDefault(s.cfg.AppendFsync, "everysec") },
		set: func(cfg *Config, v string) error {
			if _, err := parseFsync(strings.ToLower(v)); err != nil {
				return errors.New("argument(s) must be one of the following: always, everysec, no")
			}
			cfg.AppendFsync = strings.ToLower(v)
			return nil
		}, usage: "AOF fsync policy: always, everysec or no"},
	{name: "appendfilename", get: func(s *server) string {
		if s.cfg.AOF != "" {
			return filepath.Base(s.cfg.AOF)
		}
		return orDefault(s.cfg.AppendFilename, "appendonly.aof")
	},
		set: func(cfg *Config, v string) error {
			if v == "" || strings.ContainsRune(v, '/') {
				return errors.New("appendfilename can't be a path, just a filename")
			}
			cfg.AppendFilename = v
			return nil
		}, usage: "AOF file name (with appendonly yes; default appendonly.aof)"},
	{name: "dir", get: func(s *server) string { d, _ := filepath.Abs(orDefault(s.cfg.Dir, ".")); return d },
		set:   func(cfg *Config, v string) error { cfg.Dir = v; return nil },
		usage: "directory of the AOF (with appendonly yes)"},
	{name: "databases", get: fixed(strconv.Itoa(numDBs))},
	{name: "maxmemory", get: func(s *server) string { return strconv.FormatInt(s.cfg.MaxMemory, 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseMemory(v)
			cfg.MaxMemory = n
			return err
		}, mutable: true, apply: applyMaxMemory, usage: "evict keys or refuse writes (-OOM) above this keyspace size (bytes, or 100mb, 2gb...; 0: no limit); also sets the Go runtime's memory limit"},
	{name: "maxmemory-policy", get: func(s *server) string { return policyNames[s.mm.policy] },
		set: func(cfg *Config, v string) error {
			p, err := parsePolicy(v)
			cfg.MaxMemoryPolicy = policyNames[p]
			return err
		}, mutable: true, apply: applyMaxMemory, usage: "noeviction, allkeys-lru, allkeys-random, volatile-lru, volatile-random or volatile-ttl"},
	{name: "maxclients", get: fixed("10000")},
	{name: "auto-aof-rewrite-percentage", get: func(s *server) string { return strconv.FormatInt(s.cfg.AutoAOFRewritePercentage, 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseIntArg(v, 0, 1<<31-1)
			cfg.AutoAOFRewritePercentage = n
			return err
		}, mutable: true, usage: "rewrite the AOF when it has grown by this percentage since the last rewrite (0: never)"},
	{name: "auto-aof-rewrite-min-size", get: func(s *server) string { return strconv.FormatInt(s.cfg.AutoAOFRewriteMinSize, 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseMemory(v)
			cfg.AutoAOFRewriteMinSize = n
			return err
		}, mutable: true, usage: "do not rewrite the AOF automatically below this size (bytes, or 64mb, 1gb...)"},
	{name: "proto-max-bulk-len", get: func(s *server) string { return strconv.FormatInt(s.cfg.MaxReq, 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseMemory(v)
			if err == nil && n < 1<<20 {
				err = errors.New("argument must be between 1048576 and 9223372036854775807 inclusive")
			}
			cfg.MaxReq = n
			return err
		}, usage: "largest bulk argument, and so the largest string (default 512mb)"},
	{name: "client-query-buffer-limit", get: func(s *server) string { return strconv.FormatInt(maxInput(s.cfg.MaxReq), 10) }},
	{name: "client-output-buffer-limit", get: func(s *server) string { return s.cfg.OutputLimits.String() },
		set:     func(cfg *Config, v string) error { return cfg.OutputLimits.set(v) },
		mutable: true, usage: "output limits per client class: \"<class> <hard> <soft> <seconds> ...\" (class normal, replica or pubsub; a client over hard, or over soft for longer than seconds, is closed; enforced for pubsub)"},
	{name: "port", get: func(s *server) string { _, p, _ := net.SplitHostPort(s.cfg.Addr); return p },
		set: func(cfg *Config, v string) error {
			n, err := parseIntArg(v, 0, 65535)
			if err != nil {
				return err
			}
			host, _, _ := net.SplitHostPort(cfg.Addr)
			cfg.Addr = net.JoinHostPort(host, strconv.FormatInt(n, 10))
			return nil
		}, usage: "TCP port (default 6380)"},
	{name: "bind", get: func(s *server) string { h, _, _ := net.SplitHostPort(s.cfg.Addr); return h },
		set: func(cfg *Config, v string) error {
			hosts := strings.Fields(v)
			if len(hosts) != 1 {
				return errors.New("respkv listens on exactly one address")
			}
			_, port, _ := net.SplitHostPort(cfg.Addr)
			cfg.Addr = net.JoinHostPort(strings.TrimPrefix(hosts[0], "-"), port)
			return nil
		}, usage: "listen address (default 127.0.0.1)"},
	{name: "requirepass", get: func(s *server) string { return s.cfg.RequirePass },
		set:     func(cfg *Config, v string) error { cfg.RequirePass = v; return nil },
		mutable: true, usage: "password of the default user (AUTH); empty: none"},
	{name: "protected-mode", get: func(s *server) string { return yesNo(s.cfg.ProtectedMode) },
		set:     func(cfg *Config, v string) error { return setBool(&cfg.ProtectedMode, v) },
		mutable: true, usage: "yes: without a password, refuse connections from outside loopback"},
	{name: "slowlog-log-slower-than", get: func(s *server) string { return strconv.FormatInt(s.cfg.Monitor.slowlogSlowerThan(), 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseIntArg(v, -1, math.MaxInt64)
			if err == nil {
				cfg.Monitor.slowerThan, cfg.Monitor.slowerThanSet = n, true
			}
			return err
		}, mutable: true, apply: applyMonitor, usage: "log commands that run for at least this many microseconds in the slowlog (SLOWLOG GET); 0: every command, -1: none (default 10000)"},
	{name: "slowlog-max-len", get: func(s *server) string { return strconv.FormatInt(s.cfg.Monitor.slowlogMaxLen(), 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseIntArg(v, 0, math.MaxInt64)
			if err == nil {
				cfg.Monitor.maxLen, cfg.Monitor.maxLenSet = n, true
			}
			return err
		}, mutable: true, usage: "entries the slowlog keeps (default 128)"},
	{name: "latency-monitor-threshold", get: func(s *server) string { return strconv.FormatInt(s.cfg.Monitor.latencyThreshold, 10) },
		set: func(cfg *Config, v string) error {
			n, err := parseIntArg(v, 0, math.MaxInt64)
			if err == nil {
				cfg.Monitor.latencyThreshold = n
			}
			return err
		}, mutable: true, apply: applyMonitor, usage: "record latency events (LATENCY LATEST) of at least this many milliseconds; 0: off (default)"},
	{name: "latency-tracking", get: func(s *server) string { return yesNo(!s.cfg.Monitor.trackingOff) },
		set: func(cfg *Config, v string) error {
			on := !cfg.Monitor.trackingOff
			err := setBool(&on, v)
			cfg.Monitor.trackingOff = !on
			return err
		}, mutable: true, apply: applyMonitor, usage: "per-command latency percentiles in INFO latencystats (default yes)"},
	{name: "latency-tracking-info-percentiles", get: func(s *server) string { return formatPercentiles(s.cfg.Monitor.trackingPercentiles()) },
		set: func(cfg *Config, v string) error {
			ps, err := parsePercentiles(v)
			if err == nil {
				cfg.Monitor.percentiles, cfg.Monitor.percentilesSet = ps, true
			}
			return err
		}, mutable: true, usage: "the percentiles INFO latencystats reports (default \"50 99 99.9\")"},
	{name: "timeout", get: fixed("0")},
	{name: "tcp-keepalive", get: fixed("0")},
	{name: "hz", get: fixed("10")},
	{name: "dbfilename", get: fixed("dump.rdb")},
	{name: "lazyfree-lazy-user-del", get: fixed("no")},
	{name: "cluster-enabled", get: fixed("no")},
	{name: "io-threads", get: fixed("1")},
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "yes":
		*dst = true
	case "no":
		*dst = false
	default:
		return errors.New("argument must be 'yes' or 'no'")
	}
	return nil
}

// parseIntArg parses a decimal integer in [lo, hi] with Redis's texts.
func parseIntArg(v string, lo, hi int64) (int64, error) {
	n, ok := parseInt([]byte(v))
	if !ok {
		return 0, errors.New("argument couldn't be parsed into an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("argument must be between %d and %d inclusive", lo, hi)
	}
	return n, nil
}

// lookupConfig finds a parameter by name, ignoring case.
func lookupConfig(name string) *configParam {
	for i := range configParams {
		if strings.EqualFold(configParams[i].name, name) {
			return &configParams[i]
		}
	}
	return nil
}

// finish derives what the parameters imply once all are set: the AOF path
// from appendonly, dir and appendfilename (unless the path was given).
func (cfg *Config) finish() {
	if cfg.AOF == "" && cfg.AppendOnly {
		cfg.AOF = filepath.Join(orDefault(cfg.Dir, "."), orDefault(cfg.AppendFilename, "appendonly.aof"))
	}
}

// loadConfigFile reads a configuration file in Redis's format ("name
// value" per line, # comments, quoting as in redis.conf) into cfg. An
// unknown or fixed name, or a bad value, is an error naming the line.
func loadConfigFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readConfig(f, path, cfg)
}

func readConfig(r io.Reader, path string, cfg *Config) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, resp.InlineMax)
	p := resp.NewParser(resp.InlineMax)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(msg string) error {
			return fmt.Errorf("bad configuration file %s, line %d: '%s': %s", path, n, line, msg)
		}
		args, _, err := p.Parse([]byte(line + "\n"))
		if err != nil {
			return bad("unbalanced quotes in configuration line")
		}
		if len(args) < 2 {
			return bad("Bad directive or wrong number of arguments")
		}
		prm := lookupConfig(string(args[0]))
		if prm == nil || prm.set == nil {
			return bad("Bad directive or wrong number of arguments")
		}
		vals := make([]string, len(args)-1)
		for i, a := range args[1:] {
			vals[i] = string(a)
		}
		if err := prm.set(cfg, strings.Join(vals, " ")); err != nil {
			return bad(err.Error())
		}
	}
	return sc.Err()
}

func cmdConfig(s *server, c *client, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "get"):
		// As Redis 7.0: a name without glob characters is looked up and
		// answered under the name as given; a pattern matches the names
		// ignoring case; each setting is answered once.
		type match struct {
			name string
			p    *configParam
		}
		var out []match
		seen := func(p *configParam) bool {
			return slices.ContainsFunc(out, func(m match) bool { return m.p == p })
		}
		for _, pat := range args[2:] {
			if !bytes.ContainsAny(pat, "[*?") {
				if p := lookupConfig(string(pat)); p != nil && !seen(p) {
					out = append(out, match{string(pat), p})
				}
				continue
			}
			for i := range configParams {
				if p := &configParams[i]; !seen(p) && globMatchFold(pat, []byte(p.name)) {
					out = append(out, match{p.name, p})
				}
			}
		}
		c.array(2 * len(out))
		for _, m := range out {
			c.bulkStr(m.name)
			c.bulkStr(m.p.get(s))
		}
	case eqFold(sub, "set"):
		s.configSet(c, args[2:])
	case eqFold(sub, "resetstat"):
		s.stats = stats{}
		clear(s.cmdStats)
		clear(s.errorCodes)
		s.resetMonitorStats()
		c.ok()
	case eqFold(sub, "help"):
		c.help([]string{
			"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
			"SET <directive> <value>", "    Set the configuration <directive> to <value>.",
			"RESETSTAT", "    Reset statistics reported by the INFO command.",
			"HELP", "    Print this help.",
		})
	default:
		c.errReply(errUnknownSub("config", sub))
	}
}

// configSet is CONFIG SET name value [name value ...], all or nothing, with
// Redis 7.0's checks in its order: pairs, unknown names, fixed ones,
// duplicates, then the values.
func (s *server) configSet(c *client, pairs [][]byte) {
	if len(pairs)%2 != 0 {
		c.errReply(errSyntax)
		return
	}
	var set []*configParam
	var unknown, failArg, failMsg string
	for i := 0; i < len(pairs); i += 2 {
		name := string(pairs[i])
		p := lookupConfig(name)
		switch {
		case p == nil:
			if unknown == "" {
				unknown = name
			}
			continue
		case failArg != "":
		case p.set == nil || !p.mutable:
			failArg, failMsg = name, "can't set immutable config"
		}
		for _, q := range set {
			if q == p && failArg == "" {
				failArg, failMsg = name, "duplicate parameter"
			}
		}
		set = append(set, p)
	}
	if unknown != "" {
		c.errReply("ERR Unknown option or number of arguments for CONFIG SET - '" + unknown + "'")
		return
	}
	if failArg == "" {
		next := s.cfg
		for i, p := range set {
			if err := p.set(&next, string(pairs[2*i+1])); err != nil {
				failArg, failMsg = p.name, err.Error()
				break
			}
		}
		if failArg == "" {
			s.cfg = next
			for _, p := range set {
				if p.apply != nil {
					p.apply(s)
				}
			}
			c.ok()
			return
		}
	}
	c.errReply("ERR CONFIG SET failed (possibly related to argument '" + failArg + "') - " + failMsg)
}
