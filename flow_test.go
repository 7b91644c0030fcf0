//go:build linux

package calloop_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

// flowLog collects what a sink receives.
type flowLog[T any] struct {
	vals  []T
	ends  int
	after int // values received after the end (must stay 0)
}

func (g *flowLog[T]) sink(_ *int, v T, ok bool) {
	switch {
	case !ok:
		g.ends++
	case g.ends > 0:
		g.after++
	default:
		g.vals = append(g.vals, v)
	}
}

func (g *flowLog[T]) check(t *testing.T, want []T, ends int) {
	t.Helper()
	if len(want) == 0 && len(g.vals) == 0 {
		want = g.vals
	}
	if !reflect.DeepEqual(g.vals, want) || g.ends != ends || g.after != 0 {
		t.Fatalf("got %v (ends %d, after end %d), want %v (ends %d)", g.vals, g.ends, g.after, want, ends)
	}
}

func sendAll(t *testing.T, tx *calloop.Sender[int], vs ...int) {
	t.Helper()
	for _, v := range vs {
		must(t, tx.Send(v))
	}
}

func TestFlowMapFilterSink(t *testing.T) {
	l := newLoop[int](t)
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	var g flowLog[string]
	var s int
	tok, err := calloop.MapFlow(f.Filter(func(s *int, v int) bool {
		*s += v // stages get the state
		return v%2 == 0
	}), func(_ *int, v int) string { return fmt.Sprint("v", v) }).Sink(g.sink)
	must(t, err)
	sendAll(t, tx, 1, 2, 3, 4, 5, 6)
	must(t, tx.Close())
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
	g.check(t, []string{"v2", "v4", "v6"}, 1)
	if s != 21 {
		t.Fatalf("state %d, want 21", s)
	}
	// The end removed the pipeline: the sink's token, the channel.
	if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("Remove after the end: %v", err)
	}
	if err := l.Remove(tx.Token()); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("the channel outlived its pipeline: %v", err)
	}
}

func TestFlowSilentUntilConsumed(t *testing.T) {
	l := newLoop[int](t)
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	defer tx.Close()
	tk, err := calloop.TickerFlow(l, time.Millisecond)
	must(t, err)
	sendAll(t, tx, 1, 2, 3)
	var s int
	for range 5 {
		must(t, l.Dispatch(5*time.Millisecond, &s))
	}
	// Nothing was lost meanwhile: the messages wait in the channel.
	var g flowLog[int]
	_, err = f.Sink(g.sink)
	must(t, err)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 3 })
	g.check(t, []int{1, 2, 3}, 0)
	// A ticker consumed late fires at once, then every period, and drops
	// the ticks it missed rather than catching up.
	var ticks flowLog[time.Time]
	_, err = tk.Take(3).Sink(ticks.sink)
	must(t, err)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ticks.ends > 0 })
	if len(ticks.vals) != 3 {
		t.Fatalf("%d ticks", len(ticks.vals))
	}
	for i := 1; i < 3; i++ {
		if d := ticks.vals[i].Sub(ticks.vals[i-1]); d < time.Millisecond {
			t.Fatalf("ticks %v apart", d)
		}
	}
}

func TestFlowTake(t *testing.T) {
	l := newLoop[int](t)
	var s int
	t.Run("n", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[int]
		_, err = f.Take(2).Sink(g.sink)
		must(t, err)
		sendAll(t, tx, 1, 2, 3, 4)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		g.check(t, []int{1, 2}, 1)
		// The pipeline, the channel with it, is gone: sends fail.
		if err := tx.Send(5); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send after Take's end: %v", err)
		}
		tx.Close()
	})
	t.Run("zero", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		sendAll(t, tx, 1)
		var g flowLog[int]
		tok, err := f.Take(0).Sink(g.sink)
		must(t, err)
		g.check(t, nil, 0) // told in the next iteration, not inside Sink
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		must(t, l.Dispatch(0, &s))
		g.check(t, nil, 1)
		if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("Take(0) pipeline still there: %v", err)
		}
		tx.Close()
	})
	t.Run("zero-paused", func(t *testing.T) {
		// Take(0) consumed and paused at once: the end waits for Enable.
		f, _, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[int]
		tok, err := f.Take(0).Sink(g.sink)
		must(t, err)
		must(t, l.Disable(tok))
		for range 3 {
			must(t, l.Dispatch(0, &s))
		}
		g.check(t, nil, 0)
		must(t, l.Enable(tok))
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
	})
	t.Run("upstream-ends-first", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[int]
		_, err = f.Take(10).Sink(g.sink)
		must(t, err)
		sendAll(t, tx, 7)
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		g.check(t, []int{7}, 1)
	})
	t.Run("negative", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		src := f.Token()
		if _, err := f.Take(-1).Sink(func(*int, int, bool) {}); err == nil {
			t.Fatal("Take(-1) accepted")
		}
		// The input went with the failed pipeline.
		if err := l.Remove(src); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("input left behind: %v", err)
		}
		if err := tx.Send(1); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send: %v", err)
		}
	})
}

