//go:build linux

package calloop_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calloop-go/calloop"
)

// ctChan records what a channel callback receives.
type ctChan struct {
	msgs   []int
	closed int
	// closedAfter is len(msgs) when the closed event came.
	closedAfter int
}

func (c *ctChan) fn(_ *testState, m int, ok bool) {
	if !ok {
		c.closed++
		c.closedAfter = len(c.msgs)
		return
	}
	if c.closed > 0 {
		c.msgs = append(c.msgs, -1) // a message after the closed event
	}
	c.msgs = append(c.msgs, m)
}

func TestChannelBasic(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rec := &ctChan{}
	tx, err := calloop.NewChannel(l, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if len(rec.msgs) != 0 || rec.closed != 0 {
		t.Fatal("empty channel delivered something")
	}
	if err := tx.Send(7); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 1)
	if fmt.Sprint(rec.msgs) != "[7]" || rec.closed != 0 {
		t.Fatalf("after Send(7): %v, closed %d", rec.msgs, rec.closed)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil (idempotent)", err)
	}
	ctDispatch0(t, l, &s, 3)
	if rec.closed != 1 {
		t.Fatalf("closed event delivered %d times, want 1", rec.closed)
	}
	if err := tx.Send(8); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := tx.Clone(); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Clone of a closed sender = %v, want ErrClosed", err)
	}
	// The source removed itself after the closed event.
	if err := l.Remove(tx.Token()); !isInvalid(err) {
		t.Fatalf("Remove after the closed event = %v, want ErrInvalidToken", err)
	}
	// And does not keep the loop busy (calloop #34).
	start := time.Now()
	if err := l.Dispatch(20*time.Millisecond, &s); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("Dispatch(20ms) after the channel closed returned after %v", el)
	}
}

func TestChannelOrder(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		rec := &ctChan{}
		tx, err := calloop.NewChannel(l, rec.fn)
		if err != nil {
			t.Fatal(err)
		}
		const n = 5000
		go func() {
			for i := range n {
				tx.Send(i)
			}
			tx.Close()
		}()
		dispatchUntil(t, l, &s, func() bool { return rec.closed > 0 })
		if len(rec.msgs) != n {
			t.Fatalf("%d messages delivered, want %d", len(rec.msgs), n)
		}
		for i, m := range rec.msgs {
			if m != i {
				t.Fatalf("message #%d is %d: out of order", i, m)
			}
		}
	})
}

