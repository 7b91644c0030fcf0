package calloop

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The timer model test: a byte string is decoded into operations on a real
// loop's timers (add and reset, at an instant or after a delay; cancel,
// disable, enable, advance the clock, dispatch), and timer callbacks that
// re-arm with Again or At or drop their timer and act on other timers. A reference model (a plain list searched for
// the smallest (deadline, arming order) at every step) predicts each
// Dispatch's firings and each operation's result; the test compares them.
//
// Time is made deterministic by moving the loop's clock origin (l.base):
// moving it back by d advances the loop's clock by d. Model time is a whole
// number of hours ("grid" instants); the loop's clock sits half an hour past
// the model's current hour, plus the real time elapsed since the test began
// (a few milliseconds, always under half an hour). So a timer set at a grid
// instant g is due exactly when g <= the model's hour, and a timer re-armed
// with Again(k hours) in a dispatch at hour h is due from hour h+k on, after
// every grid timer of that hour (its deadline has the extra half hour and the
// real time). Each clock reading that relative deadlines start from is a
// new epoch (see tick), so relative deadlines order by (hour, epoch), and
// by arming order within one dispatch, whose Again re-arms share a reading.

const (
	fzHour    = int64(time.Hour)
	fzSlots   = 16  // the operations address timers through 16 slots
	fzMaxOps  = 400 // operations decoded from one input, at most
	fzMaxFire = 3   // script steps per timer; later firings drop it
)

type fzState struct{}

// fzTimer is the model of one timer, named by its creation number.
type fzTimer struct {
	id      int
	live    bool
	enabled bool
	never   bool  // re-armed beyond any deadline: out of the heap
	grid    int64 // deadline: this hour, plus half an hour and more if rel
	rel     bool  // set by Again: after the grid timers of its hour
	epoch   int   // rel: the clock reading it started from (see fzHarness.tick)
	seq     uint64
	fires   int
}

// before is the order in which due timers fire.
func (t *fzTimer) before(o *fzTimer) bool {
	if t.grid != o.grid {
		return t.grid < o.grid
	}
	if t.rel != o.rel {
		return !t.rel
	}
	if t.rel && t.epoch != o.epoch {
		return t.epoch < o.epoch
	}
	return t.seq < o.seq
}

// fzStep is one firing's behaviour, decoded from two bytes: a (the action
// and its argument) and b (a side operation on a slot).
type fzStep struct{ a, b byte }

type fzHarness struct {
	tb    testing.TB
	l     *Loop[fzState]
	vnow  int64 // the model's current hour
	nDisp int
	epoch int      // clock readings that relative deadlines start from
	trace []string // the operations so far, for failure messages

	// The model.
	m        []*fzTimer
	mscripts [][]fzStep   // by timer id
	mslot    [fzSlots]int // timer id + 1, 0: empty
	mseq     uint64
	want     []string

	// The loop's side.
	rscripts [][]fzStep // by timer id, in the order the loop's side made them
	rslot    [fzSlots]Token
	rfires   []int
	got      []string
}

func newFzHarness(tb testing.TB) *fzHarness {
	l, err := New[fzState]()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	h := &fzHarness{tb: tb, l: l}
	h.shift(time.Duration(fzHour / 2))
	return h
}

// tick starts a new epoch: it moves the loop's clock on by a millisecond
// before a clock reading that relative deadlines start from (a Dispatch, an
// AddTimer, a ResetTimer), so that deadlines from different readings never
// tie, whatever the clock's resolution.
func (h *fzHarness) tick() {
	h.epoch++
	h.shift(time.Millisecond)
}

// shift advances the loop's clock by d.
func (h *fzHarness) shift(d time.Duration) { h.l.base = h.l.base.Add(-d) }

// at is the absolute time of grid instant g in the loop's current frame.
func (h *fzHarness) at(g int64) time.Time { return h.l.base.Add(time.Duration(g * fzHour)) }

// grid returns the grid instant off hours from now, clamped at zero.
func (h *fzHarness) grid(off int) int64 { return max(0, h.vnow+int64(off)) }