func TestFlowBatch(t *testing.T) {
	l := newLoop[int](t)
	var s int
	t.Run("count", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[[]int]
		_, err = calloop.Batch(f, 3, 0).Sink(g.sink)
		must(t, err)
		sendAll(t, tx, 1, 2, 3, 4, 5, 6, 7)
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		// The partial batch is flushed by the close, before the end.
		g.check(t, [][]int{{1, 2, 3}, {4, 5, 6}, {7}}, 1)
		// Batches are the consumer's to keep: not overwritten.
		g.vals[0][0] = 100
		if g.vals[1][0] != 4 {
			t.Fatal("batches share memory")
		}
	})
	t.Run("time", func(t *testing.T) {
		const d = 30 * time.Millisecond
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[[]int]
		var at time.Time
		_, err = calloop.Batch(f, 0, d).Sink(func(s *int, v []int, ok bool) {
			if ok {
				at = time.Now()
			}
			g.sink(s, v, ok)
		})
		must(t, err)
		start := time.Now()
		em.Emit(&s, 1)
		em.Emit(&s, 2)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
		if el := at.Sub(start); el < d {
			t.Fatalf("time batch after %v, before its %v", el, d)
		}
		em.Emit(&s, 3)
		em.End(&s) // flushed by the end, without waiting
		g.check(t, [][]int{{1, 2}, {3}}, 1)
	})
	t.Run("count-or-time", func(t *testing.T) {
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[[]int]
		tok, err := calloop.Batch(f, 2, 10*time.Millisecond).Sink(g.sink)
		must(t, err)
		for i := 1; i <= 5; i++ {
			em.Emit(&s, i)
		}
		g.check(t, [][]int{{1, 2}, {3, 4}}, 0)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 3 })
		g.check(t, [][]int{{1, 2}, {3, 4}, {5}}, 0)
		must(t, l.Remove(tok))
	})
	t.Run("huge-count", func(t *testing.T) {
		// A count of MaxInt does not allocate MaxInt up front.
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[[]int]
		_, err = calloop.Batch(f, math.MaxInt, 0).Sink(g.sink)
		must(t, err)
		em.Emit(&s, 1)
		em.End(&s)
		g.check(t, [][]int{{1}}, 1)
	})
	t.Run("invalid", func(t *testing.T) {
		for _, c := range []struct {
			n int
			d time.Duration
		}{{0, 0}, {-1, time.Second}, {1, -1}, {math.MinInt, 0}} {
			f, _, err := calloop.NewFlow[int, int](l)
			must(t, err)
			if _, err := calloop.Batch(f, c.n, c.d).Sink(func(*int, []int, bool) {}); err == nil {
				t.Fatalf("Batch(%d, %v) accepted", c.n, c.d)
			}
		}
	})
}

func TestFlowDebounce(t *testing.T) {
	l := newLoop[int](t)
	var s int
	const d = 30 * time.Millisecond
	t.Run("burst", func(t *testing.T) {
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[int]
		var at time.Time
		tok, err := f.Debounce(d).Sink(func(s *int, v int, ok bool) {
			at = time.Now()
			g.sink(s, v, ok)
		})
		must(t, err)
		for i := 1; i <= 3; i++ {
			em.Emit(&s, i)
		}
		last := time.Now()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
		if el := at.Sub(last); el < d {
			t.Fatalf("debounced after %v, before its %v", el, d)
		}
		g.check(t, []int{3}, 0)
		must(t, l.Remove(tok))
	})
	t.Run("continuous", func(t *testing.T) {
		// A source faster than d: nothing goes out while it runs, the last
		// value once it stops.
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[int]
		_, err = f.Debounce(d).Sink(g.sink)
		must(t, err)
		n := 0
		tick, err := l.AddTimer(0, func(s *int, _ time.Time) calloop.TimerAction {
			n++
			em.Emit(s, n)
			if n == 20 {
				return calloop.Drop()
			}
			return calloop.Again(d / 6)
		})
		must(t, err)
		_ = tick
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return n == 20 })
		g.check(t, nil, 0)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
		g.check(t, []int{20}, 0)
		em.End(&s)
		g.check(t, []int{20}, 1)
	})
	t.Run("flush-on-end", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[int]
		_, err = f.Debounce(time.Hour).Sink(g.sink)
		must(t, err)
		sendAll(t, tx, 1, 2)
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		g.check(t, []int{2}, 1)
	})
	t.Run("negative", func(t *testing.T) {
		f, _, err := calloop.NewFlow[int, int](l)
		must(t, err)
		if _, err := f.Debounce(-1).Sink(func(*int, int, bool) {}); err == nil {
			t.Fatal("Debounce(-1) accepted")
		}
	})
}