func TestChannelManySendersExactCounts(t *testing.T) {
	eachSleepMode(t, func(t *testing.T, opts []calloop.Option) {
		l := newLoop[testState](t, opts...)
		var s testState
		const senders, each = 8, 3000
		counts := make([]int, senders)
		last := make([]int, senders)
		for i := range last {
			last[i] = -1
		}
		var misordered, afterClose int
		closed := 0
		tx, err := calloop.NewChannel(l, func(_ *testState, m int, ok bool) {
			if !ok {
				closed++
				return
			}
			if closed > 0 {
				afterClose++
			}
			w, seq := m/each, m%each
			counts[w]++
			if seq <= last[w] {
				misordered++
			}
			last[w] = seq
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range senders {
			c, err := tx.Clone()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for i := range each {
					if err := c.Send(w*each + i); err != nil {
						t.Errorf("Send: %v", err)
						return
					}
				}
			}()
		}
		// The original sender is closed while the clones are still sending.
		go tx.Close()
		dispatchUntil(t, l, &s, func() bool { return closed > 0 })
		wg.Wait()
		ctDispatch0(t, l, &s, 2)
		for w, c := range counts {
			if c != each {
				t.Errorf("sender %d: %d messages delivered, want %d", w, c, each)
			}
		}
		if misordered != 0 || afterClose != 0 || closed != 1 {
			t.Fatalf("misordered %d, after the closed event %d, closed events %d", misordered, afterClose, closed)
		}
	})
}

func TestChannelCloseRacesWithDelivery(t *testing.T) {
	// Many rounds of: messages and the last Close racing with the loop's
	// delivery. The closed event comes exactly once, after every message.
	l := newLoop[testState](t)
	var s testState
	rounds := 300
	if raceEnabled {
		rounds = 150
	}
	for r := range rounds {
		rec := &ctChan{}
		tx, err := calloop.NewChannel(l, rec.fn)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tx.Clone()
		if err != nil {
			t.Fatal(err)
		}
		n := r % 7
		go func() {
			for i := range n {
				tx.Send(i)
			}
			tx.Close()
		}()
		go func() {
			c.Send(100)
			c.Close()
		}()
		dispatchUntil(t, l, &s, func() bool { return rec.closed > 0 })
		ctDispatch0(t, l, &s, 1)
		if rec.closed != 1 || len(rec.msgs) != n+1 || rec.closedAfter != n+1 {
			t.Fatalf("round %d: %v, closed %d after %d; want %d messages then one closed event",
				r, rec.msgs, rec.closed, rec.closedAfter, n+1)
		}
	}
}

func TestChannelBounded(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var delivered atomic.Int64
	rec := &ctChan{}
	tx, err := calloop.NewBoundedChannel(l, 2, func(s *testState, m int, ok bool) {
		if ok {
			delivered.Add(1)
		}
		rec.fn(s, m, ok)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(1); err != nil {
		t.Fatal(err)
	}
	if err := tx.TrySend(2); err != nil {
		t.Fatal(err)
	}
	if err := tx.TrySend(3); !errors.Is(err, calloop.ErrFull) {
		t.Fatalf("TrySend on a full channel = %v, want ErrFull", err)
	}
	ctDispatch0(t, l, &s, 1)
	if fmt.Sprint(rec.msgs) != "[1 2]" {
		t.Fatalf("delivered %v, want [1 2]", rec.msgs)
	}
	// Room again.
	if err := tx.TrySend(3); err != nil {
		t.Fatalf("TrySend after delivery = %v", err)
	}
	if err := tx.TrySend(4); err != nil {
		t.Fatal(err)
	}
	// A blocking Send waits for the loop to make room.
	var seenAtReturn atomic.Int64
	sendDone := make(chan error, 1)
	go func() {
		err := tx.Send(5)
		seenAtReturn.Store(delivered.Load())
		sendDone <- err
	}()
	dispatchUntil(t, l, &s, func() bool { return len(rec.msgs) == 5 })
	select {
	case err := <-sendDone:
		if err != nil {
			t.Fatalf("blocked Send = %v", err)
		}
	case <-time.After(watchdogTimeout):
		t.Fatal("blocked Send not released by delivery")
	}
	if seenAtReturn.Load() < 3 {
		t.Fatalf("Send on a full channel returned after %d deliveries, before the loop made room", seenAtReturn.Load())
	}
	if fmt.Sprint(rec.msgs) != "[1 2 3 4 5]" {
		t.Fatalf("delivered %v", rec.msgs)
	}
	// Send then Close: the message and the closed event in one dispatch.
	if err := tx.Send(6); err != nil {
		t.Fatal(err)
	}
	tx.Close()
	ctDispatch0(t, l, &s, 1)
	if len(rec.msgs) != 6 || rec.closed != 1 {
		t.Fatalf("send + close: %v closed %d, want the message and the closed event in one dispatch", rec.msgs, rec.closed)
	}
}

func TestChannelBoundedCapacityRecoveredAfterDisableMidBatch(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var tx *calloop.Sender[int]
	var got []int
	tx, err := calloop.NewBoundedChannel(l, 4, func(_ *testState, m int, ok bool) {
		if !ok {
			return
		}
		got = append(got, m)
		if m == 1 {
			if err := l.Disable(tx.Token()); err != nil {
				t.Errorf("Disable from the callback = %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for i := range 4 {
		if err := tx.TrySend(i); err != nil {
			t.Fatal(err)
		}
	}
	ctDispatch0(t, l, &s, 2)
	if fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("disabled mid-batch: delivered %v, want [0 1]", got)
	}
	if err := l.Enable(tx.Token()); err != nil {
		t.Fatal(err)
	}
	ctDispatch0(t, l, &s, 2)
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("after Enable: delivered %v, want [0 1 2 3]", got)
	}
	// Everything was delivered: the whole capacity is free again.
	for i := range 4 {
		if err := tx.TrySend(10 + i); err != nil {
			t.Fatalf("TrySend #%d into an emptied channel of capacity 4 = %v", i, err)
		}
	}
}

func TestChannelSendAfterRemove(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rec := &ctChan{}
	tx, err := calloop.NewBoundedChannel(l, 1, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(1); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- tx.Send(2) }()
	if err := l.Remove(tx.Token()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send blocked across Remove = %v, want ErrClosed", err)
		}
	case <-time.After(watchdogTimeout):
		t.Fatal("Remove did not release a blocked Send")
	}
	if err := tx.Send(3); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("Send after Remove = %v, want ErrClosed", err)
	}
	if err := tx.TrySend(3); !errors.Is(err, calloop.ErrClosed) {
		t.Fatalf("TrySend after Remove = %v, want ErrClosed", err)
	}
	tx.Close()
	ctDispatch0(t, l, &s, 2)
	if len(rec.msgs) != 0 || rec.closed != 0 {
		t.Fatalf("removed channel delivered %v, closed %d", rec.msgs, rec.closed)
	}
}

func TestChannelBlockedSendReleasedByLoopClose(t *testing.T) {
	l, err := calloop.New[testState]()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := calloop.NewBoundedChannel(l, 1, func(*testState, int, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(1); err != nil {
		t.Fatal(err)
	}
	const waiters = 4
	errs := make(chan error, waiters)
	for i := range waiters {
		go func() { errs <- tx.Send(2 + i) }()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		select {
		case err := <-errs:
			if !errors.Is(err, calloop.ErrClosed) {
				t.Fatalf("blocked Send after loop Close = %v, want ErrClosed", err)
			}
		case <-time.After(watchdogTimeout):
			t.Fatal("loop Close did not release a blocked Send")
		}
	}
	tx.Close()
}

func TestChannelBlockedSendReleasedByOwnClose(t *testing.T) {
	l := newLoop[testState](t)
	tx, err := calloop.NewBoundedChannel(l, 1, func(*testState, int, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(1); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- tx.Send(2) }()
	tx.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send blocked across its sender's Close = %v, want ErrClosed", err)
		}
	case <-time.After(watchdogTimeout):
		t.Fatal("Sender.Close did not release its blocked Send")
	}
}

func TestChannelBatchesOf1024(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rec := &ctChan{}
	tx, err := calloop.NewChannel(l, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1025 {
		if err := tx.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	tx.Close()
	ctDispatch0(t, l, &s, 1)
	if len(rec.msgs) != 1024 || rec.closed != 0 {
		t.Fatalf("first Dispatch delivered %d messages (closed %d), want 1024", len(rec.msgs), rec.closed)
	}
	// The rest comes in the next iteration, without sleeping.
	d := armWatchdog(t, l)
	err = l.Dispatch(-1, &s)
	exp := d.expired()
	d.stop()
	if err != nil || exp {
		t.Fatalf("Dispatch(-1) with a cut-short batch: err %v, watchdog %v", err, exp)
	}
	if len(rec.msgs) != 1025 || rec.closed != 1 {
		t.Fatalf("second Dispatch: %d messages, closed %d; want 1025 and the closed event", len(rec.msgs), rec.closed)
	}
	for i, m := range rec.msgs {
		if m != i {
			t.Fatalf("message #%d is %d", i, m)
		}
	}
}

func TestChannelFloodDoesNotStarveOthers(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			var got atomic.Int64
			fn := func(_ *testState, _ int, ok bool) {
				if ok {
					got.Add(1)
				}
			}
			var tx *calloop.Sender[int]
			var err error
			if bounded {
				tx, err = calloop.NewBoundedChannel(l, 4096, fn)
			} else {
				tx, err = calloop.NewChannel(l, fn)
			}
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					for range 256 {
						if tx.Send(i) != nil {
							return
						}
					}
					if !bounded {
						// Keep an unbounded flood from outrunning memory.
						for got.Load() < int64(i*256)-200_000 {
							select {
							case <-stop:
								return
							default:
							}
							runtime.Gosched()
						}
					}
				}
			}()
			defer func() { close(stop); tx.Close(); <-done }()
			// Wait until the channel is busy.
			dispatchUntil(t, l, &s, func() bool { return got.Load() > 5000 })
			timerFired, fdFired := false, false
			if _, err := l.AddTimer(5*time.Millisecond, func(*testState, time.Time) calloop.TimerAction {
				timerFired = true
				return calloop.Drop()
			}); err != nil {
				t.Fatal(err)
			}
			a, b := socketPair(t)
			if _, err := l.AddFD(a.fd, calloop.Readable, calloop.Level, func(*testState, calloop.Events) calloop.Action {
				fdFired = true
				return calloop.Remove
			}); err != nil {
				t.Fatal(err)
			}
			writeFD(t, b, "x")
			before := got.Load()
			dispatchUntil(t, l, &s, func() bool { return timerFired && fdFired })
			if got.Load() == before {
				t.Fatal("channel not flowing while the timer and fd fired: the test did not flood")
			}
		})
	}
}

func TestChannelDisableEnableKeepsMessages(t *testing.T) {
	cases := []struct {
		name  string
		steps string // s: Send, d: Disable, e: Enable, 0: Dispatch(0) expecting nothing
	}{
		{"send, disable, dispatch, enable", "sd0e"},
		{"disable, send, dispatch, enable", "ds0e"},
		{"send, disable, dispatch, enable, disable, dispatch, enable", "sd0ed0e"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoop[testState](t)
			var s testState
			rec := &ctChan{}
			tx, err := calloop.NewChannel(l, rec.fn)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			n := 0
			for _, st := range c.steps {
				switch st {
				case 's':
					tx.Send(n)
					n++
				case 'd':
					if err := l.Disable(tx.Token()); err != nil {
						t.Fatal(err)
					}
				case 'e':
					if err := l.Enable(tx.Token()); err != nil {
						t.Fatal(err)
					}
				case '0':
					ctDispatch0(t, l, &s, 1)
					if len(rec.msgs) != 0 {
						t.Fatal("disabled channel delivered")
					}
				}
			}
			ctDispatch0(t, l, &s, 2)
			if len(rec.msgs) != n {
				t.Fatalf("after Enable: %v delivered, want %d messages", rec.msgs, n)
			}
		})
	}
}

