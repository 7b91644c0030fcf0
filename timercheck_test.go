package calloop

import "fmt"

// checkTimers checks the invariants of the timer heaps, and returns the
// number of queued timers:
//   - every heap and run, dead entries included, is in (deadline, sequence)
//     order, and the pending entries are in sequence order;
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
		// The heap, the run and the pending entries, each in its order.
		parts := []struct {
			name string
			a    []heapEntry
		}{{"heap", hp.h}, {"run", hp.run[hp.rp:]}, {"pending", hp.pend}}
		for _, part := range parts {
			a := part.a
			for i := range a {
				e := &a[i]
				if e.id >= ts.n {
					return 0, fmt.Errorf("class %d: %s entry %d names timer %d, beyond the slab", c, part.name, i, e.id)
				}
				if e.seq == 0 || e.seq > ts.seq {
					return 0, fmt.Errorf("class %d: %s entry %d: sequence number %d, newest %d", c, part.name, i, e.seq, ts.seq)
				}
				if i > 0 {
					var p *heapEntry
					bad := false
					switch part.name {
					case "heap":
						p = &a[(i-1)/4]
						bad = e.before(p)
					case "run":
						p = &a[i-1]
						bad = e.before(p)
					default:
						p = &a[i-1]
						bad = e.seq <= p.seq
					}
					if bad {
						return 0, fmt.Errorf("class %d: %s order broken at %d: (%d,%d) after (%d,%d)", c, part.name, i, e.when, e.seq, p.when, p.seq)
					}
				}
				if !ts.isLive(e) {
					continue
				}
				live++
				t := ts.item(e.id)
				switch {
				case t.cls != c:
					return 0, fmt.Errorf("class %d: live %s entry %d of timer %d of class %d", c, part.name, i, e.id, t.cls)
				case t.when != e.when:
					return 0, fmt.Errorf("class %d: live %s entry %d: deadline %d, its timer's %d", c, part.name, i, e.when, t.when)
				case t.fn == nil || !t.enabled || t.due:
					return 0, fmt.Errorf("class %d: live %s entry %d of timer %d (allocated %v, enabled %v, due %v)", c, part.name, i, e.id, t.fn != nil, t.enabled, t.due)
				}
				if o, dup := owner[e.id]; dup {
					return 0, fmt.Errorf("timer %d has two live entries (classes %d and %d)", e.id, o, c)
				}
				owner[e.id] = c
			}
		}
		if live != hp.live {
			return 0, fmt.Errorf("class %d: %d live entries, live count %d", c, live, hp.live)
		}
		if dead := hp.size() - live; dead > max(live, compactMin) {
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

// prune settles hp and drops its dead entries that come first, so that its
// first entry is live or it is empty.
func (ts *timerSet[S]) prune(hp *timerHeap) {
	if hp.live == 0 {
		hp.h, hp.run, hp.rp, hp.pend = hp.h[:0], hp.run[:0], 0, hp.pend[:0]
		return
	}
	ts.top(hp)
}
