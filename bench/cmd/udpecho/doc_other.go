//go:build !linux

// Command udpecho is the udp-echo workload; it runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "udpecho: Linux only")
	os.Exit(1)
}
