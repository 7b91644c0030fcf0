//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
	"go.uber.org/goleak"
)

// testPKI is a CA and a server certificate for "localhost" and 127.0.0.1,
// made once per test binary.
type testPKI struct {
	server tls.Certificate
	pool   *x509.CertPool
	caPEM  []byte
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) testPKI {
	pkiOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		now := time.Now()
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "calloop test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pki.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		pki.pool = x509.NewCertPool()
		pki.pool.AddCert(ca)
		pki.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	})
	return pki
}

func serverTLS(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{getPKI(t).server}}
}

func clientTLS(t testing.TB) *tls.Config {
	return &tls.Config{RootCAs: getPKI(t).pool, ServerName: "localhost"}
}

type tlsState struct {
	opened, closed int
	errs           []error
	states         []tls.ConnectionState
	got            []byte
	plain          int // plain echo round trips served
}

// tlsEcho is an echo handler that records opens, closes and states.
func tlsEcho() stream.Handler[tlsState] {
	return stream.Handler[tlsState]{
		OnOpen: func(s *tlsState, c *stream.Conn[tlsState]) {
			s.opened++
			st, ok := c.ConnectionState()
			if !ok {
				panic("no ConnectionState in OnOpen")
			}
			s.states = append(s.states, st)
		},
		OnData: func(s *tlsState, c *stream.Conn[tlsState], in []byte) int {
			c.Write(in)
			return len(in)
		},
		OnClose: func(s *tlsState, c *stream.Conn[tlsState], err error) {
			s.closed++
			s.errs = append(s.errs, err)
		},
	}
}

func listenTLS(t *testing.T, e *env[tlsState], tc stream.TLSConfig) string {
	t.Helper()
	var addr string
	e.do(func(s *tlsState) {
		ln, err := stream.ListenTLS(e.l, "tcp", "127.0.0.1:0", tc, stream.Config{}, tlsEcho())
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
	})
	return addr
}

// echoMiB writes 1 MiB of patterned data through c while reading the echo,
// and checks it.
func echoMiB(t *testing.T, c net.Conn) {
	t.Helper()
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>11)
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echo differs")
	}
}

// Go's TLS client talks to a ListenTLS server (TLS 1.3 and 1.2): the
// handshake, SNI, ConnectionState, 1 MiB echoed, and a clean close on the
// client's close_notify.
func TestTLSServerGoClient(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			var st tlsState
			e := start(t, &st, nil)
			addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t)})
			cfg := clientTLS(t)
			cfg.MaxVersion = v
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			echoMiB(t, c)
			e.do(func(s *tlsState) {
				if s.opened != 1 || len(s.states) != 1 {
					t.Fatalf("opened %d", s.opened)
				}
				cs := s.states[0]
				if cs.Version != v || cs.ServerName != "localhost" || !cs.HandshakeComplete {
					t.Errorf("state: version %x, server name %q", cs.Version, cs.ServerName)
				}
			})
			c.Close()
			e.waitFor("close", func(s *tlsState) bool { return s.closed == 1 })
			e.do(func(s *tlsState) {
				if s.errs[0] != nil {
					t.Errorf("OnClose: %v", s.errs[0])
				}
			})
		})
	}
}

