package main

import (
	"os"
	"testing"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// The program ends by itself: Run returns once the task is done.
func Example() {
	main()
	// Output: [tick 1 tick 2 tick 3] 42
}
