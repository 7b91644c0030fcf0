// Command demo shows a calloop loop at work. One goroutine runs the loop and
// owns the state; the loop has three sources:
//
//   - a timer that prints a clock line every second, with the workers'
//     progress;
//   - a channel fed by three worker goroutines, which send progress messages
//     and close their senders when they are done;
//   - a signal source for Ctrl-C (SIGINT) and SIGTERM, which stops the loop.
//
// When the loop stops, the program stops its workers, waits for them, closes
// the loop and exits with status 0.
//
// Usage:
//
//	demo [-duration d] [-pace p]
//
// With -duration, the demo also stops by itself after d (0, the default,
// runs until Ctrl-C). -pace sets the workers' speed: worker i sends a
// message every (1.5+i)*p (default 100ms).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/calloop-go/calloop"
)

// workers is the number of worker goroutines.
const workers = 3

// app is the state every callback shares: no locks, the loop runs one
// callback at a time.
type app struct {
	out      io.Writer
	done     [workers]int // steps done, by worker
	steps    [workers]int // steps to do, by worker
	finished bool         // every worker closed its sender
}

// progress is a worker's message: it has done step of steps.
type progress struct{ worker, step, steps int }

func main() {
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	pace := flag.Duration("pace", 100*time.Millisecond, "worker i sends a message every (1.5+i)*pace")
	flag.Parse()
	if *pace <= 0 {
		fmt.Fprintln(os.Stderr, "demo: -pace must be positive")
		os.Exit(2)
	}
	if err := run(*duration, *pace, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run runs the demo until a signal, or until duration has passed if it is
// positive, and writes its lines to out. pace sets the workers' speed.
func run(duration, pace time.Duration, out io.Writer) error {
	l, err := calloop.New[app]()
	if err != nil {
		return err
	}
	defer l.Close() // on the error paths; Close is idempotent
	a := &app{out: out}
	for i := range workers {
		a.steps[i] = stepsOf(i)
	}

	// The clock: now, then on every whole second.
	next := time.Now()
	if _, err := l.AddTimerAt(next, func(a *app, deadline time.Time) calloop.TimerAction {
		fmt.Fprintf(a.out, "clock %s  %s\n", time.Now().Format("15:04:05"), a.status())
		return calloop.At(deadline.Truncate(time.Second).Add(time.Second))
	}); err != nil {
		return err
	}

	// The workers' channel.
	tx, err := calloop.NewChannel(l, func(a *app, p progress, ok bool) {
		if !ok {
			a.finished = true
			fmt.Fprintln(a.out, "all workers finished")
			return
		}
		a.done[p.worker] = p.step
		fmt.Fprintf(a.out, "worker %d: step %d of %d\n", p.worker+1, p.step, p.steps)
	})
	if err != nil {
		return err
	}

	// Ctrl-C and SIGTERM stop the loop.
	if _, err := calloop.Notify(l, func(a *app, sig os.Signal) {
		fmt.Fprintf(a.out, "%v: stopping\n", sig)
		l.Stop()
	}, os.Interrupt, syscall.SIGTERM); err != nil {
		return err
	}

	if duration > 0 {
		if _, err := l.AddTimer(duration, func(a *app, _ time.Time) calloop.TimerAction {
			fmt.Fprintln(a.out, "time is up: stopping")
			l.Stop()
			return calloop.Drop()
		}); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range workers {
		w, err := tx.Clone()
		if err != nil {
			cancel()
			return err
		}
		wg.Go(func() { work(ctx, w, i, pace*time.Duration(3+2*i)/2) })
	}
	tx.Close() // the workers hold the open senders now

	fmt.Fprintln(out, "running; press Ctrl-C to stop")
	err = l.Run(context.Background(), a)

	cancel()
	wg.Wait()
	err = errors.Join(err, l.Close())
	fmt.Fprintln(out, "bye")
	return err
}

// status renders the workers' progress.
func (a *app) status() string {
	if a.finished {
		return "workers: all finished"
	}
	var b strings.Builder
	b.WriteString("workers:")
	for i := range workers {
		fmt.Fprintf(&b, " %d/%d", a.done[i], a.steps[i])
	}
	return b.String()
}

// stepsOf returns how many steps worker i does.
func stepsOf(i int) int { return 10 + 5*i }

// work is worker i: it sends a progress message every period until it is
// done or ctx is cancelled, then closes its sender.
func work(ctx context.Context, tx *calloop.Sender[progress], i int, period time.Duration) {
	defer tx.Close()
	steps := stepsOf(i)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for step := 1; step <= steps; step++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if tx.Send(progress{worker: i, step: step, steps: steps}) != nil {
			return // the loop is gone
		}
	}
}
