package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// respkvVersion is respkv's own version (INFO respkv_version, the banner).
const respkvVersion = "0.1.0"

// defaultConfig is the configuration without flags or file: Redis's
// defaults, except the port (6380, so that it can run beside a Redis).
func defaultConfig() Config {
	return Config{
		Addr:                     "127.0.0.1:6380",
		MaxReq:                   512 << 20,
		AppendFsync:              "everysec",
		ProtectedMode:            true,
		AutoAOFRewritePercentage: 100,
		AutoAOFRewriteMinSize:    64 << 20,
	}
}

// parseArgs builds the configuration from the defaults, then the
// configuration file (the one argument, if any), then the flags in their
// order. Every flag named like a settable configuration parameter sets it;
// a bad value is an error, never silently replaced by a default.
func parseArgs(args []string, out io.Writer) (cfg Config, cpuprofile string, err error) {
	fs := flag.NewFlagSet("respkv", flag.ContinueOnError)
	fs.SetOutput(out)
	var sets []func(*Config) error
	probe := defaultConfig()
	for i := range configParams {
		p := &configParams[i]
		if p.set == nil {
			continue
		}
		fs.Func(p.name, p.usage, func(v string) error {
			if err := p.set(&probe, v); err != nil {
				return err
			}
			sets = append(sets, func(c *Config) error { return p.set(c, v) })
			return nil
		})
	}
	fs.Func("addr", "listen address host:port (respkv's older flag; -bind and -port are Redis's)", func(v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return err
		}
		sets = append(sets, func(c *Config) error { c.Addr = v; return nil })
		return nil
	})
	fs.Func("maxreq", "largest bulk argument in bytes (respkv's older flag for proto-max-bulk-len, any size > 0)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errors.New("must be a number of bytes > 0")
		}
		sets = append(sets, func(c *Config) error { c.MaxReq = n; return nil })
		return nil
	})
	fs.Func("aof", "append-only file path (respkv's older flag; -appendonly yes with -dir and -appendfilename are Redis's)", func(v string) error {
		sets = append(sets, func(c *Config) error { c.AOF = v; return nil })
		return nil
	})
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile to this file until shutdown")
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	cfg = defaultConfig()
	switch fs.NArg() {
	case 0:
	case 1:
		if err := loadConfigFile(fs.Arg(0), &cfg); err != nil {
			return cfg, "", err
		}
	default:
		return cfg, "", fmt.Errorf("unexpected arguments: %q (one configuration file at most)", fs.Args()[1:])
	}
	for _, set := range sets {
		if err := set(&cfg); err != nil {
			return cfg, "", err
		}
	}
	cfg.finish()
	return cfg, cpuprofile, nil
}

// banner is the startup line: time, version, pid, address, persistence.
func banner(cfg Config, addr string) string {
	persist := "none (no AOF)"
	if cfg.AOF != "" {
		persist = "AOF " + cfg.AOF + ", appendfsync " + cfg.AppendFsync
	}
	return fmt.Sprintf("respkv: respkv %s (Redis %s protocol) pid %d listening on %s, persistence: %s",
		respkvVersion, redisVersion, os.Getpid(), addr, persist)
}

// exposureWarning warns when anyone who can reach the address can use the
// server: not loopback-only and no password.
func exposureWarning(cfg Config) string {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || cfg.RequirePass != "" || isLoopbackBind([]string{host}) {
		return ""
	}
	if cfg.ProtectedMode {
		return "respkv: WARNING: listening on " + cfg.Addr + " without a password: protected mode is on, only loopback clients are accepted (set -requirepass, or -protected-mode no)"
	}
	return "respkv: WARNING: protected mode is off and no password is set: anyone who can reach " + cfg.Addr + " can read and change every key"
}
