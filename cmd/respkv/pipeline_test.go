package main

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// pipelineGets sets key to a value of size bytes, then sends n GETs of it
// in one write and checks that all n replies arrive whole. The replies of
// one read batch pass the server's output high-water mark, so the server
// stops running commands part-way through its input and must be offered
// the rest again although no new data arrives.
func pipelineGets(t *testing.T, size, n int) {
	addr := startServer(t, Config{})
	rc := dialRaw(t, addr)
	val := bytes.Repeat([]byte{'v'}, size)
	set := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(size) + "\r\n" + string(val) + "\r\n"
	rc.send(set)
	rc.expect("OK")

	req := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), n)
	rc.send(string(req))
	head := "$" + strconv.Itoa(size) + "\r\n"
	buf := make([]byte, len(head)+size+2)
	for i := range n {
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := readFull(rc, buf); err != nil {
			t.Fatalf("reply %d of %d: %v", i+1, n, err)
		}
		if string(buf[:len(head)]) != head || !bytes.Equal(buf[len(head):len(head)+size], val) || string(buf[len(buf)-2:]) != "\r\n" {
			t.Fatalf("reply %d of %d: wrong bytes", i+1, n)
		}
	}
	// The connection still serves requests after the pipeline.
	rc.send("PING\r\n")
	rc.expect("PONG")
}

func readFull(rc *rawConn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := rc.r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestPipelineLargeReplies: 10 GETs of a 1 MB value sent in one write get
// 10 replies (they used to stop after 5, the connection left idle).
func TestPipelineLargeReplies(t *testing.T) { pipelineGets(t, 1<<20, 10) }

// TestPipelineManyReplies: 1000 GETs of a 10 KB value sent in one write get
// 1000 replies (they used to stop after about 420).
func TestPipelineManyReplies(t *testing.T) { pipelineGets(t, 10<<10, 1000) }
