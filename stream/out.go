package stream

import "github.com/calloop-go/calloop/internal/sock"

// The output of a connection is a queue of bytes in two kinds of storage:
// the copy buffer out (what Write copies; out[outPos:] not yet written)
// and the slices queued by reference with WriteRef (refs[refHead:]). A
// reference sits at a position of the copy buffer: ref r goes out after
// out[:r.at] and before out[r.at:]. Without references the queue is the
// copy buffer alone, and the code paths are those of a plain buffer.

// outRef is a slice queued by reference.
type outRef struct {
	at      int    // position in out before which b goes out
	b       []byte // not yet written
	release func() // called once b is written or dropped
}

// refMin is the size below which WriteRef copies instead of referring.
const refMin = 4 << 10

// maxIov bounds the buffers of one writev.
const maxIov = 8

// pending returns the number of output bytes not yet written.
func (c *Conn[S]) pending() int { return len(c.out) - c.outPos + c.refBytes }

func (c *Conn[S]) hasRefs() bool { return c.refHead < len(c.refs) }

// appendOut copies p to the end of the queue, moving the unwritten bytes
// of out to its front first when that avoids growing it.
func (c *Conn[S]) appendOut(p []byte) {
	if c.outPos > 0 && len(c.out)+len(p) > cap(c.out) {
		n := copy(c.out, c.out[c.outPos:])
		for i := c.refHead; i < len(c.refs); i++ {
			c.refs[i].at -= c.outPos
		}
		c.out, c.outPos = c.out[:n], 0
	}
	c.out = append(c.out, p...)
}

// appendRef queues p by reference at the end of the queue.
func (c *Conn[S]) appendRef(p []byte, release func()) {
	c.refs = append(c.refs, outRef{at: len(c.out), b: p, release: release})
	c.refBytes += len(p)
}

// resetOut empties the drained copy buffer, keeping it if small.
func (c *Conn[S]) resetOut() {
	if cap(c.out) > keepBuf {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	c.outPos = 0
}

// writeQueued writes a queue holding references, at most maxIov buffers
// per system call, until it is empty or the socket takes less than
// offered (short), and consumes what was written.
func (c *Conn[S]) writeQueued() (n int, short bool, err error) {
	var buf [maxIov][]byte
	defer clear(buf[:])
	for c.pending() > 0 {
		iov := buf[:0]
		cur, offered, all := c.outPos, 0, true
		for i := c.refHead; i < len(c.refs); i++ {
			r := &c.refs[i]
			if r.at > cur {
				if len(iov) == maxIov {
					all = false
					break
				}
				iov = append(iov, c.out[cur:r.at])
				offered += r.at - cur
				cur = r.at
			}
			if len(iov) == maxIov {
				all = false
				break
			}
			iov = append(iov, r.b)
			offered += len(r.b)
		}
		if all && cur < len(c.out) && len(iov) < maxIov {
			iov = append(iov, c.out[cur:])
			offered += len(c.out) - cur
		}
		m, err := sock.WritevN(c.fd, iov)
		c.advance(m)
		n += m
		if err != nil || m < offered {
			return n, true, err
		}
	}
	return n, false, nil
}

// advance consumes n written bytes from the head of the queue and releases
// the references written in full.
func (c *Conn[S]) advance(n int) {
	for n > 0 && c.refHead < len(c.refs) {
		r := &c.refs[c.refHead]
		if c.outPos < r.at {
			k := min(n, r.at-c.outPos)
			c.outPos += k
			n -= k
			continue
		}
		k := min(n, len(r.b))
		r.b = r.b[k:]
		c.refBytes -= k
		n -= k
		if len(r.b) == 0 {
			c.popRef()
		}
	}
	c.outPos += n
	if c.refHead == len(c.refs) && c.refHead > 0 {
		c.refs, c.refHead = c.refs[:0], 0
	}
}

// popRef drops the reference at the head of the queue and calls its
// release function.
func (c *Conn[S]) popRef() {
	r := c.refs[c.refHead]
	c.refs[c.refHead] = outRef{}
	c.refHead++
	c.refBytes -= len(r.b)
	if r.release != nil {
		r.release()
	}
}

// dropOut drops the whole queue, releasing its references.
func (c *Conn[S]) dropOut() {
	c.out, c.outPos = nil, 0
	for c.refHead < len(c.refs) {
		c.popRef()
	}
	c.refs, c.refHead, c.refBytes = nil, 0, 0
}
