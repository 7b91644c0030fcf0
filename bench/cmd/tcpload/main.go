// Command tcpload is the load generator of the tcp-echo workload: C
// connections to an echo server on loopback, each sending a 64-byte message
// and waiting for its echo before the next, for a fixed duration.
//
//	tcpload [-addr 127.0.0.1:7711] [-c 50] [-size 64] [-d 10s] [-impl NAME] [-engine epoll|net]
//
// The default engine drives every connection from one OS thread with a
// hand-written epoll loop (epoll.go), so that the client costs about what the
// server does; -engine=net uses a goroutine per connection on package net.
//
// It prints
//
//	BENCH tcp-echo <impl> <req/s> req/s
//
// on stdout, and "LAT tcp-echo <impl> p50=<us> p99=<us> us" with the latency
// percentiles on stderr. Every echo is checked byte for byte; a mismatch, a
// connection error or zero completed requests exits with status 1. The run
// is bounded in time: with -engine=epoll a connection still waiting for its
// echo 5 s after the end fails the run; with -engine=net every read and write
// has a 5 s deadline.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7711", "server address (loopback)")
	conns := flag.Int("c", 50, "connections")
	size := flag.Int("size", 64, "message size in bytes")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 500*time.Millisecond, "warm-up before measuring")
	impl := flag.String("impl", "?", "implementation name for the BENCH line")
	dialWait := flag.Duration("dialwait", 5*time.Second, "how long to retry the first dial")
	engine := flag.String("engine", "epoll", "client engine: epoll (one thread, raw epoll; default) or net (a goroutine per connection)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fail("bad -addr: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		fail("-addr must be a loopback address, not %q", host)
	}

	start := time.Now().Add(*warm)
	end := start.Add(*dur)
	var ws []worker
	switch *engine {
	case "epoll":
		ap, err := netip.ParseAddrPort(*addr)
		if err != nil || !ap.Addr().Is4() {
			fail("-engine=epoll needs an IPv4 -addr (%v)", err)
		}
		ws, err = epollClient(ap, *conns, *size, start, end, *dialWait)
		if err != nil {
			fail("%v", err)
		}
	case "net":
		ws = netClient(*addr, *conns, *size, start, end, *dialWait)
	default:
		fail("unknown -engine %q", *engine)
	}

	var total uint64
	var all []time.Duration
	for i := range ws {
		if ws[i].err != nil {
			fail("%v", ws[i].err)
		}
		total += ws[i].count
		all = append(all, ws[i].lat...)
	}
	if total == 0 {
		fail("no request completed")
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e3
	}
	fmt.Printf("BENCH tcp-echo %s %.0f req/s\n", *impl, float64(total)/dur.Seconds())
	fmt.Fprintf(os.Stderr, "LAT tcp-echo %s p50=%.1f p99=%.1f us (p90 %.1f, p99.9 %.1f, max %.1f us; %d requests, %d connections, %d B, %v, client %s)\n",
		*impl, pct(0.50), pct(0.99), pct(0.90), pct(0.999), pct(1), total, len(ws), *size, *dur, *engine)
}

// worker is one connection's result: completed requests in the measured
// window, one latency sample each, and the error that stopped it early.
type worker struct {
	count uint64
	lat   []time.Duration
	err   error
}

// netClient is the -engine=net load: a goroutine per connection on Go's net
// package. It costs the client more CPU than the server it measures.
func netClient(addr string, conns, size int, start, end time.Time, dialWait time.Duration) []worker {
	// Dial all connections first (retrying while the server starts).
	cs := make([]net.Conn, conns)
	deadline := time.Now().Add(dialWait)
	for i := range cs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				cs[i] = c
				break
			}
			if time.Now().After(deadline) {
				fail("dial %s: %v", addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ws := make([]worker, len(cs))
	var stopping sync.WaitGroup
	stopping.Add(len(cs))
	for i, c := range cs {
		go func() {
			defer stopping.Done()
			w := &ws[i]
			w.lat = make([]time.Duration, 0, 1<<16)
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte('a' + (i+j)%26)
			}
			got := make([]byte, size)
			for seq := 0; ; seq++ {
				msg[0] = byte(seq) // each request differs
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				c.SetDeadline(t0.Add(5 * time.Second))
				if _, err := c.Write(msg); err != nil {
					w.err = fmt.Errorf("conn %d write: %w", i, err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					w.err = fmt.Errorf("conn %d read: %w", i, err)
					return
				}
				if !bytes.Equal(got, msg) {
					w.err = fmt.Errorf("conn %d request %d: echo differs", i, seq)
					return
				}
				if !t0.Before(start) {
					t1 := time.Now()
					if !t1.After(end) {
						w.count++
						w.lat = append(w.lat, t1.Sub(t0))
					}
				}
			}
		}()
	}
	stopping.Wait()
	for _, c := range cs {
		c.Close()
	}
	return ws
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tcpload: FAIL: "+format+"\n", args...)
	os.Exit(1)
}
