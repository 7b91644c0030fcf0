package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkTree verifies the tree's invariants and returns its items in order.
func checkTree(t *testing.T, x *znode, lo *zitem) []zitem {
	t.Helper()
	if x.leaf() {
		if x.n != len(x.items) {
			t.Fatalf("leaf n %d, %d items", x.n, len(x.items))
		}
		for i, it := range x.items {
			if lo != nil && zless(it, *lo) {
				t.Fatalf("item %v below its bound %v", it, *lo)
			}
			if i > 0 && !zless(x.items[i-1], it) {
				t.Fatalf("leaf out of order at %d", i)
			}
		}
		return x.items
	}
	if len(x.kids) != len(x.keys) || len(x.kids) != len(x.sizes) || len(x.kids) >= zInnerMax+1 {
		t.Fatalf("inner node shapes %d %d %d", len(x.kids), len(x.keys), len(x.sizes))
	}
	var all []zitem
	n := 0
	for i, k := range x.kids {
		b := lo
		if i > 0 {
			b = &x.keys[i]
		}
		items := checkTree(t, k, b)
		if k.n != x.sizes[i] {
			t.Fatalf("size %d recorded %d", k.n, x.sizes[i])
		}
		if i > 0 && len(all) > 0 && !zless(all[len(all)-1], x.keys[i]) {
			t.Fatalf("bound %v not above the previous child's items", x.keys[i])
		}
		all = append(all, items...)
		n += k.n
	}
	if n != x.n {
		t.Fatalf("inner n %d, children %d", x.n, n)
	}
	return all
}

func TestZtreeRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, seed))
		tr := newZtree()
		ref := map[string]float64{}
		for step := 0; step < 30000; step++ {
			m := fmt.Sprint("m", r.IntN(3000))
			s := float64(r.IntN(50))
			if old, ok := ref[m]; ok {
				if r.IntN(3) == 0 {
					tr.remove(zitem{m, old})
					delete(ref, m)
				} else {
					got := tr.remove(zitem{m, old})
					if got.member != m || got.score != old {
						t.Fatalf("remove returned %v", got)
					}
					tr.insert(zitem{m, s})
					ref[m] = s
				}
			} else {
				tr.insert(zitem{m, s})
				ref[m] = s
			}
			if step%2000 == 0 || step > 29900 {
				want := make([]zitem, 0, len(ref))
				for k, v := range ref {
					want = append(want, zitem{k, v})
				}
				slices.SortFunc(want, func(a, b zitem) int {
					if zless(a, b) {
						return -1
					}
					if zless(b, a) {
						return 1
					}
					return 0
				})
				got := checkTree(t, tr.root, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: tree differs", seed, step)
				}
				for i := 0; i < len(want); i += 37 {
					if tr.at(i) != want[i] || tr.rankOf(want[i]) != i {
						t.Fatalf("at/rank %d", i)
					}
				}
				var asc, desc []zitem
				tr.ascend(len(want)/3, func(it zitem) bool { asc = append(asc, it); return true })
				tr.descend(len(want)/2, func(it zitem) bool { desc = append(desc, it); return true })
				if !slices.Equal(asc, want[len(want)/3:]) {
					t.Fatal("ascend")
				}
				slices.Reverse(desc)
				if len(want) > 0 && !slices.Equal(desc, want[:len(want)/2+1]) {
					t.Fatal("descend")
				}
				cut := float64(r.IntN(50))
				n := tr.count(func(it zitem) bool { return it.score < cut })
				wn := 0
				for _, it := range want {
					if it.score < cut {
						wn++
					}
				}
				if n != wn {
					t.Fatalf("count %d, want %d", n, wn)
				}
			}
		}
		// Drain it in order, then from the top: every node merges away.
		for tr.len() > 0 {
			if r.IntN(2) == 0 {
				tr.remove(tr.at(0))
			} else {
				tr.remove(tr.at(tr.len() - 1))
			}
		}
		if !tr.root.leaf() || tr.root.n != 0 {
			t.Fatal("empty tree keeps inner nodes")
		}
	}
}

// TestZtreeSequentialFill: an ordered load leaves full leaves.
func TestZtreeSequentialFill(t *testing.T) {
	tr := newZtree()
	const n = 100000
	for i := 0; i < n; i++ {
		tr.insert(zitem{"m", float64(i)})
	}
	leaves := 0
	var walk func(x *znode)
	walk = func(x *znode) {
		if x.leaf() {
			leaves++
			return
		}
		for _, k := range x.kids {
			walk(k)
		}
	}
	walk(tr.root)
	if leaves > n/zLeafMax+2 {
		t.Fatalf("%d leaves for %d items", leaves, n)
	}
	checkTree(t, tr.root, nil)
}
