package calloop

import "fmt"

// checkTimers checks the invariants of the timer heaps, and returns the
// number of queued timers:
//   - every heap, dead entries included, is in (deadline, sequence) order;
//   - each heap's live count is its number of live entries, and its dead
//     entries number at most max(live, compactMin);
//   - a live entry is in its timer's class, carries its deadline, and its
//     timer is allocated, enabled and not due;
//   - a timer is queued (seq != 0) if and only if it has one live entry.
func checkTimers[S any](ts *timerSet[S]) (int, error) {
	owner := map[uint32]uint8{} // timer id -> the class of its live entry
	for c := range uint8(nClasses) {
		hp := ts.hp(c)
		live := 0
		for i := range hp.h {
			e := &hp.h[i]
			if e.id >= ts.n {
				return 0, fmt.Errorf("class %d: entry %d names timer %d, beyond the slab", c, i, e.id)
			}
			if i > 0 {
				if p := &hp.h[(i-1)/4]; e.before(p) {
					return 0, fmt.Errorf("class %d: heap order broken at %d: (%d,%d) under (%d,%d)", c, i, e.when, e.seq, p.when, p.seq)
				}
			}
			if !ts.isLive(e) {
				continue
			}
			live++
			t := ts.item(e.id)
			switch {
			case t.cls != c:
				return 0, fmt.Errorf("class %d: live entry %d of timer %d of class %d", c, i, e.id, t.cls)
			case t.when != e.when:
				return 0, fmt.Errorf("class %d: live entry %d: deadline %d, its timer's %d", c, i, e.when, t.when)
			case t.fn == nil || !t.enabled || t.due:
				return 0, fmt.Errorf("class %d: live entry %d of timer %d (allocated %v, enabled %v, due %v)", c, i, e.id, t.fn != nil, t.enabled, t.due)
			}
			if o, dup := owner[e.id]; dup {
				return 0, fmt.Errorf("timer %d has live entries in classes %d and %d", e.id, o, c)
			}
			owner[e.id] = c
		}
		if live != hp.live {
			return 0, fmt.Errorf("class %d: %d live entries, live count %d", c, live, hp.live)
		}
		if dead := len(hp.h) - live; dead > max(live, compactMin) {
			return 0, fmt.Errorf("class %d: %d dead entries for %d live ones", c, dead, live)
		}
	}
	queued, nprio := 0, 0
	for id := range ts.n {
		t := ts.item(id)
		_, has := owner[id]
		if (t.seq != 0) != has {
			return 0, fmt.Errorf("timer %d: seq %d, live entry %v", id, t.seq, has)
		}
		if has {
			queued++
		}
		if t.fn == nil && (t.seq != 0 || t.due || t.cls != clsDefault) {
			return 0, fmt.Errorf("released timer %d: seq %d, due %v, class %d", id, t.seq, t.due, t.cls)
		}
		if t.fn != nil && t.cls != clsDefault {
			nprio++
		}
	}
	if nprio != ts.nprio {
		return 0, fmt.Errorf("%d timers outside the default class, nprio %d", nprio, ts.nprio)
	}
	if queued != ts.len() {
		return 0, fmt.Errorf("%d queued timers, len %d", queued, ts.len())
	}
	return queued, nil
}

// prune pops the dead entries on top of hp, so that its top is live or it
// is empty.
func (ts *timerSet[S]) prune(hp *timerHeap) {
	if hp.live == 0 {
		hp.h = hp.h[:0]
		return
	}
	ts.top(hp)
}
