// Command respkv is a Redis-compatible (RESP2) key-value server on one
// calloop event loop: the whole keyspace is the loop's shared state, every
// command runs on the loop's goroutine, and nothing is locked.
//
// Usage:
//
//	respkv [flags] [/path/to/respkv.conf]
//
// Flags and configuration-file lines use Redis's names: -port 6380,
// -bind 127.0.0.1, -requirepass secret, -appendonly yes, -appendfsync
// everysec, -dir ., -appendfilename appendonly.aof, ... (respkv -help lists
// them); flags override the file. -addr host:port, -maxreq n and -aof path
// are respkv's older spellings. See README.md for the commands and the
// differences from Redis.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	log := newStampWriter(os.Stderr)
	cfg, cpuprofile, err := parseArgs(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
		os.Exit(2)
	}
	in, err := newInstance(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
		os.Exit(1)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "respkv: %v\n", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintln(log, banner(cfg, in.Addr().String()))
	if w := exposureWarning(cfg); w != "" {
		fmt.Fprintln(log, w)
	}
	fmt.Fprintf(log, "respkv: ready to accept connections on %v\n", in.Addr())
	if err := in.run(context.Background()); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(log, "respkv: %v\n", err)
		os.Exit(1)
	}
}
