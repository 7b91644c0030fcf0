package calloop_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/calloop-go/calloop"
)

// A task is straight-line code on the loop: it waits on loop timers and
// futures, and between waits it has the loop's state to itself, like any
// callback.
func ExampleSpawn() {
	type App struct{ log []string }
	l, _ := calloop.New[App]()
	defer l.Close()

	calloop.Spawn(l, func(t *calloop.Task[App]) error {
		for i := 1; i <= 3; i++ {
			if err := t.Sleep(time.Millisecond); err != nil {
				return err
			}
			t.State().log = append(t.State().log, fmt.Sprint("tick ", i))
		}
		n, err := calloop.AwaitGo(t, func(ctx context.Context) (int, error) {
			return 42, nil // blocking work, in a goroutine
		})
		if err != nil {
			return err
		}
		t.State().log = append(t.State().log, fmt.Sprint("answer ", n))
		l.Stop()
		return nil
	})

	var app App
	l.Run(context.Background(), &app)
	fmt.Println(strings.Join(app.log, ", "))
	// Output: tick 1, tick 2, tick 3, answer 42
}

// Tasks join each other; cancelling a task makes its pending wait fail.
func ExampleTask_Join() {
	type App struct{}
	l, _ := calloop.New[App]()
	defer l.Close()

	sleeper, _ := calloop.Spawn(l, func(t *calloop.Task[App]) error {
		return t.Sleep(time.Hour) // returns a cancellation error
	})
	calloop.Spawn(l, func(t *calloop.Task[App]) error {
		t.Sleep(time.Millisecond)
		sleeper.Cancel()
		fmt.Println("joined:", t.Join(sleeper))
		l.Stop()
		return nil
	})
	l.Run(context.Background(), &App{})
	// Output: joined: calloop: canceled: context canceled
}

// Recv receives, inside a task, what other goroutines send.
func ExampleRecv() {
	type App struct{ sum int }
	l, _ := calloop.New[App]()
	defer l.Close()

	in, tx, _ := calloop.NewInbox[App, int](l, 16)
	go func() {
		for i := 1; i <= 10; i++ {
			tx.Send(i)
		}
		tx.Close()
	}()
	calloop.Spawn(l, func(t *calloop.Task[App]) error {
		for {
			v, err := calloop.Recv(t, in)
			if err != nil { // closed, after every message
				l.Stop()
				return nil
			}
			t.State().sum += v
		}
	})
	var app App
	l.Run(context.Background(), &app)
	fmt.Println("sum:", app.sum)
	// Output: sum: 55
}