func TestFlowThrottle(t *testing.T) {
	l := newLoop[int](t)
	var s int
	const d = 30 * time.Millisecond
	f, em, err := calloop.NewFlow[int, int](l)
	must(t, err)
	var g flowLog[int]
	var at []time.Time
	tok, err := f.Throttle(d).Sink(func(s *int, v int, ok bool) {
		at = append(at, l.Now())
		g.sink(s, v, ok)
	})
	must(t, err)
	// Inside one iteration: the first passes, the rest of the window not.
	_, err = l.AddTimer(0, func(s *int, _ time.Time) calloop.TimerAction {
		for i := 1; i <= 3; i++ {
			em.Emit(s, i)
		}
		return calloop.Drop()
	})
	must(t, err)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
	g.check(t, []int{1}, 0)
	// A source every d/3 for a while: one value per window at most.
	n := 3
	_, err = l.AddTimer(0, func(s *int, _ time.Time) calloop.TimerAction {
		n++
		em.Emit(s, n)
		if n == 15 {
			return calloop.Drop()
		}
		return calloop.Again(d / 3)
	})
	must(t, err)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return n == 15 })
	if len(g.vals) < 2 || len(g.vals) > 5 {
		t.Fatalf("%d values through a %v throttle over 12 inputs %v apart: %v", len(g.vals), d, d/3, g.vals)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < d {
			t.Fatalf("values %v apart, throttle %v", gap, d)
		}
	}
	must(t, l.Remove(tok))
	f2, em2, err := calloop.NewFlow[int, int](l)
	must(t, err)
	var all flowLog[int]
	_, err = f2.Throttle(0).Sink(all.sink)
	must(t, err)
	em2.Emit(&s, 1)
	em2.Emit(&s, 2)
	all.check(t, []int{1, 2}, 0)
	f3, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	if _, err := f3.Throttle(-time.Second).Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("Throttle(-1s) accepted")
	}
}

func TestFlowMerge(t *testing.T) {
	l := newLoop[int](t)
	var s int
	a, txa, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	b, txb, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	c, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	cTok, aTok := c.Token(), a.Token()
	var g flowLog[int]
	_, err = calloop.Merge(a, b, c.Take(0)).Sink(g.sink)
	must(t, err)
	// The input that had ended already is gone at once.
	if err := l.Remove(cTok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("ended input kept: %v", err)
	}
	sendAll(t, txa, 1)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
	sendAll(t, txb, 2)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 2 })
	// One input closes: its sources go, the merge goes on.
	txa.Close()
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
		_, _, err := l.Parent(aTok)
		return errors.Is(err, calloop.ErrInvalidToken)
	})
	sendAll(t, txb, 3, 4)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 4 })
	g.check(t, []int{1, 2, 3, 4}, 0)
	txb.Close()
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
	g.check(t, []int{1, 2, 3, 4}, 1)

	// Misuse: no inputs, a consumed input, one input twice, another loop.
	l2 := newLoop[int](t)
	x, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	y, _, err := calloop.NewFlow[int, int](l2)
	must(t, err)
	for name, m := range map[string]*calloop.Flow[int, int]{
		"none":     calloop.Merge[int, int](),
		"twice":    calloop.Merge(x, x),
		"two-loop": calloop.Merge(x, y),
		"nil":      calloop.Merge(x, nil),
	} {
		if _, err := m.Sink(func(*int, int, bool) {}); err == nil {
			t.Fatalf("Merge %s accepted", name)
		}
	}
	// The inputs were left alone: still usable.
	var gx flowLog[int]
	_, err = x.Sink(gx.sink)
	must(t, err)
	_ = x.Filter(func(*int, int) bool { return true })
	if _, err := calloop.Merge(x).Sink(func(*int, int, bool) {}); !strings.Contains(fmt.Sprint(err), "consumed") {
		t.Fatalf("Merge of a consumed flow: %v", err)
	}
}

