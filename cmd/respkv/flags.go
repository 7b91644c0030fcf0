package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// respkvVersion is respkv's own version (INFO respkv_version, the banner).
const respkvVersion = "0.1.0"

// applyRedisFlags folds Redis's flag names into cfg and checks the values:
// a bad value is an error, never silently replaced by a default.
func applyRedisFlags(cfg *Config, port int, bind, protected, appendonly, dir, appendfilename string) error {
	if cfg.MaxReq <= 0 {
		return fmt.Errorf("invalid -maxreq %d: must be > 0", cfg.MaxReq)
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("invalid -port %d", port)
	}
	if port != 0 || bind != "" {
		host, p, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return fmt.Errorf("invalid -addr %q: %v", cfg.Addr, err)
		}
		if bind != "" {
			host = bind
		}
		if port != 0 {
			p = strconv.Itoa(port)
		}
		cfg.Addr = net.JoinHostPort(host, p)
	}
	switch protected {
	case "yes":
		cfg.ProtectedMode = true
	case "no":
	default:
		return fmt.Errorf("invalid -protected-mode %q: yes or no", protected)
	}
	switch appendonly {
	case "yes":
		if cfg.AOF == "" {
			cfg.AOF = filepath.Join(dir, appendfilename)
		}
	case "no":
	default:
		return fmt.Errorf("invalid -appendonly %q: yes or no", appendonly)
	}
	if _, err := parseFsync(cfg.AppendFsync); err != nil {
		return err
	}
	return nil
}

// banner is the startup line: time, version, pid, address, persistence.
func banner(cfg Config, addr string) string {
	persist := "none (no AOF)"
	if cfg.AOF != "" {
		persist = "AOF " + cfg.AOF + ", appendfsync " + cfg.AppendFsync
	}
	return fmt.Sprintf("respkv: %s respkv %s (Redis %s protocol) pid %d listening on %s, persistence: %s",
		time.Now().Format("02 Jan 2006 15:04:05.000"), respkvVersion, redisVersion, os.Getpid(), addr, persist)
}

// exposureWarning warns when anyone who can reach the address can use the
// server: not loopback-only, no password, protected mode off.
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
