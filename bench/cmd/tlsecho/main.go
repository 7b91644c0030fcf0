// Command tlsecho measures what TLS costs an echo server built on the
// stream package: the same server, on one loop, plain (stream.Listen) and
// TLS (stream.ListenTLS, TLS 1.3 with a P-256 certificate made at start),
// measured in one run with the same load.
//
//	tlsecho [-c 50] [-size 64] [-d 5s] [-hc 8] [-hd 3s]
//
// For reference it also measures Go's own way, crypto/tls over package net
// with a goroutine per connection (net-tls).
//
// The server runs as a child process (this program with -serve MODE),
// so that its CPU time can be read from /proc and the load's does not
// count. The load is Go's net and crypto/tls, a goroutine per connection:
//
//   - echo: C connections, each sending a message of -size bytes and waiting
//     for its echo before the next, for -d; requests per second, latency
//     percentiles, and the server's CPU time per request.
//   - connect: -hc goroutines each connecting, (handshaking,) echoing one
//     message and closing, over and over for -hd; connections per second
//     and the server's CPU time per connection.
//
// Every echo is checked. The results are printed as a Markdown table.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

func main() {
	serve := flag.String("serve", "", "internal: run the server (plain or tls); the certificate and key come as PEM on stdin")
	conns := flag.Int("c", 50, "echo: connections")
	size := flag.Int("size", 64, "echo: message size in bytes")
	dur := flag.Duration("d", 5*time.Second, "echo: measured duration per mode")
	hconns := flag.Int("hc", 8, "connect: concurrent connecting clients")
	hdur := flag.Duration("hd", 3*time.Second, "connect: measured duration per mode")
	flag.Parse()
	if *serve != "" {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "tlsecho server:", err)
			os.Exit(1)
		}
		return
	}
	certPEM, keyPEM, pool := makeCert()
	type row struct {
		mode                  string
		rps, p50, p99, cpuReq float64
		cps, cpuConn          float64
	}
	var rows []row
	for _, mode := range []string{"plain", "tls", "net-tls"} {
		srv, err := startServer(mode, certPEM, keyPEM)
		if err != nil {
			fail("%v", err)
		}
		var cfg *tls.Config
		if mode != "plain" {
			cfg = &tls.Config{RootCAs: pool, ServerName: "localhost"}
		}
		r := row{mode: mode}
		cpu0 := srv.cpu()
		n, lat := echoLoad(srv.addr, cfg, *conns, *size, *dur)
		cpu1 := srv.cpu()
		r.rps = float64(n) / dur.Seconds()
		r.p50, r.p99 = pct(lat, 0.5), pct(lat, 0.99)
		r.cpuReq = (cpu1 - cpu0).Seconds() * 1e6 / float64(n)
		m := connectLoad(srv.addr, cfg, *hconns, *hdur)
		cpu2 := srv.cpu()
		r.cps = float64(m) / hdur.Seconds()
		r.cpuConn = (cpu2 - cpu1).Seconds() * 1e6 / float64(m)
		srv.stop()
		rows = append(rows, r)
	}
	fmt.Printf("echo: %d connections, %d-byte messages, %v per mode; connect: %d clients, %v per mode\n\n", *conns, *size, *dur, *hconns, *hdur)
	fmt.Println("| server | echo req/s | p50 µs | p99 µs | server CPU µs/req | connections/s | server CPU µs/conn |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		name := "stream " + r.mode
		if r.mode == "net-tls" {
			name = "crypto/tls on net, goroutine per connection (reference)"
		}
		fmt.Printf("| %s | %.0f | %.1f | %.1f | %.2f | %.0f | %.1f |\n", name, r.rps, r.p50, r.p99, r.cpuReq, r.cps, r.cpuConn)
	}
	p, t := rows[0], rows[1]
	fmt.Printf("\nTLS/plain: echo throughput %.2fx, server CPU per request %.2fx; connections/s %.2fx, server CPU per connection %.1fx\n",
		t.rps/p.rps, t.cpuReq/p.cpuReq, t.cps/p.cps, t.cpuConn/p.cpuConn)
}

