//go:build linux

package calloop_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// Wakeup races: pings, channel sends (unbounded and bounded), Wakeup and
// Stop from other goroutines at random moments relative to the loop going
// to sleep, round after round for a fixed time, in both sleep modes. A lost
// wakeup shows as a round that does not end: a watchdog then wakes the loop
// through a socket of its own (the kernel, not the mechanism under test) and
// the test fails with a goroutine dump.

const relRoundLimit = 5 * time.Second

// relDog watches rounds: if one lasts longer than relRoundLimit it records a
// goroutine dump and makes its socket readable.
type relDog struct {
	start  atomic.Int64 // UnixNano of the current round's start; 0: idle
	fired  atomic.Bool
	dump   []byte
	round  atomic.Value // string: what the round was doing
	fds    [2]int
	quit   chan struct{}
	doneWG sync.WaitGroup
}

func relWatchRounds[S any](t *testing.T, l *calloop.Loop[S]) *relDog {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &relDog{fds: [2]int{fds[0], fds[1]}, quit: make(chan struct{})}
	d.round.Store("")
	tok, err := l.AddFD(fds[0], calloop.Readable, calloop.Level, func(*S, calloop.Events) calloop.Action {
		return calloop.Disable
	})
	if err != nil {
		t.Fatal(err)
	}
	d.doneWG.Add(1)
	go func() {
		defer d.doneWG.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-d.quit:
				return
			case <-tick.C:
			}
			s := d.start.Load()
			if s != 0 && time.Since(time.Unix(0, s)) > relRoundLimit && !d.fired.Load() {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				d.dump = buf
				d.fired.Store(true)
				unix.Write(fds[1], []byte{1})
			}
		}
	}()
	t.Cleanup(func() {
		close(d.quit)
		d.doneWG.Wait()
		l.Remove(tok)
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return d
}

func (d *relDog) begin(what string) {
	d.round.Store(what)
	d.start.Store(time.Now().UnixNano())
}

func (d *relDog) end() { d.start.Store(0) }

// check fails the test if the watchdog fired.
func (d *relDog) check(t *testing.T) {
	t.Helper()
	if d.fired.Load() {
		t.Fatalf("round %q did not end within %v (lost wakeup?); goroutines:\n%s",
			d.round.Load(), relRoundLimit, bytes.TrimSpace(d.dump))
	}
}

// relJitter delays the calling goroutine by a random small amount, to land
// its action at different points of the loop's path into the kernel.
func relJitter(r *rand.Rand) {
	switch r.IntN(4) {
	case 0:
	case 1:
		runtime.Gosched()
	case 2:
		for i, n := 0, r.IntN(5000); i < n; i++ {
			_ = i * i
		}
	case 3:
		for i, n := 0, r.IntN(4); i < n; i++ {
			runtime.Gosched()
		}
	}
}

type relWakeState struct {
	pings, msgs, bmsgs int
	lastMsg, lastB     int
	bad                string
}

// TestWakeRaceRounds: one remote action per round, the loop blocking in
// Dispatch(-1) (or Run, for Stop) until it has seen it.
func TestWakeRaceRounds(t *testing.T) {
	budget := 2 * time.Second
	if testing.Short() {
		budget = 300 * time.Millisecond
	}
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[relWakeState](t, opts...)
		dog := relWatchRounds(t, l)
		st := &relWakeState{lastMsg: -1, lastB: -1}
		p, err := calloop.NewPing(l, func(s *relWakeState) { s.pings++ })
		if err != nil {
			t.Fatal(err)
		}
		tx, err := calloop.NewChannel(l, func(s *relWakeState, m int, ok bool) {
			if ok {
				if m != s.lastMsg+1 && s.bad == "" {
					s.bad = fmt.Sprintf("message %d after %d", m, s.lastMsg)
				}
				s.lastMsg = m
				s.msgs++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		btx, err := calloop.NewBoundedChannel(l, 1, func(s *relWakeState, m int, ok bool) {
			if ok {
				if m != s.lastB+1 && s.bad == "" {
					s.bad = fmt.Sprintf("bounded message %d after %d", m, s.lastB)
				}
				s.lastB = m
				s.bmsgs++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		defer btx.Close()

		type job struct {
			kind int
			seed uint64
		}
		jobs := make(chan job)
		done := make(chan error, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the remote side
			defer wg.Done()
			sent, bsent := 0, 0
			for j := range jobs {
				r := rand.New(rand.NewPCG(j.seed, 1))
				relJitter(r)
				var err error
				switch j.kind {
				case 0:
					p.Ping()
				case 1:
					err = tx.Send(sent)
					sent++
				case 2: // the second Send blocks until the loop delivers the first
					if err = btx.Send(bsent); err == nil {
						err = btx.Send(bsent + 1)
					}
					bsent += 2
				case 3:
					l.Wakeup()
				case 4:
					l.Stop()
				}
				done <- err
			}
		}()
		defer func() { close(jobs); wg.Wait() }()

		seed := uint64(time.Now().UnixNano())
		r := rand.New(rand.NewPCG(seed, 2))
		end := time.Now().Add(budget)
		rounds := [5]int{}
		names := [5]string{"ping", "send", "bounded send", "wakeup", "stop"}
		for time.Now().Before(end) {
			kind := r.IntN(5)
			pings, msgs, bmsgs := st.pings, st.msgs, st.bmsgs
			dog.begin(fmt.Sprintf("%s (round %d)", names[kind], rounds[kind]))
			jobs <- job{kind, r.Uint64()}
			var err error
			switch kind {
			case 0:
				for st.pings == pings && err == nil && !dog.fired.Load() {
					err = l.Dispatch(-1, st)
				}
			case 1:
				for st.msgs == msgs && err == nil && !dog.fired.Load() {
					err = l.Dispatch(-1, st)
				}
			case 2:
				for st.bmsgs < bmsgs+2 && err == nil && !dog.fired.Load() {
					err = l.Dispatch(-1, st)
				}
			case 3:
				err = l.Dispatch(-1, st)
			case 4:
				err = l.Run(context.Background(), st)
			}
			if err != nil {
				t.Fatalf("%s round: %v", names[kind], err)
			}
			// The remote side finished its action (a Wakeup or Stop it is
			// still making must not leak into the next round).
			select {
			case err = <-done:
			case <-time.After(relRoundLimit):
				t.Fatalf("%s round: the remote side is stuck", names[kind])
			}
			if err != nil {
				t.Fatalf("%s round: remote: %v", names[kind], err)
			}
			if kind == 3 || kind == 4 {
				// A Wakeup or Stop that landed after Dispatch returned is
				// sticky: consume it so that it cannot end the next round.
				if err := l.Dispatch(0, st); err != nil {
					t.Fatal(err)
				}
				if kind == 4 {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					l.Run(ctx, st) // returns at once, consuming a leftover Stop
				}
			}
			dog.end()
			dog.check(t)
			if st.bad != "" {
				t.Fatalf("seed %d: %s", seed, st.bad)
			}
			rounds[kind]++
		}
		t.Logf("rounds: ping %d, send %d, bounded send %d, wakeup %d, stop %d", rounds[0], rounds[1], rounds[2], rounds[3], rounds[4])
	})
}

// TestWakeRaceManySenders: several goroutines send, ping, wake and stop
// concurrently while Run sleeps and wakes; every message arrives once, in
// each sender's order, and the loop sees the end of every sender.
func TestWakeRaceManySenders(t *testing.T) {
	budget := time.Second
	if testing.Short() {
		budget = 200 * time.Millisecond
	}
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		const senders = 4
		type state struct {
			next   [senders]int
			pings  int
			closed bool
			bad    string
		}
		l := newLoop[state](t, opts...)
		dog := relWatchRounds(t, l)
		tx, err := calloop.NewChannel(l, func(s *state, m [2]int, ok bool) {
			if !ok {
				s.closed = true
				l.Stop()
				return
			}
			if m[1] != s.next[m[0]] && s.bad == "" {
				s.bad = fmt.Sprintf("sender %d: message %d, want %d", m[0], m[1], s.next[m[0]])
			}
			s.next[m[0]] = m[1] + 1
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := calloop.NewPing(l, func(s *state) { s.pings++ })
		if err != nil {
			t.Fatal(err)
		}
		sent := make([]int, senders)
		var wg sync.WaitGroup
		stopAt := time.Now().Add(budget)
		for i := 0; i < senders; i++ {
			c, err := tx.Clone()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func(i int, c *calloop.Sender[[2]int]) {
				defer wg.Done()
				defer c.Close()
				r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
				for time.Now().Before(stopAt) {
					relJitter(r)
					switch r.IntN(8) {
					case 0:
						p.Ping()
					case 1:
						l.Wakeup()
					case 2:
						l.Stop() // Run returns; the driver below runs it again
					default:
						if err := c.Send([2]int{i, sent[i]}); err != nil {
							t.Errorf("Send: %v", err)
							return
						}
						sent[i]++
					}
				}
			}(i, c)
		}
		tx.Close()
		st := &state{}
		dog.begin("many senders")
		runs := 0
		for !st.closed && !dog.fired.Load() {
			if err := l.Run(context.Background(), st); err != nil {
				t.Fatalf("Run: %v", err)
			}
			runs++
		}
		dog.end()
		wg.Wait()
		dog.check(t)
		if st.bad != "" {
			t.Fatal(st.bad)
		}
		for i := range senders {
			if st.next[i] != sent[i] {
				t.Errorf("sender %d: %d of %d messages delivered", i, st.next[i], sent[i])
			}
		}
		t.Logf("%d Run calls, %d pings seen, messages %v", runs, st.pings, sent)
	})
}