func (h *fzHarness) fail(format string, args ...any) {
	h.tb.Helper()
	h.tb.Fatalf("%s\noperations:\n  %s", fmt.Sprintf(format, args...), strings.Join(h.trace, "\n  "))
}

// check compares the model's log with the loop's, and the heap with the
// model's set of pending timers.
func (h *fzHarness) check() {
	h.tb.Helper()
	if strings.Join(h.want, "\n") != strings.Join(h.got, "\n") {
		h.fail("log mismatch\nwant:\n  %s\ngot:\n  %s", strings.Join(h.want, "\n  "), strings.Join(h.got, "\n  "))
	}
	h.want, h.got = h.want[:0], h.got[:0]
	ts := &h.l.timers
	pending := 0
	for _, t := range h.m {
		if t.live && t.enabled && !t.never {
			pending++
		}
	}
	n, err := checkTimers(ts)
	if err != nil {
		h.fail("timer heaps: %v", err)
	}
	if n != pending {
		h.fail("heaps have %d timers, the model %d", n, pending)
	}
}

// describe renders a deadline, as nanoseconds since the origin, in grid terms.
func describe(when int64) string {
	switch r := when % fzHour; {
	case r == 0:
		return fmt.Sprint(when / fzHour)
	case r >= fzHour/2:
		return fmt.Sprintf("%d+", when/fzHour)
	default:
		return fmt.Sprintf("bad(%v)", time.Duration(when))
	}
}

func (t *fzTimer) describe() string {
	if t.rel {
		return fmt.Sprintf("%d+", t.grid)
	}
	return fmt.Sprint(t.grid)
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidToken):
		return "invalid"
	}
	return err.Error()
}

// Operations. Each takes a side: sideModel, sideLoop or both. Outside a
// dispatch both apply it at once; inside one, the model's simulated dispatch
// applies its callbacks' operations to the model, and the loop's real
// callbacks later apply them to the loop.

type side uint8

const (
	sideModel side = 1 << iota
	sideLoop
	sideBoth = sideModel | sideLoop
)

// add adds a timer at grid instant g, in slot.
func (h *fzHarness) add(w side, slot int, g int64, script []fzStep) {
	h.addTimer(w, slot, g, -1, script)
}

// addAfter adds a timer with AddTimer(k hours), in slot; only outside a
// dispatch (see addTimer).
func (h *fzHarness) addAfter(slot int, k int64, script []fzStep) {
	h.tick()
	h.addTimer(sideBoth, slot, h.vnow+k, k, script)
}

// addTimer adds a timer at grid instant g, or k >= 0 hours after the loop's
// clock. A relative deadline starts from the clock reading at the call,
// which outside a dispatch is an epoch of its own (see tick); inside a
// dispatch it would race with the iteration's own reading (a callback's
// AddTimer could tie with, or follow, that dispatch's Again re-arms), so
// callbacks use absolute deadlines.
func (h *fzHarness) addTimer(w side, slot int, g, k int64, script []fzStep) {
	if w&sideModel != 0 {
		id := len(h.m)
		h.mscripts = append(h.mscripts, script)
		h.mseq++
		t := &fzTimer{id: id, live: true, enabled: true, grid: g, seq: h.mseq}
		if k >= 0 {
			t.rel, t.epoch = true, h.epoch
		}
		h.m = append(h.m, t)
		h.mslot[slot] = id + 1
		h.want = append(h.want, fmt.Sprintf("add %d as timer %d", slot, id))
	}
	if w&sideLoop != 0 {
		id := len(h.rscripts)
		h.rscripts = append(h.rscripts, script)
		h.rfires = append(h.rfires, 0)
		var tok Token
		var err error
		if k >= 0 {
			tok, err = h.l.AddTimer(time.Duration(k)*time.Hour, h.callback(id))
		} else {
			tok, err = h.l.AddTimerAt(h.at(g), h.callback(id))
		}
		if err != nil {
			h.fail("AddTimer: %v", err)
		}
		h.rslot[slot] = tok
		h.got = append(h.got, fmt.Sprintf("add %d as timer %d", slot, id))
	}
}

