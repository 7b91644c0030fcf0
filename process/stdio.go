package process

import (
	"os"

	"github.com/calloop-go/calloop/internal/proc"
)

// stdio holds the descriptors of the child's standard streams while Start
// sets them up: the child's ends (given to the child, then closed here) and
// the parent's ends (handed to stream.Wrap). closeAll closes what was not
// handed over.
type stdio struct {
	child  [3]*os.File // the files the child gets
	owned  [3]bool     // child[i] was opened here and must be closed
	parent [3]int      // the parent's pipe ends, -1 when none
}

func (st *stdio) setup(handlers [3]bool, files [3]*os.File) ([]*os.File, error) {
	st.parent = [3]int{-1, -1, -1}
	for i := range 3 {
		switch {
		case handlers[i]:
			r, w, err := proc.Pipe()
			if err != nil {
				return nil, err
			}
			if i == 0 {
				st.child[i], st.parent[i] = os.NewFile(uintptr(r), "|0"), w
			} else {
				st.child[i], st.parent[i] = os.NewFile(uintptr(w), "|"+string(rune('0'+i))), r
			}
			st.owned[i] = true
		case files[i] != nil:
			st.child[i] = files[i]
		default:
			flag := os.O_WRONLY
			if i == 0 {
				flag = os.O_RDONLY
			}
			f, err := os.OpenFile(os.DevNull, flag, 0)
			if err != nil {
				return nil, err
			}
			st.child[i], st.owned[i] = f, true
		}
	}
	return st.child[:], nil
}

// closeChildEnds closes the child's ends opened here, once the child has
// its copies.
func (st *stdio) closeChildEnds() {
	for i, f := range st.child {
		if f != nil && st.owned[i] {
			f.Close()
		}
		st.child[i], st.owned[i] = nil, false
	}
}

func (st *stdio) closeAll() {
	st.closeChildEnds()
	for i, fd := range st.parent {
		if fd >= 0 {
			proc.Close(fd)
			st.parent[i] = -1
		}
	}
}
