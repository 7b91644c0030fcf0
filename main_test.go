//go:build linux

package calloop_test

import (
	"os"
	"testing"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

// The conformance tests of the core loop (loop_*_test.go, fd_test.go,
// timer_test.go, idle_test.go, ping_test.go, channel_test.go, source_test.go,
// nest_test.go) check epoll's semantics and use Linux system calls: they run
// on Linux; the kqueue systems only build the package. Their helpers are in
// helpers_test.go; export_test.go lets them observe the loop's internals.

// TestMain fails the whole run if the tests leave a goroutine or a file
// descriptor behind.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}