// target returns the model timer in slot, or nil if it is gone.
func (h *fzHarness) target(slot int) *fzTimer {
	if id := h.mslot[slot]; id > 0 && h.m[id-1].live {
		return h.m[id-1]
	}
	return nil
}

func (h *fzHarness) arm(t *fzTimer) {
	h.mseq++
	t.seq = h.mseq
}

func (h *fzHarness) cancel(w side, slot int) {
	if w&sideModel != 0 {
		res := "invalid"
		if t := h.target(slot); t != nil {
			t.live, res = false, "ok"
		}
		h.want = append(h.want, fmt.Sprintf("cancel %d: %s", slot, res))
	}
	if w&sideLoop != 0 {
		h.got = append(h.got, fmt.Sprintf("cancel %d: %s", slot, result(h.l.Remove(h.rslot[slot]))))
	}
}

// reset moves the timer in slot to grid instant g.
func (h *fzHarness) reset(w side, slot int, g int64) {
	if w&sideModel != 0 {
		res := "invalid"
		if t := h.target(slot); t != nil {
			t.grid, t.rel, t.never, res = g, false, false, "ok"
			if t.enabled {
				h.arm(t)
			}
		}
		h.want = append(h.want, fmt.Sprintf("reset %d to %d: %s", slot, g, res))
	}
	if w&sideLoop != 0 {
		h.got = append(h.got, fmt.Sprintf("reset %d to %d: %s", slot, g, result(h.l.ResetTimerAt(h.rslot[slot], h.at(g)))))
	}
}

// resetAfter moves the timer in slot to k hours after the loop's clock, with
// ResetTimer; only outside a dispatch (see addTimer).
func (h *fzHarness) resetAfter(slot int, k int64) {
	h.tick()
	res := "invalid"
	if t := h.target(slot); t != nil {
		t.grid, t.rel, t.epoch, t.never, res = h.vnow+k, true, h.epoch, false, "ok"
		if t.enabled {
			h.arm(t)
		}
	}
	h.want = append(h.want, fmt.Sprintf("reset %d by %dh: %s", slot, k, res))
	h.got = append(h.got, fmt.Sprintf("reset %d by %dh: %s", slot, k, result(h.l.ResetTimer(h.rslot[slot], time.Duration(k)*time.Hour))))
}

func (h *fzHarness) disable(w side, slot int) {
	if w&sideModel != 0 {
		res := "invalid"
		if t := h.target(slot); t != nil {
			t.enabled, res = false, "ok"
		}
		h.want = append(h.want, fmt.Sprintf("disable %d: %s", slot, res))
	}
	if w&sideLoop != 0 {
		h.got = append(h.got, fmt.Sprintf("disable %d: %s", slot, result(h.l.Disable(h.rslot[slot]))))
	}
}

func (h *fzHarness) enable(w side, slot int) {
	if w&sideModel != 0 {
		res := "invalid"
		if t := h.target(slot); t != nil {
			if !t.enabled {
				t.enabled = true
				h.arm(t)
			}
			res = "ok"
		}
		h.want = append(h.want, fmt.Sprintf("enable %d: %s", slot, res))
	}
	if w&sideLoop != 0 {
		h.got = append(h.got, fmt.Sprintf("enable %d: %s", slot, result(h.l.Enable(h.rslot[slot]))))
	}
}

// sideOp is a step's operation on a slot (or none), for one side.
func (h *fzHarness) sideOp(w side, st fzStep) {
	slot := int(st.b>>3) % fzSlots
	g := h.grid(int(st.a>>4)%4 - 1)
	switch st.b % 8 {
	case 3:
		h.cancel(w, slot)
	case 4:
		h.reset(w, slot, g)
	case 5:
		h.disable(w, slot)
	case 6:
		h.enable(w, slot)
	case 7:
		// The new timer's script has no side operations: no chain reaction.
		h.add(w, slot, g, []fzStep{{st.a ^ 0x35, st.b &^ 7}})
	}
}

