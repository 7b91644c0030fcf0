//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// Ctrl-C ends the program: Run returns after the signal source calls Stop.
func TestInterruptEndsRun(t *testing.T) {
	// Catching SIGINT here too keeps an interrupt sent before main's
	// Notify from killing the test; after it, every interrupt reaches the
	// loop as well. So keep sending until main returns.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	done := make(chan struct{})
	go func() { defer close(done); main() }()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline:
			t.Fatal("main did not return within 30s of repeated interrupts")
		case <-tick.C:
			syscall.Kill(os.Getpid(), syscall.SIGINT)
		}
	}
}