func TestChannelDisableAndRemoveMidBatch(t *testing.T) {
	t.Run("disable", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var tx *calloop.Sender[int]
		var got []int
		tx, err := calloop.NewChannel(l, func(_ *testState, m int, ok bool) {
			if ok {
				got = append(got, m)
				if m == 2 {
					l.Disable(tx.Token())
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			tx.Send(i)
		}
		tx.Close()
		ctDispatch0(t, l, &s, 2)
		if fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("disabled after message 2: %v", got)
		}
		if err := l.Enable(tx.Token()); err != nil {
			t.Fatal(err)
		}
		ctDispatch0(t, l, &s, 2)
		if fmt.Sprint(got) != "[0 1 2 3 4 5]" {
			t.Fatalf("after Enable: %v, want the rest in order", got)
		}
	})
	t.Run("remove", func(t *testing.T) {
		l := newLoop[testState](t)
		var s testState
		var tx *calloop.Sender[int]
		var got []int
		closed := 0
		tx, err := calloop.NewChannel(l, func(_ *testState, m int, ok bool) {
			if !ok {
				closed++
				return
			}
			got = append(got, m)
			if m == 2 {
				l.Remove(tx.Token())
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			tx.Send(i)
		}
		ctDispatch0(t, l, &s, 2)
		if fmt.Sprint(got) != "[0 1 2]" || closed != 0 {
			t.Fatalf("removed after message 2: %v, closed %d", got, closed)
		}
		if err := tx.Send(9); !errors.Is(err, calloop.ErrClosed) {
			t.Fatalf("Send after Remove from the callback = %v", err)
		}
		tx.Close()
	})
}

func TestChannelPanicKeepsRemainingMessages(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	var got []int
	tx, err := calloop.NewBoundedChannel(l, 3, func(_ *testState, m int, ok bool) {
		if !ok {
			return
		}
		got = append(got, m)
		if m == 0 {
			panic("ct boom")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for i := range 3 {
		if err := tx.TrySend(i); err != nil {
			t.Fatal(err)
		}
	}
	if v := ctRecover(func() { l.Dispatch(0, &s) }); v != "ct boom" {
		t.Fatalf("Dispatch panicked with %v", v)
	}
	// The messages after the one that panicked are not lost, and come
	// without another Send.
	d := armWatchdog(t, l)
	for len(got) < 3 && !d.expired() {
		if err := l.Dispatch(-1, &s); err != nil {
			t.Fatal(err)
		}
	}
	d.stop()
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("after a panic on message 0: delivered %v, want [0 1 2]", got)
	}
	// And the bounded channel's capacity is whole again.
	for i := range 3 {
		if err := tx.TrySend(10 + i); err != nil {
			t.Fatalf("TrySend #%d after the panic = %v", i, err)
		}
	}
}

func TestChannelNoAllocationPerMessageInSteadyState(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	n := 0
	tx, err := calloop.NewChannel(l, func(_ *testState, _ int, ok bool) {
		if ok {
			n++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	round := func() {
		for i := range 64 {
			tx.Send(i)
		}
		l.Dispatch(0, &s)
	}
	for range 10 {
		round()
	}
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Fatalf("64 sends + Dispatch allocate %v times in steady state, want 0", allocs)
	}
	if n != 64*(10+101) {
		t.Fatalf("%d messages delivered, want %d", n, 64*111)
	}
}

func TestChannelChurnWithConcurrentSenders(t *testing.T) {
	// Channels are removed by the loop while senders are sending (some
	// blocked on a full bounded channel): every Send returns nil or
	// ErrClosed, nothing is delivered after the removal, nobody hangs.
	l := newLoop[testState](t)
	var s testState
	rounds := 60
	if raceEnabled {
		rounds = 30
	}
	for r := range rounds {
		var tx *calloop.Sender[int]
		delivered := 0
		removed := false
		afterRemove := 0
		fn := func(_ *testState, m int, ok bool) {
			if removed {
				afterRemove++
				return
			}
			if !ok {
				return
			}
			delivered++
			if delivered == 50 {
				removed = true
				if err := l.Remove(tx.Token()); err != nil {
					t.Errorf("Remove(own channel) = %v", err)
				}
			}
		}
		var err error
		if r%2 == 0 {
			tx, err = calloop.NewBoundedChannel(l, 8, fn)
		} else {
			tx, err = calloop.NewChannel(l, fn)
		}
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var badErr atomic.Value
		for range 4 {
			c, err := tx.Clone()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for i := 0; ; i++ {
					if err := c.Send(i); err != nil {
						if !errors.Is(err, calloop.ErrClosed) {
							badErr.Store(err)
						}
						return
					}
				}
			}()
		}
		tx.Close()
		dispatchUntil(t, l, &s, func() bool { return removed })
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(watchdogTimeout):
			t.Fatalf("round %d: senders still blocked after the channel was removed", r)
		}
		ctDispatch0(t, l, &s, 2)
		if afterRemove != 0 {
			t.Fatalf("round %d: %d callbacks after the channel was removed", r, afterRemove)
		}
		if v := badErr.Load(); v != nil {
			t.Fatalf("round %d: Send = %v, want nil or ErrClosed", r, v)
		}
	}
}

func TestChannelBoundedSendWaitsForEnable(t *testing.T) {
	l := newLoop[testState](t)
	var s testState
	rec := &ctChan{}
	tx, err := calloop.NewBoundedChannel(l, 1, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := l.Disable(tx.Token()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(1); err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- tx.Send(2) }() // full and disabled: blocks until Enable
	ctDispatch0(t, l, &s, 2)
	if len(rec.msgs) != 0 {
		t.Fatalf("disabled channel delivered %v", rec.msgs)
	}
	select {
	case err := <-sent:
		t.Fatalf("Send on a full, disabled channel returned %v before any delivery", err)
	default:
	}
	if err := l.Enable(tx.Token()); err != nil {
		t.Fatal(err)
	}
	dispatchUntil(t, l, &s, func() bool { return len(rec.msgs) == 2 })
	if err := <-sent; err != nil {
		t.Fatalf("blocked Send after Enable = %v", err)
	}
	if fmt.Sprint(rec.msgs) != "[1 2]" {
		t.Fatalf("delivered %v, want [1 2]", rec.msgs)
	}
}
