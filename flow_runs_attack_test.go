package calloop_test

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/calloop-go/calloop"
)

type runMsg struct {
	v int
	_ [64]byte // a heap object of its own, not a tiny allocation
}

// A ChannelFlow's channel keeps no reference to a message once its run was
// delivered, whatever stopped the run (end of the run, a Disable, a panic).
func TestFlowChannelRunsKeepNoReference(t *testing.T) {
	for _, mode := range []string{"plain", "disable", "panic"} {
		t.Run(mode, func(t *testing.T) {
			l := newLoop[int](t)
			var s int
			f, tx, err := calloop.ChannelFlow[int, *runMsg](l, 0)
			must(t, err)
			defer tx.Close()
			const total = 100
			var seen []weak.Pointer[runMsg]
			got := 0
			var tok calloop.Token
			tok, err = calloop.MapFlow(f, func(_ *int, m *runMsg) *runMsg { return m }).Sink(func(_ *int, m *runMsg, ok bool) {
				if !ok {
					return
				}
				seen = append(seen, weak.Make(m))
				got++
				if m.v == total/2 {
					switch mode {
					case "disable":
						must(t, l.Disable(tok))
					case "panic":
						panic("boom")
					}
				}
			})
			must(t, err)
			for i := range total {
				must(t, tx.Send(&runMsg{v: i}))
			}
			d := armWatchdog(t, l)
			defer d.stop()
			for got < total/2+1 {
				if d.expired() {
					t.Fatal("timeout")
				}
				if p := ctRecover(func() { must(t, l.Dispatch(10*time.Millisecond, &s)) }); p != nil && p != "boom" {
					t.Fatal(p)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				runtime.GC()
				live := 0
				for _, w := range seen {
					if w.Value() != nil {
						live++
					}
				}
				if live == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d delivered messages still reachable", live, len(seen))
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// A ChannelFlow never delivers more than the channel's batch (1024) of
// messages in one Dispatch, however the messages fall into blocks.
func TestFlowChannelRunsBudget(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 0)
	must(t, err)
	defer tx.Close()
	per := 0
	got := 0
	_, err = f.Filter(func(*int, int) bool { return true }).Sink(func(_ *int, v int, ok bool) {
		if ok {
			if v != got {
				t.Fatalf("value %d at %d", v, got)
			}
			per++
			got++
		}
	})
	must(t, err)
	const total = 10000
	for i := range total {
		must(t, tx.Send(i))
	}
	d := armWatchdog(t, l)
	defer d.stop()
	for got < total {
		if d.expired() {
			t.Fatal("timeout")
		}
		per = 0
		must(t, l.Dispatch(0, &s))
		if per > 1024 {
			t.Fatalf("%d messages in one Dispatch", per)
		}
	}
}

// Within a run the consumer sends to its own channel, closes the sender,
// disables and re-enables its pipeline: every value arrives once, in order,
// and the end once, after the last value.
func TestFlowChannelRunsReentry(t *testing.T) {
	for _, capacity := range []int{0, 2300} {
		l := newLoop[int](t)
		var s int
		f, tx, err := calloop.ChannelFlow[int, int](l, capacity)
		must(t, err)
		var got []int
		ends := 0
		const first, extra = 1500, 700
		var tok calloop.Token
		tok, err = calloop.MapFlow(f, func(_ *int, v int) int { return v }).Sink(func(_ *int, v int, ok bool) {
			if !ok {
				if len(got) != first+extra {
					t.Errorf("end after %d values", len(got))
				}
				ends++
				return
			}
			if ends > 0 {
				t.Errorf("value %d after the end", v)
			}
			got = append(got, v)
			switch v {
			case 10:
				must(t, l.Disable(tok))
				must(t, l.Enable(tok))
			case 20:
				for i := range extra {
					must(t, tx.TrySend(first+i))
				}
			case 30:
				must(t, tx.Close())
			}
		})
		must(t, err)
		for i := range first {
			must(t, tx.Send(i))
		}
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ends > 0 })
		for i := 0; i < 3; i++ {
			must(t, l.Dispatch(0, &s))
		}
		if ends != 1 || len(got) != first+extra {
			t.Fatalf("capacity %d: %d ends, %d values", capacity, ends, len(got))
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("capacity %d: value %d is %d", capacity, i, v)
			}
		}
	}
}

// Take(n) ending in the middle of a run of a bounded channel: the sender
// blocked on the full channel returns (ErrClosed once the pipeline is gone)
// and the sink got exactly n values and the end.
func TestFlowChannelRunsTakeMidRun(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, tx, err := calloop.ChannelFlow[int, int](l, 64)
	must(t, err)
	got, ends := 0, 0
	_, err = f.Take(40).Sink(func(_ *int, v int, ok bool) {
		if ok {
			got++
		} else {
			ends++
		}
	})
	must(t, err)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := tx.Send(i); err != nil {
				done <- err
				return
			}
		}
	}()
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ends > 0 })
	select {
	case err := <-done:
		if err != calloop.ErrClosed {
			t.Fatalf("Send: %v", err)
		}
	case <-time.After(watchdogTimeout):
		l.Close()
		<-done
		t.Fatal("the sender still blocked")
	}
	if got != 40 || ends != 1 {
		t.Fatalf("%d values, %d ends", got, ends)
	}
	tx.Close()
}