func TestFlowTeardownAndPause(t *testing.T) {
	l := newLoop[int](t)
	var s int
	a, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	tk, err := calloop.TickerFlow(l, time.Millisecond)
	must(t, err)
	c, em, err := calloop.NewFlow[int, int](l)
	must(t, err)
	// A custom source tied to the flow.
	ping, err := calloop.NewPing(l, func(s *int) { em.Emit(s, 1000) })
	must(t, err)
	must(t, c.Adopt(ping.Token()))
	ticks := calloop.MapFlow(tk, func(*int, time.Time) int { return -1 })
	merged := calloop.Batch(calloop.Merge(a.Debounce(time.Millisecond), ticks, c), 1000, time.Millisecond)
	var got [][]int
	tok, err := merged.Sink(func(_ *int, v []int, ok bool) {
		if ok {
			got = append(got, v)
		}
	})
	must(t, err)
	if merged.Token() != tok {
		t.Fatal("Token is not the sink's")
	}
	has := func(v int) bool {
		for _, b := range got {
			for _, x := range b {
				if x == v {
					return true
				}
			}
		}
		return false
	}
	sendAll(t, tx, 7)
	ping.Ping()
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return has(7) && has(-1) && has(1000) })

	// Disable pauses every source: no value comes out, none is lost.
	must(t, l.Disable(tok))
	got = nil
	sendAll(t, tx, 8)
	ping.Ping()
	if em.Emit(&s, 5) {
		t.Fatal("Emit into a paused flow went in")
	}
	deadline := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(deadline) {
		must(t, l.Dispatch(time.Millisecond, &s))
	}
	if len(got) != 0 {
		t.Fatalf("a paused flow delivered %v", got)
	}
	must(t, l.Enable(tok))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return has(8) && has(1000) && has(-1) })
	if has(5) {
		t.Fatal("a dropped emit came out")
	}

	// Remove tears everything down: the channel, the ticker, the custom
	// source, the stage timers.
	must(t, l.Remove(tok))
	if err := tx.Send(9); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Send after Remove: %v", err)
	}
	if err := l.Remove(ping.Token()); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("adopted source kept: %v", err)
	}
	if em.Emit(&s, 1) {
		t.Fatal("Emit into a removed flow went in")
	}
	got = nil
	deadline = time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(deadline) {
		must(t, l.Dispatch(time.Millisecond, &s))
	}
	if len(got) != 0 {
		t.Fatalf("removed flow delivered %v", got)
	}
	// Nothing of the pipeline is left in the loop: a fresh loop's worth of
	// sources (the slots were all freed and are reused).
	tx.Close()
}

func TestFlowRemoveFromSink(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	var g flowLog[int]
	var tok calloop.Token
	tok, err = f.Sink(func(s *int, v int, ok bool) {
		g.sink(s, v, ok)
		if v == 2 {
			must(t, l.Remove(tok))
		}
	})
	must(t, err)
	sendAll(t, tx, 1, 2, 3, 4)
	for range 3 {
		must(t, l.Dispatch(0, &s))
	}
	g.check(t, []int{1, 2}, 0)
	tx.Close()
}

func TestFlowSinkMisuse(t *testing.T) {
	l := newLoop[int](t)
	f, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	if _, err := f.Sink(nil); err == nil {
		t.Fatal("nil sink accepted")
	}
	tok, err := f.Sink(func(*int, int, bool) {})
	must(t, err)
	if _, err := f.Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("second Sink accepted")
	}
	if m := calloop.MapFlow(f, func(_ *int, v int) int { return v }); m.Token() != (calloop.Token{}) {
		t.Fatal("map of a consumed flow has a pipeline")
	} else if _, err := m.Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("map of a consumed flow accepted")
	}
	must(t, l.Remove(tok))
	// nil functions
	g, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	if _, err := g.Filter(nil).Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("Filter(nil) accepted")
	}
	h, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	if _, err := calloop.MapFlow[int, int, int](h, nil).Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("MapFlow(nil) accepted")
	}
	var nilFlow *calloop.Flow[int, int]
	if _, err := nilFlow.Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("nil flow accepted")
	}
	// A flow whose sources were removed before it was consumed.
	k, _, err := calloop.NewFlow[int, int](l)
	must(t, err)
	must(t, l.Remove(k.Token()))
	if _, err := k.Sink(func(*int, int, bool) {}); err == nil {
		t.Fatal("Sink of a removed flow accepted")
	}
	// Producers' arguments.
	if _, _, err := calloop.ChannelFlow[int, int](l, -1); err == nil {
		t.Fatal("negative capacity accepted")
	}
	for _, d := range []time.Duration{0, -1, math.MinInt64} {
		if _, err := calloop.TickerFlow(l, d); err == nil {
			t.Fatalf("TickerFlow(%v) accepted", d)
		}
	}
	if _, err := calloop.FDFlow[int, int](l, 0, calloop.Readable, nil); err == nil {
		t.Fatal("nil decoder accepted")
	}
	if _, err := calloop.FDFlow(l, -1, calloop.Readable, func(*int, calloop.Events, *calloop.Emitter[int, int]) {}); err == nil {
		t.Fatal("fd -1 accepted")
	}
	l.Close()
	if _, _, err := calloop.NewFlow[int, int](l); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("NewFlow on a closed loop: %v", err)
	}
}

