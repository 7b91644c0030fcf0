//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package calloop_test

import (
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/calloop-go/calloop"
)

// Exporting a loop's figures with expvar: they appear under /debug/vars of
// a program that serves http.DefaultServeMux. Stats is safe from the HTTP
// server's goroutines. (A virtual clock makes the durations exact here.)
func ExampleLoop_Stats() {
	type App struct{}
	clock := calloop.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l, err := calloop.New[App](calloop.WithStats(), calloop.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	expvar.Publish("calloop_example", expvar.Func(func() any { return l.Stats() }))

	l.AddTimer(time.Second, func(*App, time.Time) calloop.TimerAction {
		clock.Advance(20 * time.Millisecond) // a callback that takes 20 ms
		return calloop.Drop()
	})
	var app App
	clock.Advance(1500 * time.Millisecond) // the timer is 500 ms late
	l.Dispatch(0, &app)

	fmt.Println(expvar.Get("calloop_example"))
	// Output:
	// {"Iterations":1,"FDEvents":0,"SourceEvents":0,"TimersFired":1,"IdlesRun":0,"Callbacks":1,"CallbackTime":20000000,"Wait":0,"Busy":0,"Queued":0,"Idles":0,"Timers":0,"MaxCallback":20000000,"MaxTimerLag":500000000,"TimerLag":500000000,"WindowMaxCallback":0,"WindowMaxTimerLag":0}
}

// Logging slow callbacks with log/slog. The hook runs on the loop's
// goroutine right after the slow callback returns. (A virtual clock makes
// the callback's duration exact here; time is left out of the log lines.)
func ExampleWithSlowCallback() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	type App struct{}
	clock := calloop.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l, err := calloop.New[App](calloop.WithClock(clock),
		calloop.WithSlowCallback(100*time.Millisecond, func(c calloop.SlowCallback) {
			logger.Warn("slow callback", "source", c.Name, "kind", c.Kind, "duration", c.Duration)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	fast, _ := calloop.NewPing(l, func(*App) {})
	slow, _ := calloop.NewPing(l, func(*App) { clock.Advance(250 * time.Millisecond) })
	l.SetName(slow.Token(), "report generator")
	fast.Ping()
	slow.Ping()
	var app App
	l.Dispatch(0, &app)
	// Output:
	// level=WARN msg="slow callback" source="report generator" kind=source duration=250ms
}

// A virtual clock drives a loop's timers: they fire when the program moves
// the clock, in order, with no real sleeping.
func ExampleVirtualClock() {
	type App struct{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := calloop.NewVirtualClock(start)
	l, err := calloop.New[App](calloop.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	for _, d := range []time.Duration{time.Hour, time.Minute, 24 * time.Hour} {
		l.AddTimer(d, func(a *App, deadline time.Time) calloop.TimerAction {
			fmt.Println("fired", deadline.Sub(start), "at", l.Now().Sub(start))
			return calloop.Drop()
		})
	}
	var app App
	for range 3 {
		clock.Advance(90 * time.Minute)
		l.Dispatch(0, &app)
	}
	clock.Set(start.Add(48 * time.Hour))
	l.Dispatch(0, &app)
	// Output:
	// fired 1m0s at 1h30m0s
	// fired 1h0m0s at 1h30m0s
	// fired 24h0m0s at 48h0m0s
}

// Two readers of a loop's figures, each with a window of its own: a
// logger reads the longest callback of every period, and an exporter's
// reads elsewhere take nothing from it. (A virtual clock makes the
// durations exact here.)
func ExampleStatsReader() {
	type App struct{}
	clock := calloop.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l, err := calloop.New[App](calloop.WithStats(), calloop.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	logger, exporter := l.NewStatsReader(), l.NewStatsReader()
	defer logger.Close()
	defer exporter.Close()

	var app App
	work := func(d time.Duration) {
		l.AddIdle(func(*App) { clock.Advance(d) }) // a callback that takes d
		l.Dispatch(0, &app)
	}
	work(30 * time.Millisecond)
	exporter.Read() // the exporter's window ends here; the logger's goes on
	work(10 * time.Millisecond)
	st := logger.Read()
	fmt.Println("logger window:", st.WindowMaxCallback, "overall:", st.MaxCallback)
	work(20 * time.Millisecond)
	fmt.Println("logger window:", logger.Read().WindowMaxCallback)
	fmt.Println("exporter window:", exporter.Read().WindowMaxCallback)
	// Output:
	// logger window: 30ms overall: 30ms
	// logger window: 20ms
	// exporter window: 20ms
}
