package stream

// The state model of a connection.
//
// A connection's behaviour is decided by four fields: its main state
// (state), the state of its writing side (wr), the reasons it does not read
// (pause) and whether the peer has finished sending (eof). A fifth, fdReg,
// tracks the descriptor's registration with the loop. Everything else in
// Conn is pending work (a decision waiting for an event or a threshold:
// blocked, drainDue, closeAfterDrain, closeReq, offerDue), loop glue (busy,
// raised, dirty, removing) or bookkeeping of the running OnData call.
//
// Main state transitions (state):
//
//	from       to         when
//	---------  ---------  ------------------------------------------------
//	-          stDialing  Dial (connect started) or Wrap
//	stDialing  stOpen     the connect completed without error (Writable,
//	                      Error or Hangup, or at once), or Wrap's first
//	                      iteration; OnOpen follows
//	stDialing  stClosing  as above, with closeReq set (Close while opening
//	                      with output queued): the output is flushed, no OnOpen
//	stDialing  stDone     the dial failed or timed out, Abort, Close with
//	                      nothing queued
//	stOpen     stClosing  Close; EOF with no OnReadClosed (after closeAfterDrain
//	                      when a producer waited for OnDrain: the first
//	                      OnDrain that stays at or below HighWater); EOF while
//	                      wr is wrShutting
//	stOpen     stDone     Abort; a read, write or shutdown error; MaxInput
//	                      or MaxOutput exceeded; EOF while wr is wrShut;
//	                      wr reaching wrShut on a descriptor open for
//	                      writing only; the reader of such a descriptor gone
//	                      with nothing pending
//	stClosing  stLinger   output flushed, writing side shut down, the peer
//	                      has not finished sending (sockets only)
//	stClosing  stDone     output flushed and the peer at EOF, or not a
//	                      socket, or the shutdown failed; CloseTimeout (with
//	                      an error); a write error; Abort
//	stLinger   stDone     EOF or an error while discarding input; the linger
//	                      timer (CloseTimeout, default 5 s); Abort
//	stDone     stClosed   at the next callback bracket's end or the connection's
//	                      next event: the descriptor is closed, OnClose called
//	any        stClosed   the loop is closed (Unregister): no OnClose
//
// Writing side (wr): wrOpen -> wrShutting on CloseWrite (output still to
// flush, or the connection still opening); wrShutting -> wrShut once the
// output is flushed in stOpen (shutdown(SHUT_WR), or the close of a
// descriptor open for writing only); wrOpen -> wrShut when a graceful
// close lingers (its shutdown), or from the start for a descriptor open
// for reading only. Write fails unless wr is wrOpen (and closeReq unset).
//
// Reading (pause): the connection reads iff state is stOpen, pause is zero
// and eof is false. pauseUser is set and cleared by PauseReading and
// ResumeReading; pauseBackpressure is set when a write leaves more than
// HighWater queued and cleared when the output drains to LowWater (then
// kept input is offered again and OnDrain becomes due); pauseOffer is set
// by OfferAgain with more than LowWater queued and cleared at LowWater
// (then the kept input is offered). eof is set at the end of input (after
// which the kept input gets its final offer), or from the start for a
// descriptor open for writing only.
//
// Registration (fdReg): regNone -> regActive at Register; regActive ->
// regParked when a hang-up or error is reported while the connection
// neither reads nor writes (level-triggered, it would repeat); regParked ->
// regActive when sync wants an interest again; regActive -> regNone at
// Unregister.

// connState is a connection's main state.
type connState uint8

const (
	stDialing connState = iota // opening (connecting, or wrapped and before OnOpen); output is queued
	stOpen                     // open
	stClosing                  // graceful close: not reading, flushing output
	stLinger                   // graceful close: output flushed and shut down, discarding input until the peer's EOF
	stDone                     // closed for the user; descriptor closing at the next opportunity
	stClosed                   // descriptor closed, OnClose called (or the loop closed)
)

// wrState is the state of a connection's writing side.
type wrState uint8

const (
	wrOpen     wrState = iota // writes accepted
	wrShutting                // CloseWrite: flushing, then shut down
	wrShut                    // shut down (or no writing side)
)

// pauseReason is a set of reasons not to read.
type pauseReason uint8

const (
	pauseUser         pauseReason = 1 << iota // PauseReading
	pauseBackpressure                         // output above HighWater, until LowWater
	pauseOffer                                // OfferAgain waiting for LowWater
)

// regState is the registration of a connection's descriptor with the loop.
type regState uint8

const (
	regNone   regState = iota // not registered (before Register, after Unregister)
	regActive                 // registered with interest
	regParked                 // deregistered: a hang-up while neither reading nor writing
)