// Next from a task on a ChannelFlow: the queue pauses the channel in the
// middle of a run when it fills up; every value still arrives once, in
// order, then the end, and a bounded channel's sender is never stuck.
func TestFlowChannelRunsNext(t *testing.T) {
	for _, capacity := range []int{0, 100} {
		l := newLoop[int](t)
		var s int
		f, tx, err := calloop.ChannelFlow[int, int](l, capacity)
		must(t, err)
		var got []int
		finished := false
		_, err = calloop.Spawn(l, func(t *calloop.Task[int]) error {
			for {
				v, err := calloop.Next(t, f)
				if err != nil {
					finished = true
					return nil
				}
				got = append(got, v)
				if v%1500 == 0 {
					if err := t.Sleep(time.Millisecond); err != nil {
						return err
					}
				}
			}
		})
		must(t, err)
		const total = 6000
		sent := make(chan error, 1)
		go func() {
			for i := range total {
				if err := tx.Send(i); err != nil {
					sent <- err
					return
				}
			}
			sent <- tx.Close()
		}()
		dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return finished })
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if len(got) != total {
			t.Fatalf("capacity %d: %d values of %d", capacity, len(got), total)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("capacity %d: value %d is %d", capacity, i, v)
			}
		}
	}
}

// A panic in a TickerFlow's sink on a tick propagates, and the ticks go on
// (the loop removes the timer whose callback panicked; the flow makes a new
// one, of the pipeline's class).
func TestTickerFlowTicksAfterPanic(t *testing.T) {
	l := newLoop[int](t)
	var s int
	f, err := calloop.TickerFlow(l, time.Millisecond)
	must(t, err)
	ticks := 0
	tok, err := f.Sink(func(_ *int, _ time.Time, ok bool) {
		ticks++
		if ticks == 1 {
			panic("boom")
		}
	})
	must(t, err)
	must(t, l.SetPriority(tok, calloop.PriorityHigh))
	if p := ctRecover(func() {
		dispatchUntilTimeout(t, l, &s, 5*time.Millisecond, func() bool { return ticks >= 1 })
	}); p != "boom" {
		t.Fatalf("panic %v", p)
	}
	dispatchUntilTimeout(t, l, &s, 5*time.Millisecond, func() bool { return ticks >= 3 })
	// The pipeline still pauses and resumes the ticks.
	must(t, l.Disable(tok))
	n := ticks
	for range 3 {
		must(t, l.Dispatch(2*time.Millisecond, &s))
	}
	if ticks != n {
		t.Fatalf("%d ticks while paused", ticks-n)
	}
	must(t, l.Enable(tok))
	dispatchUntilTimeout(t, l, &s, 5*time.Millisecond, func() bool { return ticks > n })
}

// Merge of two ChannelFlows, Take(n) after it ending in the middle of a run:
// each channel's values arrive in their order, exactly n in all, the end
// once, and both senders (bounded channels, blocked) return.
func TestFlowChannelRunsMerge(t *testing.T) {
	l := newLoop[int](t)
	var s int
	fa, ta, err := calloop.ChannelFlow[int, int](l, 50)
	must(t, err)
	fb, tb, err := calloop.ChannelFlow[int, int](l, 50)
	must(t, err)
	const n = 3000
	var got []int
	ends := 0
	_, err = calloop.Merge(fa, fb).Take(n).Sink(func(_ *int, v int, ok bool) {
		if ok {
			got = append(got, v)
		} else {
			ends++
		}
	})
	must(t, err)
	done := make(chan error, 2)
	for k, tx := range []*calloop.Sender[int]{ta, tb} {
		go func() {
			for i := 0; ; i++ {
				if err := tx.Send(k<<30 | i); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	dispatchUntilTimeout(t, l, &s, 10*time.Millisecond, func() bool { return ends > 0 })
	for range 2 {
		select {
		case err := <-done:
			if err != calloop.ErrClosed {
				t.Fatalf("Send: %v", err)
			}
		case <-time.After(watchdogTimeout):
			l.Close()
			t.Fatal("a sender still blocked")
		}
	}
	if len(got) != n || ends != 1 {
		t.Fatalf("%d values, %d ends", len(got), ends)
	}
	next := [2]int{}
	for _, v := range got {
		k, i := v>>30, v&(1<<30-1)
		if i != next[k] {
			t.Fatalf("channel %d: value %d, want %d", k, i, next[k])
		}
		next[k]++
	}
	ta.Close()
	tb.Close()
}
