// Command echoserver is the server side of the tcp-echo workload: a TCP echo
// server on loopback, in one of several implementations, run as its own
// process so that the load generator (cmd/tcpload) does not share its runtime.
//
//	echoserver -impl=go|go-stream|gnet|net [-addr 127.0.0.1:7711] [-loops N]
//
// The implementations:
//
//   - go: calloop for Go, one loop, raw non-blocking sockets on fd sources
//     (AddFD), level-triggered.
//   - go-stream: calloop for Go with its stream package (Listen, OnData).
//   - gnet: github.com/panjf2000/gnet/v2 on one event loop.
//   - net: Go's standard net package, one goroutine per connection.
//
// With -loops N (go-stream and gnet only), the server runs N event loops in
// one process, each with its own SO_REUSEPORT listener on the port (the
// tcp-echo-multi workload, bench/multicore.sh); without it, one loop and a
// plain listener.
//
// It prints "READY <addr>" on stdout once it accepts connections and runs
// until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/calloop-go/calloop"
)

var servers = map[string]func(addr string, ready func()) error{
	"go":        serveLoop,
	"go-stream": serveStream,
	"gnet":      serveGnet,
	"net":       serveNet,
}

// loopOptions are passed to calloop.New by the go and go-stream servers.
var loopOptions []calloop.Option

func main() {
	impl := flag.String("impl", "go", "implementation: go, go-stream, gnet or net")
	addr := flag.String("addr", "127.0.0.1:7711", "listen address (loopback)")
	netpoller := flag.String("netpoller", "", "diagnostics for go and go-stream: \"on\" or \"off\" passes calloop.WithNetpoller (default: the library's default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to `file` (stopped on SIGINT/SIGTERM)")
	rawIO := flag.Bool("rawio", false, "diagnostics for -impl=go: raw read/write system calls")
	traceFile := flag.String("trace", "", "write a runtime execution trace to `file` (stopped on SIGINT/SIGTERM)")
	loops := flag.Int("loops", 0, "go-stream and gnet: N event loops sharing the port with SO_REUSEPORT (0: one loop, no SO_REUSEPORT)")
	flag.Parse()
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
		defer trace.Stop()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *rawIO {
		sockRead, sockWrite = rawRead, rawWrite
	}
	switch *netpoller {
	case "":
	case "on", "off":
		loopOptions = append(loopOptions, calloop.WithNetpoller(*netpoller == "on"))
	default:
		fmt.Fprintf(os.Stderr, "echoserver: -netpoller must be on or off\n")
		os.Exit(2)
	}
	serve, ok := servers[*impl]
	if !ok {
		fmt.Fprintf(os.Stderr, "echoserver: unknown -impl %q\n", *impl)
		os.Exit(2)
	}
	if *loops > 0 {
		n := *loops
		switch *impl {
		case "go-stream":
			serve = func(addr string, ready func()) error { return serveStreamLoops(addr, n, ready) }
		case "gnet":
			serve = func(addr string, ready func()) error { return serveGnetLoops(addr, n, ready) }
		default:
			fmt.Fprintf(os.Stderr, "echoserver: -loops is for -impl=go-stream or gnet\n")
			os.Exit(2)
		}
	}
	ready := func() { fmt.Printf("READY %s\n", *addr) }
	errc := make(chan error, 1)
	go func() { errc <- serve(*addr, ready) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		if err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintf(os.Stderr, "echoserver %s: %v\n", *impl, err)
			os.Exit(1)
		}
	case <-sig:
	}
}