// DialTLS talks to Go's TLS server: data written before the handshake is
// sent after it, the server name comes from the address, the echo comes
// back, and Close sends close_notify (the server reads io.EOF).
func TestTLSDialGoServer(t *testing.T) {
	nl, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := nl.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c) // ends with close_notify: io.EOF is nil here
		srvErr <- err
	}()
	port := nl.Addr().(*net.TCPAddr).Port
	var st tlsState
	var c *stream.Conn[tlsState]
	h := tlsEcho()
	h.OnData = func(s *tlsState, c *stream.Conn[tlsState], in []byte) int {
		s.got = append(s.got, in...)
		return len(in)
	}
	e := start(t, &st, func(l *calloop.Loop[tlsState]) {
		c, err = stream.DialTLS(l, "tcp", "localhost:"+strconv.Itoa(port),
			stream.TLSConfig{Config: &tls.Config{RootCAs: getPKI(t).pool}}, stream.DialConfig{Timeout: 10 * time.Second}, stream.Config{}, h)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.ConnectionState(); ok {
			t.Error("ConnectionState before the handshake")
		}
		c.Write([]byte("early "))
	})
	e.waitFor("open", func(s *tlsState) bool { return s.opened == 1 || s.closed == 1 })
	e.do(func(s *tlsState) {
		if s.opened != 1 {
			t.Fatalf("closed: %v", s.errs)
		}
		if s.states[0].ServerName != "localhost" || s.states[0].Version != tls.VersionTLS13 {
			t.Errorf("state %+v", s.states[0])
		}
		c.Write([]byte("late"))
	})
	e.waitFor("echo", func(s *tlsState) bool { return string(s.got) == "early late" })
	e.do(func(s *tlsState) { c.Close() })
	select {
	case err := <-srvErr:
		if err != nil {
			t.Errorf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no close_notify")
	}
	e.waitFor("close", func(s *tlsState) bool { return s.closed == 1 })
	e.do(func(s *tlsState) {
		if s.errs[0] != nil {
			t.Errorf("OnClose: %v", s.errs[0])
		}
	})
}

// A DialTLS client and a ListenTLS server on the same loop echo 1 MiB.
func TestTLSLoopToLoop(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t)})
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	var got []byte
	h := stream.Handler[tlsState]{
		OnOpen: func(s *tlsState, c *stream.Conn[tlsState]) { c.Write(want) },
		OnData: func(s *tlsState, c *stream.Conn[tlsState], in []byte) int {
			got = append(got, in...)
			if len(got) == len(want) {
				c.Close()
			}
			return len(in)
		},
	}
	e.do(func(s *tlsState) {
		if _, err := stream.DialTLS(e.l, "tcp", addr, stream.TLSConfig{Config: clientTLS(t)}, stream.DialConfig{}, stream.Config{}, h); err != nil {
			t.Fatal(err)
		}
	})
	e.waitFor("echo and close", func(s *tlsState) bool { return s.closed == 1 })
	e.do(func(s *tlsState) {
		if !bytes.Equal(got, want) {
			t.Errorf("got %d bytes, want %d", len(got), len(want))
		}
		if s.errs[0] != nil {
			t.Errorf("server OnClose: %v", s.errs[0])
		}
	})
}

// A peer that sends something else than a ClientHello gets its
// connection closed; OnClose gets a clear handshake error and OnOpen is
// never called.
func TestTLSGarbage(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t)})
	for _, garbage := range []string{"GET / HTTP/1.0\r\n\r\n", "\x16\x03\x01\xff\xff" + strings.Repeat("\x00", 100), "\x80\x2e\x01\x03\x01"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(garbage))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c) // until the server closes
		c.Close()
	}
	e.waitFor("three closes", func(s *tlsState) bool { return s.closed == 3 })
	e.do(func(s *tlsState) {
		if s.opened != 0 {
			t.Errorf("OnOpen called %d times", s.opened)
		}
		for _, err := range s.errs {
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "tls handshake" || !strings.Contains(err.Error(), "tls:") {
				t.Errorf("OnClose error %v, want a tls handshake error", err)
			}
		}
	})
}

// A client that stalls in the middle of its handshake is closed at the
// handshake timeout, with an error wrapping os.ErrDeadlineExceeded; its
// handshake's goroutine ends (TestMain checks for leaks).
func TestTLSHandshakeTimeout(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t), HandshakeTimeout: 150 * time.Millisecond})
	begin := time.Now() // before the connection: the timeout counts from the accept
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01}) // a ClientHello's first bytes
	e.waitFor("close", func(s *tlsState) bool { return s.closed == 1 })
	if took := time.Since(begin); took < 150*time.Millisecond {
		t.Errorf("closed after %v", took)
	}
	e.do(func(s *tlsState) {
		var ne net.Error
		if err := s.errs[0]; !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("OnClose error %v, want a handshake timeout", err)
		}
	})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("the server did not close: %v", err)
	}
}