// runServer is the child: an echo server on one loop, plain or TLS.
func runServer(mode string) error {
	type server struct{}
	l, err := calloop.New[server]()
	if err != nil {
		return err
	}
	defer l.Close()
	h := stream.Handler[server]{
		OnData: func(_ *server, c *stream.Conn[server], in []byte) int {
			c.Write(in)
			return len(in)
		},
	}
	var ln *stream.Listener[server]
	switch mode {
	case "plain":
		ln, err = stream.Listen(l, "tcp", "127.0.0.1:0", stream.Config{}, h)
	case "net-tls":
		pemData, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		cert, err := tls.X509KeyPair(pemData, pemData)
		if err != nil {
			return err
		}
		nl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		fmt.Printf("READY %s\n", nl.Addr())
		for {
			c, err := nl.Accept()
			if err != nil {
				return err
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64<<10)
				for {
					n, err := c.Read(b)
					if n > 0 {
						if _, err := c.Write(b[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	case "tls":
		var pemData []byte
		pemData, err = io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		cert, err2 := tls.X509KeyPair(pemData, pemData)
		if err2 != nil {
			return err2
		}
		ln, err = stream.ListenTLS(l, "tcp", "127.0.0.1:0", stream.TLSConfig{Config: &tls.Config{Certificates: []tls.Certificate{cert}}}, stream.Config{}, h)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", ln.Addr())
	return l.Run(context.Background(), &server{})
}

type server struct {
	cmd  *exec.Cmd
	addr string
}

func startServer(mode string, certPEM, keyPEM []byte) (*server, error) {
	cmd := exec.Command(os.Args[0], "-serve", mode)
	cmd.Stdin = bytes.NewReader(append(append([]byte{}, certPEM...), keyPEM...))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server %s did not start: %q %v", mode, line, err)
	}
	return &server{cmd: cmd, addr: addr}, nil
}

// cpu returns the server's user and system CPU time so far.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		fail("reading the server's CPU time: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

func dial(addr string, cfg *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if cfg != nil {
		return tls.DialWithDialer(d, "tcp", addr, cfg)
	}
	return d.Dial("tcp", addr)
}

// echoLoad runs the echo load and returns the requests completed in the
// measured window and their latencies (after a 300 ms warm-up).
func echoLoad(addr string, cfg *tls.Config, conns, size int, dur time.Duration) (int, []time.Duration) {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := dial(addr, cfg)
		if err != nil {
			fail("dial: %v", err)
		}
		cs[i] = c
	}
	start := time.Now().Add(300 * time.Millisecond)
	end := start.Add(dur)
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			msg := make([]byte, size)
			got := make([]byte, size)
			for j := range msg {
				msg[j] = byte('a' + (i+j)%26)
			}
			for seq := 0; ; seq++ {
				msg[0] = byte(seq)
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				c.SetDeadline(t0.Add(5 * time.Second))
				if _, err := c.Write(msg); err != nil {
					fail("write: %v", err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					fail("read: %v", err)
				}
				if !bytes.Equal(got, msg) {
					fail("echo differs")
				}
				if t1 := time.Now(); !t0.Before(start) && !t1.After(end) {
					lats[i] = append(lats[i], t1.Sub(t0))
				}
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	return len(all), all
}

// connectLoad runs the connect load and returns the connections completed
// (connected, handshaken, one echo, closed) during dur.
func connectLoad(addr string, cfg *tls.Config, clients int, dur time.Duration) int {
	var n atomic.Int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 4)
			for time.Now().Before(end) {
				c, err := dial(addr, cfg)
				if err != nil {
					fail("dial: %v", err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte("ping")); err != nil {
					fail("write: %v", err)
				}
				if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
					fail("read %q: %v", b, err)
				}
				c.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(n.Load())
}

func pct(all []time.Duration, p float64) float64 {
	if len(all) == 0 {
		return 0
	}
	return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e3
}

// makeCert makes a self-signed certificate for localhost and 127.0.0.1.
func makeCert() (certPEM, keyPEM []byte, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("%v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fail("%v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		fail("%v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlsecho: FAIL: "+format+"\n", args...)
	os.Exit(1)
}
