package resp

import (
	"os"
	"testing"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
