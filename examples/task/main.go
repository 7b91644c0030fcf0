// Command task is the README's task example: a coroutine on the loop that
// sleeps on loop timers, hands blocking work to a goroutine, writes the
// shared state between awaits, and ends the program when it is done.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/calloop-go/calloop"
)

type App struct {
	log    []string
	answer int
}

func main() {
	l, err := calloop.New[App]()
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	_, err = calloop.Spawn(l, func(t *calloop.Task[App]) error {
		for i := 1; i <= 3; i++ {
			if err := t.Sleep(time.Millisecond); err != nil { // a loop timer, no goroutine sleeps
				return err
			}
			t.State().log = append(t.State().log, fmt.Sprint("tick ", i)) // *S, between awaits
		}
		n, err := calloop.AwaitGo(t, func(ctx context.Context) (int, error) {
			return fetchAnswer(ctx) // blocking work, in a goroutine
		})
		if err != nil {
			return err // an error nobody joins fails the loop: Run returns it
		}
		t.State().answer = n
		l.Stop() // done: Run returns nil
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	var app App
	if err := l.Run(context.Background(), &app); err != nil {
		log.Fatal(err)
	}
	fmt.Println(app.log, app.answer)
}

// fetchAnswer stands for any blocking call: a query, a file, a computation.
func fetchAnswer(ctx context.Context) (int, error) {
	select {
	case <-time.After(10 * time.Millisecond):
		return 42, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