func TestFlowFD(t *testing.T) {
	l := newLoop[int](t)
	var s int
	r, w := pipe(t)
	// A line decoder: each read's complete lines become values.
	var part []byte
	f, err := calloop.FDFlow(l, r, calloop.Readable, func(_ *int, _ calloop.Events, e *calloop.Emitter[int, string]) {
		var buf [64]byte
		n, err := unix.Read(r, buf[:])
		if n <= 0 {
			if err != unix.EAGAIN {
				e.End(&s)
			}
			return
		}
		part = append(part, buf[:n]...)
		for {
			i := strings.IndexByte(string(part), '\n')
			if i < 0 {
				return
			}
			e.Emit(&s, string(part[:i]))
			part = part[i+1:]
		}
	})
	must(t, err)
	var g flowLog[string]
	tok, err := f.Sink(g.sink)
	must(t, err)
	unix.Write(w, []byte("one\ntw"))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
	unix.Write(w, []byte("o\nthree\n"))
	unix.Close(w)
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
	g.check(t, []string{"one", "two", "three"}, 1)
	if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("fd pipeline kept: %v", err)
	}
	// The descriptor was deregistered: it can be registered again.
	tok2, err := l.AddFD(r, calloop.Readable, calloop.Level, func(*int, calloop.Events) calloop.Action { return calloop.Continue })
	must(t, err)
	must(t, l.Remove(tok2))
}

func TestFlowSignal(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, err := calloop.SignalFlow(l, syscall.SIGUSR2)
	must(t, err)
	var g flowLog[os.Signal]
	_, err = f.Take(1).Sink(g.sink)
	must(t, err)
	must(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
	g.check(t, []os.Signal{syscall.SIGUSR2}, 1)
}

// A channel flooding a flow yields after its batch: a timer due meanwhile
// fires in the same iteration, before the flood is through.
func TestFlowBudget(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	defer tx.Close()
	n := 0
	_, err = calloop.MapFlow(f, func(_ *int, v int) int { return v }).Filter(func(*int, int) bool { return true }).
		Sink(func(*int, int, bool) { n++ })
	must(t, err)
	const total = 10_000
	for i := range total {
		must(t, tx.Send(i))
	}
	fired := -1
	_, err = l.AddTimer(0, func(*int, time.Time) calloop.TimerAction {
		fired = n
		return calloop.Drop()
	})
	must(t, err)
	must(t, l.Dispatch(time.Second, &s))
	if n == 0 || n > 1024 {
		t.Fatalf("%d values in the first iteration", n)
	}
	if fired < 0 || fired == total {
		t.Fatalf("the timer fired after %d values (of %d)", fired, total)
	}
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return n == total })
}

func TestFlowPanics(t *testing.T) {
	l := newLoop[int](t)
	var s int
	t.Run("map", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[int]
		_, err = calloop.MapFlow(f, func(_ *int, v int) int {
			if v == 3 {
				panic("three")
			}
			return v
		}).Sink(g.sink)
		must(t, err)
		sendAll(t, tx, 1, 2, 3, 4, 5)
		tx.Close()
		if v := ctRecoverDispatch(l, &s); v != "three" {
			t.Fatalf("panic %v", v)
		}
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		g.check(t, []int{1, 2, 4, 5}, 1)
	})
	t.Run("debounce-timer", func(t *testing.T) {
		// The loop removes a timer whose callback panicked; the stage
		// makes a new one and goes on.
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[int]
		tok, err := f.Debounce(time.Millisecond).Sink(func(s *int, v int, ok bool) {
			if v == 1 {
				panic("one")
			}
			g.sink(s, v, ok)
		})
		must(t, err)
		em.Emit(&s, 1)
		var v any
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
			v = ctRecoverDispatch(l, &s)
			return v != nil
		})
		if v != "one" {
			t.Fatalf("panic %v", v)
		}
		em.Emit(&s, 2)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
		g.check(t, []int{2}, 0)
		must(t, l.Remove(tok))
	})
	t.Run("batch-timer", func(t *testing.T) {
		f, em, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var g flowLog[[]int]
		tok, err := calloop.Batch(f, 0, time.Millisecond).Sink(func(s *int, v []int, ok bool) {
			if len(v) > 0 && v[0] == 1 {
				panic("one")
			}
			g.sink(s, v, ok)
		})
		must(t, err)
		em.Emit(&s, 1)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ctRecoverDispatch(l, &s) != nil })
		em.Emit(&s, 2)
		em.Emit(&s, 3)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(g.vals) == 1 })
		g.check(t, [][]int{{2, 3}}, 0)
		must(t, l.Remove(tok))
	})
}

