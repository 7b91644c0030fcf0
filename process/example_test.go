//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package process_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/process"
	"github.com/calloop-go/calloop/stream"
)

// Run tr with its input and output on the loop: write to its stdin, read
// its stdout, learn its exit status.
func Example() {
	type App struct {
		out    []byte
		exited bool
		eof    bool
	}
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	p, err := process.Start(l, process.Cmd[App]{
		Path:  "tr",
		Args:  []string{"tr", "a-z", "A-Z"},
		Stdin: &stream.Handler[App]{}, // a pipe we write to
		Stdout: &stream.Handler[App]{
			OnData: func(a *App, c *stream.Conn[App], in []byte) int {
				a.out = append(a.out, in...)
				return len(in)
			},
			OnClose: func(a *App, c *stream.Conn[App], err error) { a.eof = true },
		},
		OnExit: func(a *App, p *process.Process[App], st *os.ProcessState, _ error) {
			a.exited = true
			fmt.Println("exit code:", st.ExitCode())
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	p.Stdin().WriteString("hello from the loop\n")
	p.Stdin().Close() // tr reads EOF and exits

	var app App
	deadline := time.Now().Add(10 * time.Second)
	for !(app.exited && app.eof) && time.Now().Before(deadline) {
		if err := l.Dispatch(100*time.Millisecond, &app); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("output: %s", app.out)
	// Output:
	// exit code: 0
	// output: HELLO FROM THE LOOP
}