func step(script []fzStep, k int) (fzStep, bool) {
	if k < len(script) && k < fzMaxFire {
		return script[k], true
	}
	return fzStep{}, false
}

// callback is the loop's side of timer id.
func (h *fzHarness) callback(id int) func(*fzState, time.Time) TimerAction {
	return func(_ *fzState, deadline time.Time) TimerAction {
		h.got = append(h.got, fmt.Sprintf("fire %d at %s", id, describe(int64(deadline.Sub(h.l.base)))))
		k := h.rfires[id]
		h.rfires[id]++
		st, ok := step(h.rscripts[id], k)
		if !ok {
			return Drop()
		}
		h.sideOp(sideLoop, st)
		switch st.a % 4 {
		case 1:
			return Again(time.Duration(int64(st.a>>2)%3) * time.Hour)
		case 2:
			return At(h.at(h.grid(int(st.a>>2)%4 - 2)))
		case 3:
			return Again(math.MaxInt64)
		}
		return Drop()
	}
}

// fire is the model's side of a due timer's callback.
func (h *fzHarness) fire(t *fzTimer) {
	h.want = append(h.want, fmt.Sprintf("fire %d at %s", t.id, t.describe()))
	k := t.fires
	t.fires++
	st, ok := step(h.mscripts[t.id], k)
	if !ok {
		t.live = false
		return
	}
	h.sideOp(sideModel, st)
	if !t.live {
		return // the callback removed its own timer
	}
	switch st.a % 4 {
	case 1:
		t.grid, t.rel, t.never, t.epoch = h.vnow+int64(st.a>>2)%3, true, false, h.epoch
	case 2:
		t.grid, t.rel, t.never = h.grid(int(st.a>>2)%4-2), false, false
	case 3:
		t.never = true
		return
	default:
		t.live = false
		return
	}
	if t.enabled {
		h.arm(t)
	}
}