// ctRecoverDispatch runs one non-blocking Dispatch and returns its panic.
func ctRecoverDispatch(l *calloop.Loop[int], s *int) (v any) {
	return ctRecover(func() { l.Dispatch(time.Millisecond, s) })
}

func TestFlowNext(t *testing.T) {
	l := newLoop[int](t)
	var s int
	t.Run("to-the-end", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		evens := f.Filter(func(_ *int, v int) bool { return v%2 == 0 })
		var got []int
		var end error
		task, err := calloop.Spawn(l, func(t *calloop.Task[int]) error {
			for {
				v, err := calloop.Next(t, evens)
				if err != nil {
					end = err
					return nil
				}
				got = append(got, v)
				*t.State() += v
			}
		})
		must(t, err)
		sendAll(t, tx, 1, 2, 3, 4)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return len(got) == 2 })
		sendAll(t, tx, 6)
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return end != nil })
		if !reflect.DeepEqual(got, []int{2, 4, 6}) || s != 12 || !errors.Is(end, calloop.ErrClosed) {
			t.Fatalf("got %v, state %d, end %v", got, s, end)
		}
		_ = task
		if err := l.Remove(evens.Token()); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("pipeline kept after the end: %v", err)
		}
	})
	t.Run("removed-while-waiting", func(t *testing.T) {
		f, _, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var end error
		waiting := false
		_, err = calloop.Spawn(l, func(t *calloop.Task[int]) error {
			waiting = true
			_, end = calloop.Next(t, f)
			return nil
		})
		must(t, err)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return waiting })
		must(t, l.Dispatch(0, &s))
		must(t, l.Remove(f.Token()))
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return end != nil })
		if !errors.Is(end, calloop.ErrClosed) {
			t.Fatalf("Next after removal: %v", end)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f, _, err := calloop.NewFlow[int, int](l)
		must(t, err)
		var end error
		task, err := calloop.Spawn(l, func(t *calloop.Task[int]) error {
			_, end = calloop.Next(t, f)
			return nil
		})
		must(t, err)
		must(t, l.Dispatch(0, &s))
		task.Cancel()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return end != nil })
		if !errors.Is(end, calloop.ErrClosed) && !strings.Contains(end.Error(), "cancel") {
			t.Fatalf("Next after Cancel: %v", end)
		}
		must(t, l.Remove(f.Token()))
	})
	t.Run("sink-then-next", func(t *testing.T) {
		f, _, err := calloop.NewFlow[int, int](l)
		must(t, err)
		tok, err := f.Sink(func(*int, int, bool) {})
		must(t, err)
		var end error
		_, err = calloop.Spawn(l, func(t *calloop.Task[int]) error {
			_, end = calloop.Next(t, f)
			return nil
		})
		must(t, err)
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return end != nil })
		if errors.Is(end, calloop.ErrClosed) {
			t.Fatalf("Next of a sunk flow: %v", end)
		}
		must(t, l.Remove(tok))
	})
	t.Run("backpressure", func(t *testing.T) {
		// No task takes the values: the queue fills, the flow pauses, and a
		// bounded channel upstream fills up; nothing is lost.
		const capacity = 16
		f, tx, err := calloop.ChannelFlow[int, int](l, capacity)
		must(t, err)
		gate := make(chan struct{})
		var got []int
		done := false
		_, err = calloop.Spawn(l, func(t *calloop.Task[int]) error {
			v, err := calloop.Next(t, f)
			if err != nil {
				return err
			}
			got = append(got, v)
			// Blocks this task (not the loop) until the test opens the gate.
			if _, err := calloop.AwaitGo(t, func(ctx context.Context) (int, error) {
				select {
				case <-gate:
				case <-ctx.Done():
				}
				return 0, nil
			}); err != nil {
				return err
			}
			for {
				v, err := calloop.Next(t, f)
				if err != nil {
					done = true
					return nil
				}
				got = append(got, v)
			}
		})
		must(t, err)
		sent := 0
		full := 0
		for full < 50 {
			if err := tx.TrySend(sent); errors.Is(err, calloop.ErrFull) {
				full++
				must(t, l.Dispatch(0, &s))
				continue
			} else {
				must(t, err)
			}
			full = 0
			sent++
			if sent > 100_000 {
				t.Fatal("the flow never pushed back")
			}
			if sent%capacity == 0 {
				must(t, l.Dispatch(0, &s))
			}
		}
		if sent > 2*1024+capacity+1 {
			t.Fatalf("%d values accepted before the pause", sent)
		}
		close(gate)
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return done })
		if len(got) != sent {
			t.Fatalf("received %d of %d", len(got), sent)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("value %d is %d", i, v)
			}
		}
	})
}

