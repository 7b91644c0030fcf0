//go:build linux

// Command udpecho is the udp-echo workload: a UDP echo server on loopback
// and a load generator, each in its own process.
//
//	udpecho -server go|gnet [-addr 127.0.0.1:7722]   run a server until SIGINT/SIGTERM
//	udpecho -load [-addr ...] [-c 50] [-size 64] [-d 10s]
//	udpecho -compare [-impls go,gnet] [-d 10s]        the servers in turn, one line each
//
// The servers: go is calloop for Go with package dgram (one loop; replies
// sent from OnPacket leave together, with sendmmsg, after each recvmmsg
// batch); gnet is github.com/panjf2000/gnet/v2 with one event loop,
// answering each datagram with c.Write from OnTraffic.
//
// The load generator keeps C connected UDP sockets on one OS thread with
// raw epoll; each sends size bytes and waits for the echo (checked byte for
// byte) before sending again. A datagram not answered within 200 ms is
// counted lost and sent again. After a 0.5 s warm-up it counts echoes for
// d and prints
//
//	BENCH udp-echo <impl> <req/s> req/s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	server := flag.String("server", "", "run a server: go or gnet")
	load := flag.Bool("load", false, "run the load generator")
	compare := flag.Bool("compare", false, "run each server with the load generator, one after the other")
	addr := flag.String("addr", "127.0.0.1:7722", "server address (loopback)")
	conns := flag.Int("c", 50, "load: concurrent sockets")
	size := flag.Int("size", 64, "load: datagram size")
	dur := flag.Duration("d", 10*time.Second, "load: measured duration")
	impl := flag.String("impl", "?", "load: the name printed for the server")
	impls := flag.String("impls", "go,gnet", "compare: the servers to run, in this order")
	cpuProfile := flag.String("cpuprofile", "", "server: write a CPU profile to `file` (stopped on SIGINT/SIGTERM)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "udpecho:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch {
	case *server != "":
		err = serve(*server, *addr)
	case *load:
		err = runLoad(*impl, *addr, *conns, *size, *dur)
	case *compare:
		err = runCompare(strings.Split(*impls, ","), *addr, *conns, *size, *dur)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "udpecho:", err)
		os.Exit(1)
	}
}

func serve(impl, addr string) error {
	ready := func() { fmt.Printf("READY %s\n", addr) }
	errc := make(chan error, 1)
	switch impl {
	case "go":
		go func() { errc <- serveDgram(addr, ready) }()
	case "gnet":
		go func() { errc <- serveGnet(addr, ready) }()
	default:
		return fmt.Errorf("unknown server %q", impl)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case <-sig:
		return nil
	}
}

// runCompare starts each server as a child process and runs the load
// generator (in this process) against it.
func runCompare(impls []string, addr string, conns, size int, dur time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, impl := range impls {
		cmd := exec.Command(self, "-server", impl, "-addr", addr)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		r := bufio.NewReader(out)
		line, err := r.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "READY") { // gnet logs to stdout
			line, err = r.ReadString('\n')
		}
		go io.Copy(io.Discard, r)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("server %s did not start: %q %v", impl, line, err)
		}
		err = runLoad(impl, addr, conns, size, dur)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if err != nil {
			return err
		}
	}
	return nil
}
