//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

// Command termapp is an interactive terminal program on one calloop loop: a
// live clock on a loop timer, the window size (SIGWINCH through a signal
// source), raw-mode keys from standard input as a descriptor source, and an
// HTTP fetch running as a future while the clock keeps ticking. All its
// state is one struct, touched only by the loop's callbacks.
//
// Keys: f fetches the -url, q or Ctrl-C quits.
//
//	go run ./cmd/termapp -url https://example.com
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// app is the whole state of the program.
type app struct {
	l    *calloop.Loop[app]
	out  io.Writer
	url  string
	tick time.Duration

	now        time.Time
	ticks      int
	cols, rows int
	fetch      string                  // status line of the last fetch
	pending    *calloop.Future[string] // the fetch in flight, if any
	keys       int
}

func run(args []string, in, out, errOut *os.File) int {
	fs := flag.NewFlagSet("termapp", flag.ContinueOnError)
	fs.SetOutput(errOut)
	url := fs.String("url", "https://example.com/", "the URL that f fetches")
	tick := fs.Duration("tick", time.Second, "clock update interval")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tick <= 0 {
		fmt.Fprintln(errOut, "termapp: -tick must be positive")
		return 2
	}
	fd := int(in.Fd())
	restore, err := makeRaw(fd)
	if err != nil {
		fmt.Fprintln(errOut, "termapp: standard input is not a terminal:", err)
		return 1
	}
	defer restore()

	l, err := calloop.New[app]()
	if err != nil {
		fmt.Fprintln(errOut, "termapp:", err)
		return 1
	}
	defer l.Close()
	a := &app{l: l, out: out, url: *url, tick: *tick, fetch: "press f"}
	a.resize(int(out.Fd()))

	if _, err := l.AddTimer(0, a.onTick); err != nil {
		return a.fail(errOut, err)
	}
	if _, err := l.AddFD(fd, calloop.Readable, calloop.Level, a.onKeys); err != nil {
		return a.fail(errOut, err)
	}
	if _, err := calloop.Notify(l, func(a *app, _ os.Signal) {
		a.resize(int(out.Fd()))
		a.render()
	}, syscall.SIGWINCH); err != nil {
		return a.fail(errOut, err)
	}
	if _, err := calloop.Notify(l, func(a *app, _ os.Signal) { l.Stop() }, os.Interrupt, syscall.SIGTERM); err != nil {
		return a.fail(errOut, err)
	}
	err = l.Run(context.Background(), a)
	if a.pending != nil {
		a.pending.Cancel()
	}
	fmt.Fprint(out, "\r\nbye\r\n")
	if err != nil {
		return a.fail(errOut, err)
	}
	return 0
}

func (a *app) fail(w io.Writer, err error) int {
	fmt.Fprint(a.out, "\r\n")
	fmt.Fprintln(w, "termapp:", err)
	return 1
}

// onTick updates the clock; the period does not drift.
func (a *app) onTick(_ *app, deadline time.Time) calloop.TimerAction {
	a.now = a.l.Now()
	a.ticks++
	a.render()
	return calloop.At(deadline.Add(a.tick))
}

// onKeys reads what the terminal sent (raw mode: byte by byte, no echo).
func (a *app) onKeys(_ *app, ev calloop.Events) calloop.Action {
	var buf [64]byte
	n, err := unix.Read(int(os.Stdin.Fd()), buf[:])
	if n <= 0 || err != nil {
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			a.l.Stop() // end of input or a broken terminal
		}
		return calloop.Continue
	}
	for _, k := range buf[:n] {
		a.keys++
		switch k {
		case 'q', 'Q', 3: // 3: Ctrl-C, which raw mode delivers as a byte
			a.l.Stop()
			return calloop.Continue
		case 'f', 'F':
			a.startFetch()
		}
	}
	a.render()
	return calloop.Continue
}

// startFetch fetches the URL in a goroutine; the loop keeps running.
func (a *app) startFetch() {
	if a.pending != nil {
		return
	}
	url := a.url
	f, err := calloop.Go(a.l, func(ctx context.Context) (string, error) {
		return fetch(ctx, url)
	}, func(a *app, summary string, err error) {
		a.pending = nil
		if err != nil {
			a.fetch = "error: " + err.Error()
		} else {
			a.fetch = summary
		}
		a.render()
	})
	if err != nil {
		a.fetch = "error: " + err.Error()
		return
	}
	a.pending = f
	a.fetch = "pending"
}

// fetch is the blocking work: an HTTP GET, summarised.
func fetch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	first := strings.Join(strings.Fields(string(body)), " ")
	if len(first) > 60 {
		first = first[:60] + "..."
	}
	return fmt.Sprintf("%s, %d bytes: %s", resp.Status, len(body), first), nil
}

func (a *app) resize(fd int) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err == nil {
		a.cols, a.rows = int(ws.Col), int(ws.Row)
	}
}

// render redraws the screen.
func (a *app) render() {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "calloop termapp\r\n")
	fmt.Fprintf(&b, "time  %s  ticks %d\r\n", a.now.Format("15:04:05.000"), a.ticks)
	fmt.Fprintf(&b, "size  %dx%d\r\n", a.cols, a.rows)
	fmt.Fprintf(&b, "fetch %s: %s\r\n", a.url, a.fetch)
	fmt.Fprintf(&b, "keys  f fetch, q quit (%d pressed)\r\n", a.keys)
	io.WriteString(a.out, b.String())
}