// Stages that do not allocate themselves add no allocation per value.
func TestFlowAllocs(t *testing.T) {
	l := newLoop[int](t)
	var s int
	t.Run("channel-map-filter-sink", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		defer tx.Close()
		n := 0
		tok, err := calloop.MapFlow(f, func(_ *int, v int) int { return v * 2 }).
			Filter(func(_ *int, v int) bool { return v%4 == 0 }).
			Sink(func(*int, int, bool) { n++ })
		must(t, err)
		defer l.Remove(tok)
		i := 0
		step := func() {
			tx.Send(i)
			i++
			l.Dispatch(0, &s)
		}
		for range 100 {
			step() // warm the channel's blocks
		}
		if a := testing.AllocsPerRun(1000, step); a != 0 {
			t.Fatalf("%v allocations per value", a)
		}
		if n == 0 {
			t.Fatal("nothing went through")
		}
	})
	t.Run("emit-stages", func(t *testing.T) {
		a, ea, err := calloop.NewFlow[int, int](l)
		must(t, err)
		b, eb, err := calloop.NewFlow[int, int](l)
		must(t, err)
		n := 0
		tok, err := calloop.Merge(a.Take(math.MaxInt).Throttle(0), b.Debounce(time.Hour)).
			Filter(func(*int, int) bool { return true }).
			Sink(func(*int, int, bool) { n++ })
		must(t, err)
		defer l.Remove(tok)
		i := 0
		step := func() {
			ea.Emit(&s, i)
			eb.Emit(&s, i)
			i++
		}
		step()
		if a := testing.AllocsPerRun(1000, step); a != 0 {
			t.Fatalf("%v allocations per value", a)
		}
		if n == 0 {
			t.Fatal("nothing went through")
		}
	})
	t.Run("next", func(t *testing.T) {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		n := 0
		_, err = calloop.Spawn(l, func(t *calloop.Task[int]) error {
			for {
				if _, err := calloop.Next(t, f); err != nil {
					return nil
				}
				n++
			}
		})
		must(t, err)
		i := 0
		step := func() {
			tx.Send(i)
			i++
			l.Dispatch(0, &s)
			l.Dispatch(0, &s)
		}
		for range 100 {
			step()
		}
		if a := testing.AllocsPerRun(1000, step); a != 0 {
			t.Fatalf("%v allocations per value", a)
		}
		if n != i {
			t.Fatalf("task received %d of %d", n, i)
		}
		tx.Close()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
			_, _, err := l.Parent(f.Token())
			return err != nil
		})
	})
}

// A sink that panics on the end still has its pipeline removed.
func TestFlowPanicAtEnd(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	tok, err := f.Sink(func(_ *int, _ int, ok bool) {
		if !ok {
			panic("end")
		}
	})
	must(t, err)
	sendAll(t, tx, 1)
	tx.Close()
	var v any
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
		v = ctRecoverDispatch(l, &s)
		return v != nil
	})
	if v != "end" {
		t.Fatalf("panic %v", v)
	}
	if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
		t.Fatalf("pipeline kept after a panic at the end: %v", err)
	}
	must(t, l.Dispatch(0, &s))
}

// Several tasks receive from one flow: each value goes to one of them.
func TestFlowNextSharedByTasks(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	seen := map[int]int{}
	ended := 0
	for range 3 {
		_, err := calloop.Spawn(l, func(t *calloop.Task[int]) error {
			for {
				v, err := calloop.Next(t, f)
				if err != nil {
					ended++
					return nil
				}
				seen[v]++
				if err := t.Sleep(0); err != nil { // let the others take some
					return err
				}
			}
		})
		must(t, err)
	}
	const n = 100
	for i := range n {
		must(t, tx.Send(i))
	}
	tx.Close()
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ended == 3 })
	if len(seen) != n {
		t.Fatalf("%d distinct values of %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("value %d received %d times", v, c)
		}
	}
}

