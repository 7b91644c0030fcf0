//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package stream_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calloop-go/calloop/stream"
)

// openssl s_client talks to a ListenTLS server, verifying its certificate
// with TLS 1.3 and TLS 1.2: each line it sends comes back. openssl is
// installed by scripts/prereqs.sh.
func TestTLSOpenSSLClient(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found (scripts/prereqs.sh installs it):", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, getPKI(t).caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var st tlsState
	e := start(t, &st, nil)
	addr := listenTLS(t, e, stream.TLSConfig{Config: serverTLS(t)})
	for i, v := range []string{"-tls1_3", "-tls1_2"} {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", addr, "-servername", "localhost",
				"-CAfile", ca, "-verify_return_error", "-quiet", v)
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			for _, line := range []string{"hello over TLS", strings.Repeat("x", 20000)} {
				if _, err := in.Write([]byte(line + "\n")); err != nil {
					t.Fatal(err)
				}
				got, err := r.ReadString('\n')
				if err != nil || got != line+"\n" {
					t.Fatalf("read %.40q, %v; openssl: %s", got, err, stderr.String())
				}
			}
			in.Close()
			cancel() // -quiet ignores the end of its input: stop it
			cmd.Wait()
			e.waitFor("open", func(s *tlsState) bool { return s.opened == i+1 })
			e.do(func(s *tlsState) {
				want := map[string]uint16{"-tls1_3": 0x0304, "-tls1_2": 0x0303}[v]
				if got := s.states[i].Version; got != want {
					t.Errorf("version %x, want %x", got, want)
				}
			})
		})
	}
}
