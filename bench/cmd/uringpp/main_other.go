//go:build !linux

// Command uringpp is a Linux-only experiment (io_uring); elsewhere it says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "uringpp: io_uring is Linux only")
	os.Exit(2)
}
