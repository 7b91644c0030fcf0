//go:build linux

package calloop_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/calloop-go/calloop"
)

// mNode is the model of one box source: what the loop should believe.
type mNode struct {
	b      *box
	tok    calloop.Token
	parent int // index in nodes, -1: none
	held   bool
	alive  bool
}

// TestChildrenModel drives random trees of sources through adoption,
// Disable, Enable and Remove, and checks after every step that each source
// is registered exactly when the model says it is active (neither it nor an
// ancestor disabled), that Parent agrees with the model, that removed
// sources are gone with their descendants, and that Adopt refuses exactly
// the cycles and second parents.
func TestChildrenModel(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		l := newLoop[int](t)
		var nodes []*mNode
		live := func() []int {
			var ix []int
			for i, n := range nodes {
				if n.alive {
					ix = append(ix, i)
				}
			}
			return ix
		}
		var active func(i int) bool
		active = func(i int) bool {
			n := nodes[i]
			return n.alive && !n.held && (n.parent < 0 || active(n.parent))
		}
		isAncestor := func(a, of int) bool { // a is of or an ancestor of of
			for x := of; x >= 0; x = nodes[x].parent {
				if x == a {
					return true
				}
			}
			return false
		}
		var kill func(i int)
		kill = func(i int) {
			nodes[i].alive = false
			for j, n := range nodes {
				if n.alive && n.parent == i {
					kill(j)
				}
			}
		}
		for step := range 300 {
			ix := live()
			op := rng.IntN(6)
			if len(ix) == 0 {
				op = 0
			}
			switch op {
			case 0: // add a box, top-level or as a child
				b := &box{}
				tok, err := l.AddSource(b)
				must(t, err)
				n := &mNode{b: b, tok: tok, parent: -1, alive: true}
				nodes = append(nodes, n)
				if len(ix) > 0 && rng.IntN(2) == 0 {
					p := ix[rng.IntN(len(ix))]
					must(t, nodes[p].b.reg.Adopt(tok))
					n.parent = p
				}
			case 1: // adopt an existing source
				p, c := ix[rng.IntN(len(ix))], ix[rng.IntN(len(ix))]
				err := nodes[p].b.reg.Adopt(nodes[c].tok)
				want := nodes[c].parent < 0 && !isAncestor(c, p)
				if (err == nil) != want {
					t.Fatalf("seed %d step %d: Adopt(%d into %d) = %v, model says ok=%v", seed, step, c, p, err, want)
				}
				if err == nil {
					nodes[c].parent = p
				}
			case 2:
				i := ix[rng.IntN(len(ix))]
				must(t, l.Disable(nodes[i].tok))
				nodes[i].held = true
			case 3:
				i := ix[rng.IntN(len(ix))]
				must(t, l.Enable(nodes[i].tok))
				nodes[i].held = false
			case 4, 5:
				if op == 5 && rng.IntN(3) != 0 {
					continue
				}
				i := ix[rng.IntN(len(ix))]
				must(t, l.Remove(nodes[i].tok))
				kill(i)
			}
			for i, n := range nodes {
				registered := n.b.regs - n.b.unregs
				if !n.alive {
					if registered != 0 {
						t.Fatalf("seed %d step %d: removed node %d still registered (%d/%d)", seed, step, i, n.b.regs, n.b.unregs)
					}
					if err := l.Disable(n.tok); !errors.Is(err, calloop.ErrInvalidToken) {
						t.Fatalf("seed %d step %d: removed node %d: Disable = %v", seed, step, i, err)
					}
					continue
				}
				if want := active(i); (registered == 1) != want || registered < 0 || registered > 1 {
					t.Fatalf("seed %d step %d: node %d registered %d/%d, model active=%v", seed, step, i, n.b.regs, n.b.unregs, want)
				}
				pt, ok, err := l.Parent(n.tok)
				must(t, err)
				if ok != (n.parent >= 0) || ok && pt != nodes[n.parent].tok {
					t.Fatalf("seed %d step %d: Parent(%d) = %v %v, model %d", seed, step, i, pt, ok, n.parent)
				}
			}
		}
		l.Close()
	}
}