// A peer that closes in the middle of a record: OnClose gets an error
// wrapping io.ErrUnexpectedEOF (not a clean close).
func TestTLSTruncatedRecord(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t)})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, clientTLS(t))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3, 4, 5}) // 10 of 69 bytes
	raw.(*net.TCPConn).CloseWrite()
	e.waitFor("close", func(s *tlsState) bool { return s.closed == 1 })
	e.do(func(s *tlsState) {
		if err := s.errs[0]; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("OnClose error %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

// Handshakes in flight (stalled ones and complete ones, many at once) do
// not hold up the loop: a plain connection on the same loop keeps being
// served while they are in progress, and every handshake ends (the
// stalled ones when their clients go away).
func TestTLSManyHandshakesPlainServed(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t), HandshakeTimeout: time.Minute})
	var plainAddr string
	e.do(func(s *tlsState) {
		ln, err := stream.Listen(e.l, "tcp", "127.0.0.1:0", stream.Config{}, stream.Handler[tlsState]{
			OnData: func(s *tlsState, c *stream.Conn[tlsState], in []byte) int {
				s.plain++
				c.Write(in)
				return len(in)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		plainAddr = ln.Addr().String()
	})
	const stalled, full = 40, 20
	var stalls []net.Conn
	for range stalled {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x16, 0x03, 0x01})
		stalls = append(stalls, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, full)
	for range full {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", addr, clientTLS(t))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.Write([]byte("x"))
			b := make([]byte, 1)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.ReadFull(c, b); err != nil {
				errs <- err
			}
		}()
	}
	pc, err := net.Dial("tcp", plainAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	b := make([]byte, 3)
	for i := range 50 {
		pc.Write([]byte("abc"))
		pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(pc, b); err != nil {
			t.Fatalf("plain round trip %d with handshakes in flight: %v", i, err)
		}
	}
	e.do(func(s *tlsState) {
		if n := handshakeErrs(s); n > 0 {
			t.Errorf("%d stalled handshakes ended before the plain round trips did: %v", n, s.errs)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.waitFor("the complete handshakes to close", func(s *tlsState) bool { return s.closed == full })
	for _, c := range stalls {
		c.Close()
	}
	e.waitFor("every connection to close", func(s *tlsState) bool { return s.closed == stalled+full })
	e.do(func(s *tlsState) {
		if s.opened != full {
			t.Errorf("opened %d, want %d", s.opened, full)
		}
		if n := handshakeErrs(s); n != stalled {
			t.Errorf("%d handshake errors, want %d: %v", n, stalled, s.errs)
		}
	})
}

func handshakeErrs(s *tlsState) int {
	n := 0
	for _, err := range s.errs {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "tls handshake" {
			n++
		}
	}
	return n
}

// Closing the loop with handshakes in flight (on both sides) ends their
// goroutines and closes every descriptor.
func TestTLSLoopCloseDuringHandshake(t *testing.T) {
	defer goleak.VerifyNone(t)
	before := openFDs(t)
	func() {
		l, err := calloop.New[tlsState]()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ln, err := stream.ListenTLS(l, "tcp", "127.0.0.1:0", stream.TLSConfig{Config: serverTLS(t)}, stream.Config{}, tlsEcho())
		if err != nil {
			t.Fatal(err)
		}
		// A server that accepts and never answers: the client's handshake
		// waits for the ServerHello.
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		if _, err := stream.DialTLS(l, "tcp", nl.Addr().String(), stream.TLSConfig{Config: clientTLS(t)}, stream.DialConfig{}, stream.Config{}, tlsEcho()); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x16, 0x03})
		var st tlsState
		sc, err := nl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		// Dispatch until both handshakes are in progress: the ClientHello
		// reached the silent server, and the stalled client was accepted.
		sc.SetReadDeadline(time.Now().Add(10 * time.Second))
		hello := make(chan error, 1)
		go func() { _, err := sc.Read(make([]byte, 1)); hello <- err }()
		deadline := time.Now().Add(10 * time.Second)
		for done := false; !done; {
			if err := l.Dispatch(10*time.Millisecond, &st); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-hello:
				if err != nil {
					t.Fatal(err)
				}
				done = true
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no ClientHello")
			}
		}
		for range 5 {
			l.Dispatch(10*time.Millisecond, &st)
		}
		if st.opened+st.closed != 0 {
			t.Fatalf("opened %d closed %d", st.opened, st.closed)
		}
	}()
	if n := openFDs(t); n != before {
		t.Errorf("%d descriptors open, %d before", n, before)
	}
}

// Closing a DialTLS connection during its handshake: OnClose(nil), no
// OnOpen, and the handshake's goroutine ends (TestMain checks).
func TestTLSCloseDuringHandshake(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	got := make(chan []byte, 1)
	first := make(chan struct{})
	go func() {
		defer close(got)
		c, err := nl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		close(first)
		rest, _ := io.ReadAll(c) // the rest of the ClientHello, then EOF
		got <- append(b, rest...)
	}()
	var st tlsState
	var c *stream.Conn[tlsState]
	e := start(t, &st, func(l *calloop.Loop[tlsState]) {
		c, err = stream.DialTLS(l, "tcp", nl.Addr().String(), stream.TLSConfig{Config: clientTLS(t)}, stream.DialConfig{}, stream.Config{}, tlsEcho())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("secret")) // never sent in the clear
	})
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no ClientHello")
	}
	e.do(func(s *tlsState) { c.Close() })
	e.waitFor("close", func(s *tlsState) bool { return s.closed == 1 })
	b := <-got
	if len(b) == 0 || b[0] != 0x16 || bytes.Contains(b, []byte("secret")) {
		t.Errorf("the server read %d bytes (first %x), or the plaintext", len(b), b[:min(len(b), 1)])
	}
	e.do(func(s *tlsState) {
		if s.opened != 0 || s.errs[0] != nil {
			t.Errorf("opened %d, OnClose %v", s.opened, s.errs[0])
		}
	})
}

