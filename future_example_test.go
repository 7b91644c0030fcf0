package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/calloop-go/calloop"
)

// Work runs in a goroutine; its result is delivered to a callback on the
// loop, with the loop's state.
func ExampleGo() {
	type App struct{ words int }
	l, _ := calloop.New[App]()
	defer l.Close()

	calloop.Go(l, func(ctx context.Context) (int, error) {
		return len(strings.Fields("the quick brown fox")), nil // blocking work goes here
	}, func(a *App, n int, err error) {
		a.words = n // on the loop goroutine: no lock
		l.Stop()
	})

	var app App
	l.Run(context.Background(), &app)
	fmt.Println("words:", app.words)
	// Output: words: 4
}

// A future cancelled from any goroutine is resolved at once with an error
// wrapping context.Canceled; its work sees its context cancelled.
func ExampleFuture_Cancel() {
	type App struct{}
	l, _ := calloop.New[App]()
	defer l.Close()

	f, _ := calloop.Go(l, func(ctx context.Context) (string, error) {
		<-ctx.Done() // a long request
		return "", ctx.Err()
	}, func(_ *App, v string, err error) {
		fmt.Println("canceled:", errors.Is(err, context.Canceled))
		l.Stop()
	})
	go f.Cancel()

	l.Run(context.Background(), &App{})
	// Output: canceled: true
}

// Combinators read as one expression: two lookups in parallel, their
// results combined, the whole bounded by a loop timer.
func ExampleAll() {
	type App struct{ total int }
	l, _ := calloop.New[App]()
	defer l.Close()

	price := func(item string, cents int) *calloop.Future[int] {
		f, _ := calloop.Go(l, func(ctx context.Context) (int, error) { return cents, nil }, nil)
		return f
	}
	total := calloop.Timeout(
		calloop.Map(calloop.All(price("tea", 250), price("cake", 400)),
			func(ps []int) (int, error) { return ps[0] + ps[1], nil }),
		time.Second)

	calloop.When(l, total, func(a *App, cents int, err error) {
		a.total = cents
		l.Stop()
	})
	var app App
	l.Run(context.Background(), &app)
	fmt.Println("total:", app.total)
	// Output: total: 650
}

// Timeout fails a future that takes too long, and cancels its work.
func ExampleTimeout() {
	type App struct{}
	l, _ := calloop.New[App]()
	defer l.Close()

	slow, _ := calloop.Go(l, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, nil)
	calloop.When(l, calloop.Timeout(slow, 10*time.Millisecond), func(_ *App, _ int, err error) {
		fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
		l.Stop()
	})
	l.Run(context.Background(), &App{})
	// Output: deadline exceeded: true
}

// First races futures: the first resolved wins and the others are
// cancelled.
func ExampleFirst() {
	type App struct{}
	l, _ := calloop.New[App]()
	defer l.Close()

	mirror := func(name string, wait bool) *calloop.Future[string] {
		f, _ := calloop.Go(l, func(ctx context.Context) (string, error) {
			if wait {
				<-ctx.Done()
				return "", ctx.Err()
			}
			return name, nil
		}, nil)
		return f
	}
	calloop.When(l, calloop.First(mirror("slow", true), mirror("fast", false)), func(_ *App, v string, err error) {
		fmt.Println("winner:", v)
		l.Stop()
	})
	l.Run(context.Background(), &App{})
	// Output: winner: fast
}
