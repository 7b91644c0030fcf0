// Command twenty is the README's "In twenty lines" program: a timer, a
// channel fed by another goroutine, and Ctrl-C through a signal source,
// all on one loop with one shared state. It runs until Ctrl-C.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

type App struct{ ticks, jobs int }

func main() {
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	l.AddTimer(time.Second, func(a *App, _ time.Time) calloop.TimerAction {
		a.ticks++ // direct access to the shared state, no locks
		return calloop.Again(time.Second)
	})
	jobs, _ := calloop.NewChannel(l, func(a *App, job string, ok bool) {
		if ok { // ok is false once, after every sender closed
			a.jobs++
		}
	})
	go func() { jobs.Send("resize"); jobs.Close() }() // Send is safe from any goroutine
	calloop.Notify(l, func(a *App, _ os.Signal) { l.Stop() }, os.Interrupt)

	var app App
	if err := l.Run(context.Background(), &app); err != nil { // until Stop, a failure or ctx done
		log.Fatal(err)
	}
	fmt.Println(app.ticks, "ticks,", app.jobs, "jobs")
}
