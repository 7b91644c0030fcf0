// Command respkv is a Redis-compatible (RESP2) key-value server on one
// calloop event loop: the whole keyspace is the loop's shared state, every
// command runs on the loop's goroutine, and nothing is locked.
//
// Usage:
//
//	respkv [-addr 127.0.0.1:6380] [-maxreq 536870912] [-aof file] [-appendfsync everysec|always|no]
//
// See README.md for the commands and the differences from Redis.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	var cfg Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:6380", "listen address")
	flag.Int64Var(&cfg.MaxReq, "maxreq", 512<<20, "largest bulk argument in bytes (proto-max-bulk-len); also the largest string value")
	flag.StringVar(&cfg.AOF, "aof", "", "append-only file (off when empty)")
	flag.StringVar(&cfg.AppendFsync, "appendfsync", "everysec", "AOF fsync policy: always, everysec or no")
	flag.Int64Var(&cfg.AutoAOFRewritePercentage, "auto-aof-rewrite-percentage", 100, "rewrite the AOF when it has grown by this percentage since the last rewrite (0: never)")
	flag.Func("auto-aof-rewrite-min-size", "do not rewrite the AOF automatically below this size (bytes, or 64mb, 1gb...; default 64mb)", func(v string) error {
		n, err := parseMemory(v)
		cfg.AutoAOFRewriteMinSize = n
		return err
	})
	cfg.AutoAOFRewriteMinSize = 64 << 20
	// Redis's names for the same settings (redis-server --port 6380 ...).
	port := flag.Int("port", 0, "TCP port (Redis's name; with -bind, instead of -addr)")
	bind := flag.String("bind", "", "listen host (Redis's name; with -port, instead of -addr)")
	flag.StringVar(&cfg.RequirePass, "requirepass", "", "password of the default user (AUTH); empty: none")
	protected := flag.String("protected-mode", "yes", "yes: without a password, refuse connections from outside loopback")
	appendonly := flag.String("appendonly", "no", "yes: append-only file at -dir/-appendfilename (Redis's names; -aof sets the path directly)")
	appendfilename := flag.String("appendfilename", "appendonly.aof", "AOF file name with -appendonly yes")
	dir := flag.String("dir", ".", "directory of the AOF with -appendonly yes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "respkv: unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	if err := applyRedisFlags(&cfg, *port, *bind, *protected, *appendonly, *dir, *appendfilename); err != nil {
		fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
		os.Exit(2)
	}
	in, err := newInstance(cfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
		os.Exit(1)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintln(os.Stderr, banner(cfg, in.Addr().String()))
	if w := exposureWarning(cfg); w != "" {
		fmt.Fprintln(os.Stderr, w)
	}
	fmt.Fprintf(os.Stderr, "respkv: ready to accept connections on %v\n", in.Addr())
	if err := in.run(context.Background()); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
		os.Exit(1)
	}
}