// A sink that panics on the value that completes a Take: the panic comes
// out of Dispatch, and the flow still ends, in the next iteration (the end
// goes through the stages after Take, then to the sink), without the
// token being removed by hand; paused meanwhile, it ends once resumed.
func TestFlowTakePanicOnLast(t *testing.T) {
	l := newLoop[int](t)
	var s int
	for _, paused := range []bool{false, true} {
		f, tx, err := calloop.ChannelFlow[int, int](l, 0)
		must(t, err)
		var g flowLog[int]
		tok, err := calloop.MapFlow(f.Take(2), func(_ *int, v int) int { return v * 10 }).Sink(func(s *int, v int, ok bool) {
			if ok && v == 20 {
				panic("two")
			}
			g.sink(s, v, ok)
		})
		must(t, err)
		sendAll(t, tx, 1, 2, 3)
		var v any
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool {
			v = ctRecoverDispatch(l, &s)
			return v != nil
		})
		if v != "two" {
			t.Fatalf("panic %v", v)
		}
		if paused {
			must(t, l.Disable(tok))
			for range 3 {
				must(t, l.Dispatch(0, &s))
			}
			g.check(t, []int{10}, 0)
			must(t, l.Enable(tok))
		}
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
		g.check(t, []int{10}, 1)
		if err := l.Remove(tok); !errors.Is(err, calloop.ErrInvalidToken) {
			t.Fatalf("pipeline kept after the panic on Take's last value: %v", err)
		}
		if err := tx.Send(4); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send after the end: %v", err)
		}
		tx.Close()
	}
}

// Stateless stages fuse with their consumer; every shape of the fusion
// (a map or not, none, one or several filters, a sink, a queue, a
// stateful stage or a merge after) gives what the stages say, in order,
// from a channel and from an emitter.
func TestFlowFusedShapes(t *testing.T) {
	l := newLoop[int](t)
	var s int
	even := func(_ *int, v int) bool { return v%2 == 0 }
	notFour := func(_ *int, v int) bool { return v%4 != 0 }
	triple := func(_ *int, v int) int { return 3 * v }
	shapes := []struct {
		name  string
		build func(f *calloop.Flow[int, int]) *calloop.Flow[int, int]
		want  []int // of the inputs 1..12
	}{
		{"none", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] { return f }, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"map", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] { return calloop.MapFlow(f, triple) },
			[]int{3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36}},
		{"filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] { return f.Filter(even) }, []int{2, 4, 6, 8, 10, 12}},
		{"filter-filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] { return f.Filter(even).Filter(notFour) }, []int{2, 6, 10}},
		{"map-filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, triple).Filter(even)
		},
			[]int{6, 12, 18, 24, 30, 36}},
		{"map-filter-filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, triple).Filter(even).Filter(notFour)
		}, []int{6, 18, 30}},
		{"filter-map-map", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(calloop.MapFlow(f.Filter(even), triple), func(_ *int, v int) int { return v + 1 })
		}, []int{7, 13, 19, 25, 31, 37}},
		{"map-filter-take", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, triple).Filter(even).Take(3)
		}, []int{6, 12, 18}},
		{"map-filter-throttle-filter", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.MapFlow(f, triple).Filter(even).Throttle(0).Filter(notFour)
		}, []int{6, 18, 30}},
		{"map-filter-merge", func(f *calloop.Flow[int, int]) *calloop.Flow[int, int] {
			return calloop.Merge(calloop.MapFlow(f, triple).Filter(even))
		}, []int{6, 12, 18, 24, 30, 36}},
	}
	for _, sh := range shapes {
		t.Run(sh.name+"/channel-sink", func(t *testing.T) {
			f, tx, err := calloop.ChannelFlow[int, int](l, 0)
			must(t, err)
			var g flowLog[int]
			_, err = sh.build(f).Sink(g.sink)
			must(t, err)
			sendAll(t, tx, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
			must(t, tx.Close())
			dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return g.ends > 0 })
			g.check(t, sh.want, 1)
		})
		t.Run(sh.name+"/emitter-next", func(t *testing.T) {
			f, em, err := calloop.NewFlow[int, int](l)
			must(t, err)
			out := sh.build(f)
			var got []int
			done := false
			_, err = calloop.Spawn(l, func(task *calloop.Task[int]) error {
				for {
					v, err := calloop.Next(task, out)
					if err != nil {
						done = true
						return nil
					}
					got = append(got, v)
				}
			})
			must(t, err)
			must(t, l.Dispatch(0, &s)) // the task consumes the flow
			for v := 1; v <= 12; v++ {
				em.Emit(&s, v)
			}
			em.End(&s)
			dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return done })
			if !reflect.DeepEqual(got, sh.want) {
				t.Fatalf("got %v, want %v", got, sh.want)
			}
		})
	}
}