// dispatch runs one iteration in the model, then in the loop.
func (h *fzHarness) dispatch() {
	h.nDisp++
	h.tick()
	h.want = append(h.want, fmt.Sprintf("dispatch %d at %d", h.nDisp, h.vnow))
	limit := h.mseq // timers armed from here on wait for the next iteration
	for {
		var next *fzTimer
		for _, t := range h.m {
			if t.live && t.enabled && !t.never && t.seq <= limit && t.grid <= h.vnow &&
				(next == nil || t.before(next)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		h.fire(next)
	}

	h.got = append(h.got, fmt.Sprintf("dispatch %d at %d", h.nDisp, h.vnow))
	var s fzState
	if err := h.l.Dispatch(0, &s); err != nil {
		h.fail("Dispatch: %v", err)
	}
}

// run decodes data into operations and checks each against the model.
func (h *fzHarness) run(data []byte) {
	pos := 0
	next := func() (byte, bool) {
		if pos >= len(data) {
			return 0, false
		}
		pos++
		return data[pos-1], true
	}
	for n := 0; n < fzMaxOps; n++ {
		op, ok := next()
		if !ok {
			break
		}
		slot := int(op>>3) % fzSlots
		switch op % 8 {
		case 0, 1:
			g, ok := next()
			if !ok {
				return
			}
			ln, _ := next()
			script := make([]fzStep, 0, ln%4)
			for range ln % 4 {
				a, _ := next()
				b, _ := next()
				script = append(script, fzStep{a, b})
			}
			if op%8 == 1 {
				h.trace = append(h.trace, fmt.Sprintf("add slot %d after %dh script %v", slot, g%3, script))
				h.addAfter(slot, int64(g%3), script)
				break
			}
			h.trace = append(h.trace, fmt.Sprintf("add slot %d at +%d script %v", slot, int(g%6)-2, script))
			h.add(sideBoth, slot, h.grid(int(g%6)-2), script)
		case 2:
			h.trace = append(h.trace, fmt.Sprintf("cancel slot %d", slot))
			h.cancel(sideBoth, slot)
		case 3:
			g, _ := next()
			if g&0x80 != 0 {
				h.trace = append(h.trace, fmt.Sprintf("reset slot %d by %dh", slot, g%3))
				h.resetAfter(slot, int64(g%3))
				break
			}
			h.trace = append(h.trace, fmt.Sprintf("reset slot %d to +%d", slot, int(g%6)-2))
			h.reset(sideBoth, slot, h.grid(int(g%6)-2))
		case 4:
			h.trace = append(h.trace, fmt.Sprintf("disable slot %d", slot))
			h.disable(sideBoth, slot)
		case 5:
			h.trace = append(h.trace, fmt.Sprintf("enable slot %d", slot))
			h.enable(sideBoth, slot)
		case 6:
			d := 1 + int64(op>>3)%3
			h.trace = append(h.trace, fmt.Sprintf("advance %d", d))
			h.vnow += d
			h.shift(time.Duration(d * fzHour))
		case 7:
			h.trace = append(h.trace, "dispatch")
			h.dispatch()
		}
		h.check()
	}
	// Drain: far in the future every timer that can fire has fired.
	h.trace = append(h.trace, "drain")
	h.vnow += 100
	h.shift(time.Duration(100 * fzHour))
	for range 3*fzMaxFire + 2 {
		h.dispatch()
		h.check()
	}
}

// fzSeeds are inputs that exercise the interesting orders; plain go test
// runs them.
var fzSeeds = [][]byte{
	{},
	// Three timers set out of order, one dispatch.
	{0, 3, 0, 8, 1, 0, 16, 2, 0, 7},
	// Equal deadlines fire in the order they were set; a reset goes last.
	{0, 2, 0, 8, 2, 0, 16, 2, 0, 3, 2, 7},
	// A timer re-armed in the past by At, while a later one is also due:
	// the later one still fires in this iteration, the re-armed one waits.
	{0, 0, 1, 2, 0, 8, 3, 0, 6, 7, 7},
	// Again(0) and Again(1h): due in the next dispatch, and an hour later.
	{0, 2, 2, 1, 0, 1, 0, 7, 7, 6, 7, 7},
	// Disable, advance past the deadline, enable: fires in the next dispatch.
	{0, 2, 0, 4, 6, 7, 5, 7, 7},
	// Callbacks cancel, reset, disable, enable and add other timers.
	{0, 2, 0, 8, 2, 0, 16, 2, 0, 24, 3, 0,
		32, 2, 3, 1, 11, 1, 20, 0, 29, // timer 4: cancel 1, reset 2, disable 3
		40, 2, 2, 1, 30, 0, 55, // timer 5: enable 3, add into slot 6
		6, 7, 7, 7, 7},
	// A callback disables its own timer and re-arms it: the timer keeps the
	// new deadline and fires once enabled.
	{0, 2, 1, 2, 5, 7, 7, 5, 7},
	// AddTimer and ResetTimer with delays, between Again re-arms.
	{1, 0, 1, 1, 0, 9, 1, 0, 17, 0, 0, 7, 6, 11, 0x81, 7, 7},
	// Operations on stale tokens and empty slots.
	{0, 2, 0, 2, 2, 3, 1, 4, 5, 7, 0x12},
	// Never: Again with an unrepresentable delay, then a reset brings it back.
	{0, 2, 1, 3, 0, 7, 7, 3, 2, 7},
	// In one dispatch: timer 21 is re-armed into the past (waits), timer 18
	// too, then 22's callback resets 21 again: next time 18 fires before 21.
	[]byte("00000000000000000000020002001000000000000000000000002000001002209120000001002\xf6222h0220002C0022A\xec00700"),
}

func FuzzTimers(f *testing.F) {
	for _, s := range fzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		newFzHarness(t).run(data)
	})
}

// TestTimersModel runs a few thousand random operations (seeded, so a
// failure is reproducible) through the model test.
func TestTimersModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		data := make([]byte, 300)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { newFzHarness(t).run(data) })
	}
}
