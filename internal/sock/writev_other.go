//go:build dragonfly || freebsd || netbsd

package sock

// writev writes a, then b if a went out whole: x/sys has no Writev here.
// It is used only for large writes, where a second call costs little.
func writev(fd int, a, b []byte) (int, error) {
	n, err := write(fd, a)
	if err != nil || n < len(a) || len(b) == 0 {
		return n, err
	}
	m, err := write(fd, b)
	if err != nil {
		return n, nil // a went out; the error will come back on the next write
	}
	return n + m, nil
}

// writevN writes the buffers one by one while each goes out whole.
func writevN(fd int, iov [][]byte) (int, error) {
	n := 0
	for i, b := range iov {
		if len(b) == 0 {
			continue
		}
		m, err := write(fd, b)
		if err != nil {
			if i == 0 || n == 0 {
				return n, err
			}
			return n, nil // some went out; the error will come back
		}
		n += m
		if m < len(b) {
			break
		}
	}
	return n, nil
}