// ListenTLS and DialTLS refuse what cannot work; a plain connection has no
// ConnectionState.
func TestTLSConfigErrors(t *testing.T) {
	l, err := calloop.New[tlsState]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []stream.TLSConfig{{}, {Config: &tls.Config{}}, {Config: serverTLS(t), HandshakeTimeout: -1}} {
		if _, err := stream.ListenTLS(l, "tcp", "127.0.0.1:0", tc, stream.Config{}, tlsEcho()); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("ListenTLS(%+v): %v", tc, err)
		}
	}
	if _, err := stream.DialTLS(l, "unix", "/nonexistent", stream.TLSConfig{}, stream.DialConfig{}, stream.Config{}, tlsEcho()); !errors.Is(err, stream.ErrConfig) {
		t.Errorf("DialTLS to a Unix socket without ServerName: %v", err)
	}
	c, err := stream.Dial(l, "tcp", "127.0.0.1:1", 0, stream.Config{}, tlsEcho())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.ConnectionState(); ok {
		t.Error("ConnectionState of a plain connection")
	}
}

// Plaintext decrypted while reading is paused is kept and offered when
// reading resumes, without more data from the peer (none waits inside
// crypto/tls unseen). The handler pauses after every delivery; a read of
// 256 KiB of records decrypts more than one delivery's worth.
func TestTLSPauseResume(t *testing.T) {
	var st tlsState
	e := start(t, &st, nil)
	var srv *stream.Conn[tlsState]
	var addr string
	deliveries := 0
	e.do(func(s *tlsState) {
		h := tlsEcho()
		h.OnData = func(s *tlsState, c *stream.Conn[tlsState], in []byte) int {
			srv = c
			deliveries++
			s.got = append(s.got, in...)
			c.PauseReading()
			return len(in)
		}
		ln, err := stream.ListenTLS(e.l, "tcp", "127.0.0.1:0", stream.TLSConfig{Config: serverTLS(t)}, stream.Config{ReadSize: 256 << 10}, h)
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
	})
	c, err := tls.Dial("tcp", addr, clientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := bytes.Repeat([]byte("abcdefgh"), 200<<10/8)
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	e.waitFor("first data", func(s *tlsState) bool { return len(s.got) > 0 })
	e.waitFor("all data", func(s *tlsState) bool {
		if srv.ReadClosed() {
			t.Fatal("EOF")
		}
		srv.ResumeReading()
		return len(s.got) >= len(want)
	})
	e.do(func(s *tlsState) {
		if !bytes.Equal(s.got, want) {
			t.Errorf("got %d bytes, not what was sent", len(s.got))
		}
		if deliveries < 2 {
			t.Errorf("%d deliveries", deliveries)
		}
	})
}
