//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

// Command termapp is an interactive terminal program on one calloop loop: a
// live clock on a loop timer, an HTTP fetch running as a future while the
// clock keeps ticking, and the terminal's input as one composite source
// (the tty descriptor, an escape-sequence timeout timer and a SIGWINCH
// watch, see input.go) that emits flows of keys and window sizes. The keys
// are mapped to commands, the sizes debounced (a window being dragged
// sends a burst of SIGWINCH; the screen is redrawn once it settles), and
// both merged into one flow of commands with one sink and one token. All
// the program's state is one struct, touched only by the loop's callbacks.
//
// Keys: f fetches the -url, q or Ctrl-C quits; the last key is shown, by
// name for arrows, Esc and control keys.
//
//	go run ./cmd/termapp -url https://example.com
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

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
	last       string // the last key
}

// command is what the input flow carries to the sink: keys mapped to what
// they do, and debounced window sizes.
type command struct {
	kind cmdKind
	key  string
	size size
}

type cmdKind uint8

const (
	cmdKey cmdKind = iota // a key with no action: shown and counted
	cmdFetch
	cmdQuit
	cmdResize
)

// resizeSettle is how long the window size must stay put before a redraw.
const resizeSettle = 30 * time.Millisecond

// escTimeout is how long an ESC byte waits for the rest of a sequence.
const escTimeout = 25 * time.Millisecond

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
	a := &app{l: l, out: out, url: *url, tick: *tick, fetch: "press f", last: "none"}

	if _, err := l.AddTimer(0, a.onTick); err != nil {
		return a.fail(errOut, err)
	}
	term, err := newTerminal(l, fd, int(out.Fd()), escTimeout)
	if err != nil {
		return a.fail(errOut, err)
	}
	if sz, err := term.Size(); err == nil {
		a.cols, a.rows = sz.cols, sz.rows
	}
	cmds := calloop.Merge(
		calloop.MapFlow(term.Keys(), keyCommand),
		calloop.MapFlow(term.Sizes().Debounce(resizeSettle), func(_ *app, sz size) command {
			return command{kind: cmdResize, size: sz}
		}))
	if err := cmds.Adopt(term.Token()); err != nil { // one token for all the input
		return a.fail(errOut, err)
	}
	if _, err := cmds.Sink(a.onCommand); err != nil {
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

// keyCommand maps a key to what it does (the Map stage of the input flow).
func keyCommand(_ *app, k string) command {
	switch k {
	case "q", "Q", "Ctrl-C", "EOF": // raw mode delivers Ctrl-C as a byte
		return command{kind: cmdQuit, key: k}
	case "f", "F":
		return command{kind: cmdFetch, key: k}
	}
	return command{kind: cmdKey, key: k}
}

// onCommand is the sink of the input flow.
func (a *app) onCommand(_ *app, c command, ok bool) {
	if !ok {
		return
	}
	switch c.kind {
	case cmdResize:
		a.cols, a.rows = c.size.cols, c.size.rows
	case cmdQuit:
		a.keys++
		a.l.Stop()
		return
	case cmdFetch:
		a.keys++
		a.last = c.key
		a.startFetch()
	default:
		a.keys++
		a.last = c.key
	}
	a.render()
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

// render redraws the screen.
func (a *app) render() {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "calloop termapp\r\n")
	fmt.Fprintf(&b, "time  %s  ticks %d\r\n", a.now.Format("15:04:05.000"), a.ticks)
	fmt.Fprintf(&b, "size  %dx%d\r\n", a.cols, a.rows)
	fmt.Fprintf(&b, "fetch %s: %s\r\n", a.url, a.fetch)
	fmt.Fprintf(&b, "input %s\r\n", a.last)
	fmt.Fprintf(&b, "keys  f fetch, q quit (%d pressed)\r\n", a.keys)
	io.WriteString(a.out, b.String())
}
