//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package process_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
	"github.com/calloop-go/calloop/process"
)

// Stop a child that runs too long: a timer of the loop sends it SIGTERM,
// OnExit reports the signal, and signalling the child after it was reaped
// fails with os.ErrProcessDone (never reaching another process).
func ExampleProcess_Signal() {
	type App struct{ done bool }
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	p, err := process.Start(l, process.Cmd[App]{
		Path: "sleep", Args: []string{"sleep", "60"},
		OnExit: func(a *App, p *process.Process[App], st *os.ProcessState, _ error) {
			a.done = true
			ws := st.Sys().(syscall.WaitStatus)
			fmt.Println("exit code:", st.ExitCode(), "signal:", ws.Signal())
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := l.AddTimer(10*time.Millisecond, func(*App, time.Time) calloop.TimerAction {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			log.Fatal(err)
		}
		return calloop.Drop()
	}); err != nil {
		log.Fatal(err)
	}

	var app App
	for deadline := time.Now().Add(10 * time.Second); !app.done && time.Now().Before(deadline); {
		if err := l.Dispatch(100*time.Millisecond, &app); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("signal after exit:", errors.Is(p.Kill(), os.ErrProcessDone))
	// Output:
	// exit code: -1 signal: terminated
	// signal after exit: true
}
