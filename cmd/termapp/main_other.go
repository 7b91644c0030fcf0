//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

// Command termapp needs a Unix terminal; on other systems it says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "termapp needs a Unix terminal")
	os.Exit(1)
}
