//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/stream"
)

// A TLS echo server and a TLS client on the same loop. The server's
// certificate is made on the spot (self-signed, for "localhost"); the
// client trusts it. OnOpen comes after the handshake, with the session's
// ConnectionState; OnData sees plaintext and Write encrypts.
func ExampleListenTLS() {
	type App struct{}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	server := stream.TLSConfig{Config: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	ln, err := stream.ListenTLS(l, "tcp", "127.0.0.1:0", server, stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) {
			st, _ := c.ConnectionState()
			fmt.Printf("server: %s, server name %q\n", tls.VersionName(st.Version), st.ServerName)
		},
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			c.Write(in) // echo, encrypted
			return len(in)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	client := stream.TLSConfig{Config: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	_, err = stream.DialTLS(l, "tcp", ln.Addr().String(), client, stream.DialConfig{Timeout: 5 * time.Second}, stream.Config{}, stream.Handler[App]{
		OnOpen: func(a *App, c *stream.Conn[App]) {
			c.WriteString("hello")
		},
		OnData: func(a *App, c *stream.Conn[App], in []byte) int {
			fmt.Printf("client: echo %q\n", in)
			l.Stop()
			return len(in)
		},
		OnClose: func(a *App, c *stream.Conn[App], err error) {
			fmt.Println("client: closed:", err)
			l.Stop()
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Run(ctx, &App{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// server: TLS 1.3, server name "localhost"
	// client: echo "hello"
}
