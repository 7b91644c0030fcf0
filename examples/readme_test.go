// Package examples holds the README's Go code as programs under
// examples/*/, which go vet and go test compile; this test keeps the
// README's snippets identical to them.
package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calloop-go/calloop/internal/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(m))
}

// Every ```go block of README.md and cmd/*/README.md is a verbatim part of
// one examples/*/main.go.
func TestREADMESnippetsCompile(t *testing.T) {
	readmes, err := filepath.Glob("../cmd/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	readmes = append(readmes, "../README.md")
	programs, err := filepath.Glob("*/main.go")
	if err != nil || len(programs) == 0 {
		t.Fatalf("no examples/*/main.go (%v)", err)
	}
	sources := map[string]string{}
	for _, p := range programs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sources[p] = string(b)
	}
	n := 0
	for _, readme := range readmes {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for i, snippet := range goBlocks(string(b)) {
			n++
			found := false
			for _, src := range sources {
				found = found || strings.Contains(src, snippet)
			}
			if !found {
				t.Errorf("%s: Go block %d is in no examples/*/main.go; copy it there, verbatim, inside a program that compiles:\n%s",
					readme, i+1, snippet)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no Go block in the READMEs: has the fence changed?")
	}
}

// goBlocks returns the bodies of the ```go fenced blocks of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	var cur []string
	in := false
	for line := range strings.Lines(md) {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```go":
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, ""))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}
