package main

import "errors"

// serveStream is meant to be the echo server on calloop's stream package
// (listeners and buffered connections on a Loop).
//
// TODO(bench): the stream package (github.com/calloop-go/calloop/stream) did
// not exist when this harness was written. When it does, implement this
// variant with it and add "go-stream" to TCP_IMPLS in bench/compare.
func serveStream(addr string, ready func()) error {
	return errors.New("go-stream: the stream package is not available yet (see TODO in bench/cmd/echoserver/stream.go)")
}
